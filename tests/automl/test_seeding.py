"""Distinct draws: parallel workers and resumed runs never repeat a configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from automl.seeding import current_run, derive_seed, reseed, start_run
from automl.study import build_storage, make_study
from automl.workers import SPEC_ATTR, STUDY_DIR_ATTR, run_worker

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"seed": 0, "max_epochs": 4, "pruner": "none"}

# One `automl worker`-like process: the study, its spec and its seed come from open_worker_study
# (as `depth_net automl worker --run R --worker-index I` does); the objective is cheap and slow
# enough that the workers' trials overlap.
_WORKER = textwrap.dedent(
    """
    import sys, time, optuna
    from automl.workers import open_worker_study, run_worker
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        x = trial.suggest_float("x", -4, 4)
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        time.sleep(0.4)
        return (x - 1) ** 2 + abs(lr - 1e-3)

    storage, name, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    study, spec, _ = open_worker_study(storage, name, run=0, worker_index=index)
    print(run_worker(study, objective, 8))
    """
)


def test_derived_seeds_differ_per_worker_and_run() -> None:
    assert derive_seed(5, 0, "0") == 5  # a one-worker study is seeded as the spec says
    seeds = {derive_seed(5, run, str(worker)) for run in range(3) for worker in range(4)}
    assert len(seeds) == 12 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(5, 1, "2") == derive_seed(5, 1, "2")  # reproducible
    assert derive_seed(None, 1, "2") is None
    # a reseeded worker keeps the sampler the spec asks for (the default GP and TPE's constant liar both read
    # the other workers' RUNNING trials from the shared storage)
    study = make_study(SETTINGS)
    assert reseed(study, SETTINGS, 1, "3") == derive_seed(0, 1, "3")
    assert isinstance(study.sampler, optuna.samplers.GPSampler)
    tpe = {**SETTINGS, "sampler": "tpe"}
    reseed(study, tpe, 1, "3")
    assert isinstance(study.sampler, optuna.samplers.TPESampler) and study.sampler._constant_liar


def _four_workers_first_eight(storage: str, name: str, tmp_path: Path) -> list[tuple]:
    """Parameters of the first 8 trials that 4 worker processes ran on one study."""
    study = make_study(SETTINGS, storage=storage, study_name=name)
    study.set_user_attr(SPEC_ATTR, {"automl": SETTINGS})
    study.set_user_attr(STUDY_DIR_ATTR, str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, storage, name, str(index)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name=name, storage=build_storage(storage, {})).trials
    assert len(trials) >= 8
    return [tuple(sorted(t.params.items())) for t in sorted(trials, key=lambda t: t.number)[:8]]


@pytest.mark.slow
def test_four_journal_workers_never_draw_the_same_parameters(tmp_path: Path) -> None:
    first = _four_workers_first_eight(f"journal:{tmp_path / 'study.log'}", "par", tmp_path)
    assert len(set(first)) == 8, first


@pytest.mark.slow
@pytest.mark.postgres
def test_four_postgresql_workers_never_draw_the_same_parameters(tmp_path: Path, postgres_url: str) -> None:
    name = f"seed_{os.getpid()}_{tmp_path.name}"
    first = _four_workers_first_eight(postgres_url, name, tmp_path)
    optuna.delete_study(study_name=name, storage=postgres_url)
    assert len(set(first)) == 8, first


def _objective(trial: optuna.Trial) -> float:
    return (trial.suggest_float("x", -4, 4) - 1) ** 2


def test_a_resumed_run_does_not_repeat_the_first_draw(tmp_path: Path) -> None:
    storage = str(tmp_path / "study.db")
    settings = {**SETTINGS, "sampler": "random"}
    for n_trials in (2, 4):  # the first run, then a resume with a larger budget
        study = make_study(settings, storage=storage, study_name="resume")
        reseed(study, settings, start_run(study), "0")
        run_worker(study, _objective, n_trials)
    xs = [t.params["x"] for t in study.trials]
    assert current_run(study) == 1 and len(xs) == 4
    assert len(set(xs)) == 4, xs  # the resume drew new points, not trial 0's again
    # the check can fail: without a new seed the resume repeats trial 0's draw
    again = make_study(settings, storage=storage, study_name="resume")
    run_worker(again, _objective, 5)
    assert again.trials[4].params["x"] == xs[0]
