"""Inspecting a study: the trial table, the best trial, plots, the dashboard, the plan.

Pure where it can be: `trial_rows`, `best_summary` and `make_plan` return plain data; the CLI
prints them (rich) or dumps them (JSON).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import optuna

from automl.policy import resolve_policy
from automl.space import describe_space, load_train_schema, space_for
from automl.study import build_pruner, build_sampler, resolve_direction
from model.errors import SpecError

__all__ = ["trial_rows", "status_table", "best_summary", "write_plots", "expected_epochs", "make_plan", "serve_dashboard"]


def trial_rows(study: optuna.Study) -> list[dict]:
    """One dict per trial: number, state, params, value, per-epoch metric, duration, best, fail / stop reason."""
    try:
        best = study.best_trial.number
    except ValueError:
        best = None
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        rows.append({
            "number": t.number,
            "state": t.state.name,
            "params": dict(t.params),
            "value": t.value,
            "curve": [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
            "duration_s": duration,
            "best": t.number == best,
            "retry_of": t.system_attrs.get("failed_trial"),
            "fail_reason": t.user_attrs.get("fail_reason"),
            "stop_reason": t.user_attrs.get("stop_reason"),
        })
    return rows


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def status_table(study: optuna.Study):
    """A rich Table of the study's trials (best marked with *)."""
    from rich.table import Table

    table = Table(title=f"study {study.study_name} ({study.direction.name.lower()})")
    for name in ("trial", "state", "params", "metric per epoch", "value", "duration", "note"):
        table.add_column(name)
    for row in trial_rows(study):
        curve = " ".join(_short(v) for v in row["curve"][-6:])
        if len(row["curve"]) > 6:
            curve = "... " + curve
        note = row["fail_reason"] or row["stop_reason"] or (
            f"retry of {row['retry_of']}" if row["retry_of"] is not None else "")
        table.add_row(
            f"{row['number']}{' *' if row['best'] else ''}",
            row["state"],
            ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in row["params"].items()),
            curve,
            _short(row["value"]) if row["value"] is not None else "-",
            f"{row['duration_s']:.1f} s" if row["duration_s"] is not None else "-",
            note,
        )
    return table


def best_summary(study: optuna.Study) -> dict:
    """Best trial number, value, params and checkpoint (ValueError when none completed)."""
    best = study.best_trial
    return {"trial": best.number, "value": best.value, "params": best.params,
            "checkpoint": best.user_attrs.get("checkpoint"), "latency_ms": best.user_attrs.get("latency_ms")}


def write_plots(study: optuna.Study, out_dir: Path) -> list[str]:
    """Optimisation history, parameter importance and learning curves as PNG (matplotlib) + HTML (plotly).

    A picture without data is skipped with a printed reason (no empty pictures); a study with
    nothing to draw at all is a SpecError, and nothing is written.
    """
    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    missing = {
        "optimization_history": "no completed trial" if not complete else None,
        "param_importances": "fewer than 2 completed trials" if complete < 2 else None,
        "intermediate_values": None if any(t.intermediate_values for t in trials) else "no trial reported a metric",
    }
    if all(missing.values()):
        counts = {s: sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
        raise SpecError(
            f"automl plot: study {study.study_name!r} has nothing to plot yet ({len(trials)} trials: "
            f"{counts[optuna.trial.TrialState.COMPLETE]} complete, {counts[optuna.trial.TrialState.PRUNED]} pruned, "
            f"{counts[optuna.trial.TrialState.FAIL]} failed)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as mvis

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, why_not in missing.items():
        if why_not:
            print(f"plot {name} skipped: {why_not}")
            continue
        try:
            with warnings.catch_warnings():  # the matplotlib plots are "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                ax = getattr(mvis, f"plot_{name}")(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.savefig(out_dir / f"{name}.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
            written.append(str(out_dir / f"{name}.png"))
            getattr(vis, f"plot_{name}")(study).write_html(str(out_dir / f"{name}.html"), include_plotlyjs="cdn")
            written.append(str(out_dir / f"{name}.html"))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. importance of a parameter that never varied
            print(f"plot {name} skipped: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return written


def expected_epochs(settings: dict, max_epochs: int) -> float:
    """Expected epochs per trial under the pruner (asynchronous successive halving estimate)."""
    pruner = str(settings.get("pruner") or "hyperband")
    if pruner == "none":
        return float(max_epochs)
    if pruner == "median":
        return 0.6 * max_epochs
    factor = 3
    rung = build_pruner({**settings, "max_epochs": max_epochs})._min_resource or 1
    expected, reach, prev = 0.0, 1.0, 0
    while rung < max_epochs:
        expected += reach * (rung - prev)
        prev, rung, reach = rung, rung * factor, reach / factor
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
    n_trials = int(settings.get("n_trials") or 20)
    per_trial = expected_epochs(settings, max_epochs)
    workers = int(settings.get("n_workers") or 1)
    plan = {
        "policy": decision.policy,
        "rule": decision.rule,
        "search_space": describe_space(space_for(spec, settings, load_train_schema(repo_root))),
        "sampler": type(build_sampler(settings)).__name__,
        "pruner": type(build_pruner(settings)).__name__,
        "metric": settings.get("metric") or "val/epe",
        "direction": resolve_direction(settings),
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
