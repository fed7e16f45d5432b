"""One AutoML run from a resolved spec: create / resume the study, baseline, workers, hand-off.

`run_study(spec, status)` is what `depth_net train` (policy automl) and `depth_net automl run`
call. The study lives in `<study_dir>` = `automl.results_dir` or `<results_dir>/<study_name>`
with its storage (default `<study_dir>/study.db`), `trial_<n>/` folders, `baseline/`,
`best/` and `summary.json`.
"""

from __future__ import annotations

import datetime
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

from automl.handoff import baseline, hand_off
from automl.interrupt import fail_running, interrupted_since
from automl.objective import StereoObjective, check_trial_setup
from automl.pareto import NO_PRUNING, metric_names, resolve_objectives
from automl.seeding import reseed, start_run
from automl.space import space_for
from automl.study import build_pruner, build_sampler, make_study
from automl.workers import SPEC_ATTR, STUDY_DIR_ATTR, clean_zombies, launch_workers, run_worker
from model.interrupt import Interrupted, interrupting
from model.status import StatusLogger

__all__ = ["StudyContext", "study_context", "check_study", "open_study", "run_study", "DEFAULT_STUDY_NAME"]

DEFAULT_STUDY_NAME = "automl"


@dataclass(frozen=True)
class StudyContext:
    """Where a study lives: its name, folder and storage URL / path."""

    name: str
    study_dir: Path
    storage: str
    settings: dict


def study_context(spec: dict) -> StudyContext:
    """Name, folder and storage of the study the spec describes."""
    settings = dict(spec.get("automl") or {})
    name = settings.get("study_name") or DEFAULT_STUDY_NAME
    study_dir = Path(settings.get("results_dir") or Path(spec.get("results_dir") or "runs") / name).resolve()
    storage = settings.get("storage") or str(study_dir / "study.db")
    if "://" not in storage:  # a file: absolute, so workers started elsewhere find the same one
        prefix = "journal:" if storage.startswith("journal:") else ""
        storage = prefix + str(Path(storage[len(prefix):]).resolve())
    if not settings.get("max_epochs"):
        settings["max_epochs"] = int((spec.get("train") or {}).get("num_epochs") or 1)
    return StudyContext(name, study_dir, storage, settings)


def check_study(spec: dict) -> StudyContext:
    """Refuse, writing nothing, a study that cannot run: a metric the trials never log, an
    unknown sampler / pruner / direction, a search space outside the schema's bounds.

    `depth_net automl run` and `depth_net train` (policy automl) call it before any file exists.
    """
    ctx = study_context(spec)
    check_trial_setup(spec, ctx.settings)
    resolve_objectives(ctx.settings)
    build_sampler(ctx.settings)
    build_pruner(ctx.settings)
    space_for(spec, ctx.settings)
    return ctx


def open_study(spec: dict) -> tuple[optuna.Study, StudyContext]:
    """Create or resume the study (after `check_study`); store the spec and folder in it for workers."""
    ctx = check_study(spec)
    study = make_study(ctx.settings, storage=ctx.storage, study_name=ctx.name)
    ctx.study_dir.mkdir(parents=True, exist_ok=True)
    stored = dict(spec)
    stored["automl"] = ctx.settings
    study.set_user_attr(SPEC_ATTR, stored)
    study.set_user_attr(STUDY_DIR_ATTR, str(ctx.study_dir))
    return study, ctx


