"""Planning and serving a study: the plan (`automl plan`), the expected epochs, the dashboard.

The trial table and the best trial are in automl/tables.py, the pictures in automl/plots.py.
`make_plan` returns plain data; the CLI prints it or dumps it (JSON).
"""

from __future__ import annotations

import math
from pathlib import Path

import optuna

from automl.pareto import NO_PRUNING, is_multi, resolve_objectives
from automl.policy import resolve_policy
from automl.space import describe_space, load_train_schema, space_for
from automl.study import DEFAULT_PRUNER, build_pruner, build_sampler, pruner_rungs
from automl.trend_pruner import PROMOTED_SHARE, rungs

__all__ = ["expected_epochs", "make_plan", "serve_dashboard", "seconds_per_epoch"]


def expected_epochs(settings: dict, max_epochs: int) -> float:
    """Expected epochs per trial under the pruner (asynchronous successive halving estimate).

    The curve pruner stops only trials that cannot reach the best completed one, which depends
    on the curves: its estimate is the upper bound, max_epochs. Successive halving lets 1 / factor
    of the trials at a rung go on; trend halving keeps the best by either of two rankings, a
    measured PROMOTED_SHARE / factor (automl/trend_pruner.py).
    """
    pruner = str(settings.get("pruner") or DEFAULT_PRUNER)
    if pruner in ("none", "curve") or is_multi(settings):
        return float(max_epochs)
    if pruner == "median":
        return 0.6 * max_epochs
    first, factor = pruner_rungs(settings, max_epochs)
    share = min(1.0, (PROMOTED_SHARE if pruner == "trend_halving" else 1.0) / factor)
    expected, reach, prev = 0.0, 1.0, 0
    for rung in rungs(first, factor, max_epochs):
        expected += reach * (rung - prev)
        prev, reach = rung, reach * share
    return expected + reach * (max_epochs - prev)


def make_plan(spec: dict, request: str | None = None, explicit: str | None = None,
              repo_root: Path | None = None, seconds_per_epoch: float | None = None) -> dict:
    """What `depth_net train` would do with this spec, without training."""
    from automl.run import study_context

    decision = resolve_policy(request=request, explicit=explicit, spec=spec, repo_root=repo_root)
    ctx = study_context(spec)
    settings = ctx.settings
    if decision.policy == "automl":
        from automl.objective import check_trial_setup

        check_trial_setup(spec, settings)
    max_epochs = int(settings["max_epochs"])
    objectives = resolve_objectives(settings)
    n_trials = int(settings.get("n_trials") or 20)
    per_trial = expected_epochs(settings, max_epochs)
    workers = int(settings.get("n_workers") or 1)
    plan = {
        "policy": decision.policy,
        "rule": decision.rule,
        "search_space": describe_space(space_for(spec, settings, load_train_schema(repo_root))),
        "sampler": type(build_sampler(settings)).__name__,
        "pruner": type(build_pruner(settings)).__name__ if not is_multi(settings) else f"none ({NO_PRUNING})",
        "metric": objectives[0].metric,
        "direction": objectives[0].direction,
        "objectives": [{"metric": o.metric, "direction": o.direction} for o in objectives],
        "budget": {"n_trials": n_trials, "max_epochs": max_epochs, "timeout_s": settings.get("timeout"),
                   "seed": settings.get("seed")},
        "storage": ctx.storage,
        "study": ctx.name,
        "study_dir": str(ctx.study_dir),
        "workers": {"n_workers": workers, "trials_per_gpu": int(settings.get("trials_per_gpu") or 1)},
        "estimate": {"epochs_upper_bound": n_trials * max_epochs,
                     "epochs_expected": round(n_trials * per_trial, 1),
                     "seconds": None if seconds_per_epoch is None
                     else round(n_trials * per_trial * seconds_per_epoch / workers, 1)},
    }
    if decision.policy == "direct":
        epochs = int((spec.get("train") or {}).get("num_epochs") or 1)
        plan["estimate"] = {"epochs_upper_bound": epochs, "epochs_expected": float(epochs),
                            "seconds": None if seconds_per_epoch is None else round(epochs * seconds_per_epoch, 1)}
    return plan


def serve_dashboard(storage: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Start optuna-dashboard on the study's storage (blocks until interrupted)."""
    from optuna_dashboard import run_server

    from automl.study import build_storage

    print(f"optuna-dashboard on http://{host}:{port} (storage {storage}); Ctrl-C to stop")
    run_server(build_storage(storage, {}), host=host, port=port)


def seconds_per_epoch(study: optuna.Study) -> float | None:
    """Measured seconds per epoch from finished trials (None before any)."""
    rates = []
    for t in study.get_trials(deepcopy=False):
        epochs = len(t.intermediate_values)
        if t.datetime_complete and t.datetime_start and epochs:
            rates.append((t.datetime_complete - t.datetime_start).total_seconds() / epochs)
    return sum(rates) / len(rates) if rates and not math.isnan(sum(rates)) else None
