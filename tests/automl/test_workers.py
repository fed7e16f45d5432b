"""Workers sharing one study: journal file and PostgreSQL; slots; dead-worker retry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from automl.objective import WORKER_ATTR, retry_checkpoint, trial_dir
from automl.study import build_storage, make_study
from automl.workers import clean_zombies, run_worker, trial_budget_left, worker_slots

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"seed": 0, "max_epochs": 9, "n_startup_trials": 3}

# A cheap objective with per-epoch reports, run by each worker process through run_worker.
_WORKER = textwrap.dedent(
    """
    import pathlib, sys, time, optuna
    from automl.study import build_storage, make_study
    from automl.workers import run_worker
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", -4, 4)
        y = trial.suggest_float("y", -4, 4)
        for epoch in range(1, 10):
            trial.report((x - 1) ** 2 + (y + 0.5) ** 2 + 1.0 / epoch, epoch)
            time.sleep(0.005)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (x - 1) ** 2 + (y + 0.5) ** 2

    storage, name, n_trials, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    # Start line: each worker announces itself and waits for the other, so that a worker whose
    # interpreter came up late (a loaded CI machine) still finds trials left to run.
    barrier = pathlib.Path(sys.argv[5])
    (barrier / f"ready_{seed}").touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("ready_*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    study = make_study({"seed": seed, "max_epochs": 9, "n_startup_trials": 3}, storage=storage, study_name=name)
    print(run_worker(study, objective, n_trials))
    """
)


def _two_workers(storage: str, name: str, n_trials: int, barrier: Path) -> list[int]:
    make_study(SETTINGS, storage=storage, study_name=name)  # created once, joined by both
    barrier.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, storage, name, str(n_trials), str(seed), str(barrier)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)  # different sampler seeds, as on two machines
    ]
    ran = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        ran.append(int(out.strip().splitlines()[-1]))
    return ran


def _check_shared_study(storage: str, name: str, n_trials: int, ran: list[int]) -> None:
    study = optuna.load_study(study_name=name, storage=build_storage(storage, {}))
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers)), "duplicate trial numbers"
    assert sorted(numbers) == list(range(len(numbers))), "a trial number is missing"
    assert sum(ran) == len(numbers), "every trial is accounted for by one worker"
    assert all(r > 0 for r in ran), f"both workers ran trials: {ran}"
    # Two workers may both start the last trial: at most n_workers - 1 over the budget.
    assert n_trials <= len(numbers) <= n_trials + 1
    states = {t.state for t in study.trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert optuna.trial.TrialState.COMPLETE in states


@pytest.mark.slow
def test_two_workers_share_a_journal_file(tmp_path: Path) -> None:
    storage = f"journal:{tmp_path / 'study.log'}"
    ran = _two_workers(storage, "journal", 16, tmp_path / "start")
    _check_shared_study(storage, "journal", 16, ran)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_share_a_postgresql_study(tmp_path: Path, postgres_url: str) -> None:
    name = f"pg_{os.getpid()}_{tmp_path.name}"
    ran = _two_workers(postgres_url, name, 16, tmp_path / "start")
    _check_shared_study(postgres_url, name, 16, ran)
    optuna.delete_study(study_name=name, storage=postgres_url)


def test_worker_slots() -> None:
    assert worker_slots(3, 1, 0) == ["", "", ""]
    assert worker_slots(4, 1, 2) == ["0", "1", "0", "1"]
    assert worker_slots(4, 2, 2) == ["0", "1", "0", "1"]
    assert worker_slots(2, 2, 1) == ["0", "0"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_worker_trial_is_failed_and_retried_from_its_checkpoint(tmp_path: Path) -> None:
    import socket

    study = make_study(SETTINGS, storage=str(tmp_path / "study.db"), study_name="z")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.report(0.5, 1)
    trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": _dead_pid()})
    ckpt = trial_dir(tmp_path, trial.number) / "dn_model_latest.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"x")
    alive = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    alive.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": os.getpid()})

    assert clean_zombies(study) == [0]
    frozen = study.trials
    assert frozen[0].state == optuna.trial.TrialState.FAIL and "died" in frozen[0].user_attrs["fail_reason"]
    assert frozen[1].state == optuna.trial.TrialState.RUNNING  # its worker is alive
    retry = frozen[2]
    assert retry.state == optuna.trial.TrialState.WAITING and retry.params == frozen[0].params
    assert retry.system_attrs["retry_history"] == [0] and retry.intermediate_values == {1: 0.5}
    assert WORKER_ATTR not in retry.user_attrs
    assert retry_checkpoint(tmp_path, retry) == ckpt
    assert trial_budget_left(study, 3) == 1  # the retry does not use up the budget


def test_run_worker_runs_queued_retries_then_stops(tmp_path: Path) -> None:
    study = make_study(SETTINGS)
    study.enqueue_trial({"x": 0.25})
    seen = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(trial.suggest_float("x", 0, 1))
        return seen[-1]

    assert run_worker(study, objective, n_trials=3) == 3
    assert seen[0] == 0.25 and len(study.trials) == 3