def _progress(study: optuna.Study, start: float, n_trials: int, deadline: float | None = None):
    """A callable printing one line (done / pruned / failed / best / ETA) when it changes.

    A failed trial that was retried counts once, through its retry (as the trial budget does).
    """
    last = {"line": None}
    state = optuna.trial.TrialState

    def show(*_args) -> None:
        trials = study.get_trials(deepcopy=False)
        retried = {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}
        count = {s: sum(t.state == s and t.number not in retried for t in trials) for s in state}
        if len(study.directions) > 1:
            best = f"Pareto front of {len(study.best_trials)}"
        else:
            try:
                best = f"{study.best_value:.4g} (trial {study.best_trial.number})"
            except ValueError:
                best = "-"
        now = time.time()
        elapsed = now - start
        finished = count[state.COMPLETE] + count[state.PRUNED] + count[state.FAIL]
        if deadline is not None and now >= deadline:
            eta = "time budget reached"
        elif finished:
            eta = f"{elapsed / finished * max(0, n_trials - finished):.0f} s"
        else:
            eta = "-"
        line = (
            f"[automl] trials {finished}/{n_trials}: {count[state.COMPLETE]} complete, "
            f"{count[state.PRUNED]} pruned, {count[state.FAIL]} failed"
            + (f" ({len(retried)} retried)" if retried else "")
            + f", {count[state.RUNNING]} running; best {best}; elapsed {elapsed:.0f} s, ETA {eta}"
        )
        # a signal that arrived while this read the storage waits for it to return: print nothing then,
        # so the terminal's one line after Ctrl-C / SIGTERM is the interruption's
        if line != last["line"] and not interrupting():
            print(line, flush=True)
            last["line"] = line

    return show


def run_study(spec: dict, status: StatusLogger, fit=None) -> dict:
    """Run the study the spec describes; returns `{"kpi", "best_checkpoint", "latest_checkpoint", ...}`.

    Args: spec: resolved spec with an `automl` section; status: the caller's status.json;
        fit: training function for trials (default model.training.runner.fit).
    """
    study, ctx = open_study(spec)
    run = start_run(study)  # each run (and resume) of the study samples with its own seeds
    space = space_for(spec, ctx.settings)
    zombies = clean_zombies(study)
    if zombies:
        status.write("RUNNING", f"resuming study {ctx.name}: trials {zombies} of dead workers failed and queued again")
    status.write("RUNNING", f"study {ctx.name} in {ctx.study_dir} (storage {ctx.storage}), {len(study.trials)} trials so far",
                 study=ctx.name, storage=ctx.storage)
    baseline(spec, study, ctx.study_dir, status)
    if len(study.directions) > 1:  # said once, where the user looks
        print(f"[automl] {NO_PRUNING}")
        status.write("RUNNING", f"multi-objective study ({', '.join(metric_names(study))}): {NO_PRUNING}")
    n_trials = int(ctx.settings.get("n_trials") or 20)
    timeout = ctx.settings.get("timeout")
    start = time.time()
    deadline = start + float(timeout) if timeout else None
    progress = _progress(study, start, n_trials, deadline)
    n_workers = int(ctx.settings.get("n_workers") or 1)
    started = datetime.datetime.now()  # Optuna's trial times are naive local times
    try:
        if n_workers <= 1 or fit is not None:
            reseed(study, ctx.settings, run, "0")
            objective = StereoObjective(spec, ctx.study_dir, space, fit=fit, deadline=deadline)
            run_worker(study, objective, n_trials, deadline, callbacks=[lambda s, t: progress()])
        else:
            codes = launch_workers(ctx.storage, ctx.name, n_workers, int(ctx.settings.get("trials_per_gpu") or 1),
                                   deadline, ctx.study_dir / "workers", poll=progress, run=run)
            progress()
            if any(codes):
                status.write("RUNNING", f"worker exit codes {codes} (logs in {ctx.study_dir / 'workers'})",
                             verbosity="WARNING")
    except Interrupted as exc:
        pids = exc.worker_pids
        if pids:  # the workers failed their own trials; a worker killed for being slow left its RUNNING
            exc.trials += fail_running(study, pids, socket.gethostname(), exc.name)
            exc.trials += interrupted_since(study, started, pids)
        raise
    summary = hand_off(spec, study, ctx.study_dir, status)
    print(f"hand-off: trial {summary['best_trial']} -> {summary['best_checkpoint']}: {summary['selection']['reason']}")
    if summary.get("versus_baseline"):
        print(f"hand-off: best trial {summary['best_trial']}: {summary['versus_baseline']['line']}")
    print(f"dashboard: depth_net automl dashboard --storage {ctx.storage} --study {ctx.name}")
    kpi = summary.get("best_kpi") or {summary["metric"]: summary["best_value"]}
    return {
        "kpi": kpi,
        "best_checkpoint": summary["best_checkpoint"],
        "latest_checkpoint": summary["best_checkpoint"],
        "summary": summary,
    }
