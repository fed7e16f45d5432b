"""Interrupted trials: marked failed with the reason "interrupted" and queued again at once.

When `automl run`, a worker or `train` (policy automl) is stopped by SIGINT / SIGTERM
(`model.interrupt.Interrupted`), the trial it was training is failed with
`fail_reason: "interrupted (SIGINT)"` (system attr `interrupted`) and a WAITING copy is
queued (`automl.study.retry_trial`, our own retry path: same params, its curve so far,
`retry_history`), so the next run trains it first, resuming from the newest checkpoint of
the interrupted trial. An interruption is not the trial's fault: it does not count against
`automl.max_retry`.
"""

from __future__ import annotations

import optuna

from automl.study import retry_trial

__all__ = ["INTERRUPTED_ATTR", "fail_interrupted", "fail_running", "interrupted_since"]

INTERRUPTED_ATTR = "interrupted"


def fail_interrupted(study: optuna.Study, trial_id: int, signal_name: str) -> int | None:
    """Fail one RUNNING trial as interrupted and queue it again; returns its number (None when
    it had already finished, or another process got there first)."""
    storage = study._storage
    trial = storage.get_trial(trial_id)
    if trial.state != optuna.trial.TrialState.RUNNING:
        return None
    try:
        storage.set_trial_user_attr(trial_id, "fail_reason", f"interrupted ({signal_name})")
        storage.set_trial_system_attr(trial_id, INTERRUPTED_ATTR, signal_name)
        if not storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL):
            return None
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    failed = storage.get_trial(trial_id)
    retry_trial(study, failed, max_retry=len(failed.system_attrs.get("retry_history", [])) + 1)
    return failed.number


def fail_running(study: optuna.Study, pids: set[int], host: str, signal_name: str) -> list[int]:
    """Fail as interrupted the RUNNING trials that the processes `pids` on `host` left behind."""
    from automl.objective import WORKER_ATTR

    numbers = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        if worker.get("host") == host and int(worker.get("pid", 0) or 0) in pids:
            number = fail_interrupted(study, trial._trial_id, signal_name)
            if number is not None:
                numbers.append(number)
    return numbers


def interrupted_since(study: optuna.Study, start, pids: set[int] | None = None) -> list[int]:
    """Numbers of the trials failed as interrupted that started at or after `start` (a datetime),
    optionally only those of the worker processes `pids`."""
    from automl.objective import WORKER_ATTR

    numbers = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        if INTERRUPTED_ATTR not in trial.system_attrs or trial.datetime_start is None or trial.datetime_start < start:
            continue
        if pids is None or int((trial.user_attrs.get(WORKER_ATTR) or {}).get("pid", 0) or 0) in pids:
            numbers.append(trial.number)
    return numbers
