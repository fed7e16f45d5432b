"""`automl status / best / plot` on studies that are missing, empty or without a completed trial, and
what `automl run` refuses before it writes anything (a metric the trials never log, a range outside the
schema) or stops (the time budget)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from automl.study import build_storage, make_study
from model.cli import main

REPO = Path(__file__).resolve().parents[2]
STATE = optuna.trial.TrialState
LR = optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True)


def _one_line_error(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err
    return err[0]


def _study_names(storage: Path) -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(build_storage(str(storage), {}))]


@pytest.mark.parametrize("command", ["status", "best", "plot"])
def test_a_study_that_does_not_exist_is_one_line_exit_2_and_nothing_is_created(
        automl_spec, capsys, tmp_path: Path, command: str) -> None:
    spec = automl_spec()
    db = tmp_path / "runs" / "tiny" / "study.db"
    make_study({}, storage=str(db), study_name="tiny")
    # a name that is not in an existing storage
    code = main(["automl", command, "-e", str(spec), f"automl.results_dir={db.parent}", "automl.study_name=nope"])
    _one_line_error(capsys, code, "'nope'", "tiny")
    code = main(["automl", command, "--storage", str(db), "--study", "nope"])
    _one_line_error(capsys, code, "'nope'", "tiny")
    assert _study_names(db) == ["tiny"]  # no empty study 'nope' was made
    # storages that do not exist: no file is made
    journal = tmp_path / "shared" / "studies.log"
    code = main(["automl", command, "-e", str(spec), f"automl.storage={journal}"])
    _one_line_error(capsys, code, str(journal))
    missing = tmp_path / "typo" / "study.db"
    code = main(["automl", command, "--storage", str(missing), "--study", "tiny"])
    _one_line_error(capsys, code, str(missing))
    assert not journal.parent.exists() and not missing.parent.exists()
    # the same file named by an SQLite URL: opening it would create an empty Optuna database
    url_missing = tmp_path / "url" / "nosuch.db"
    url_missing.parent.mkdir()
    code = main(["automl", command, "--storage", f"sqlite:///{url_missing}", "--study", "tiny"])
    _one_line_error(capsys, code, str(url_missing))
    assert list(url_missing.parent.iterdir()) == []
    code = main(["automl", command, "--storage", "sqlite:///:memory:", "--study", "tiny"])
    _one_line_error(capsys, code, "names no database file")
    code = main(["automl", command, "--storage", f"sqlite:///{db}", "--study", "nope"])  # an existing URL still opens
    _one_line_error(capsys, code, "'nope'", "tiny")


def test_missing_study_error_is_one_line_on_stderr_of_the_real_command(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    make_study({}, storage=str(db), study_name="tiny")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "default"}
    proc = subprocess.run([sys.executable, "-m", "model.cli", "automl", "status", "--storage", str(db), "--study", "x"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "'x'" in err[0], proc.stderr  # no Optuna warnings around it


def _add(study: optuna.Study, state: STATE, curve: dict[int, float], **attrs) -> None:
    study.add_trial(optuna.create_trial(state=state, params={"train.optim.lr": 1e-4},
                                        distributions={"train.optim.lr": LR},
                                        intermediate_values=curve, user_attrs=attrs))


def test_status_best_plot_without_a_completed_trial(automl_spec, capsys, tmp_path: Path, monkeypatch) -> None:
    spec = automl_spec()
    monkeypatch.chdir(tmp_path)
    study_dir = tmp_path / "runs" / "tiny"
    study = make_study({}, storage=str(study_dir / "study.db"), study_name="tiny")
    # no trial at all: an empty table; no best; nothing to plot
    assert main(["automl", "status", "-e", str(spec)]) == 0
    assert "study tiny" in capsys.readouterr().out
    _one_line_error(capsys, main(["automl", "best", "-e", str(spec)]), "no completed")
    _one_line_error(capsys, main(["automl", "plot", "-e", str(spec)]), "nothing to plot", "0 pruned, 0 failed")
    assert not (study_dir / "plots").exists() and not (tmp_path / "plots").exists()
    # only pruned and failed trials: the table shows why, best still has nothing, plots show the curves
    _add(study, STATE.PRUNED, {1: 3.0})
    _add(study, STATE.FAIL, {}, fail_reason="CUDA out of memory")
    assert main(["automl", "status", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "PRUNED" in out and "FAIL" in out and "CUDA out of memory" in out
    _one_line_error(capsys, main(["automl", "best", "-e", str(spec)]), "no completed")
    assert main(["automl", "plot", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "optimization_history skipped: no completed trial" in out
    assert sorted(p.name for p in (study_dir / "plots").iterdir()) == ["intermediate_values.html",
                                                                        "intermediate_values.png"]


@pytest.mark.parametrize("overrides, needles", [
    # a metric the trials never log: every trial would train to its end, then fail
    (["automl.metric=epe"], ["automl.metric: 'epe'", "val/epe"]),
    (["train.validation_interval=5"], ["train.validation_interval: 5", "automl.max_epochs 3"]),
    # a search range outside the schema's bounds
    (["automl.parameters={train.optim.lr: {min: 0, max: 1.0e-3}}"],
     ["automl.parameters.train.optim.lr", "[0, 0.001]", "(0.0, 1.0]"]),
])
def test_a_study_that_cannot_run_is_refused_before_anything_is_written(
        automl_spec, capsys, tmp_path: Path, overrides: list[str], needles: list[str]) -> None:
    spec = automl_spec()
    for command in ("run", "plan"):
        _one_line_error(capsys, main(["automl", command, "-e", str(spec), *overrides]), *needles)
    assert not (tmp_path / "runs").exists()  # no study folder, no study.db, no trial trained


@pytest.mark.slow
def test_time_budget_stops_the_trial_in_progress(automl_spec, tmp_path: Path) -> None:
    """Past automl.timeout a running trial stops after its current epoch (not after all of them),
    keeps that checkpoint, and ends PRUNED with the reason: an unfinished run is never ranked."""
    from automl.handoff import hand_off
    from automl.objective import StereoObjective
    from automl.space import build_space, load_train_schema
    from model.errors import RunFailed
    from model.spec import load_spec
    from model.status import StatusLogger

    spec = load_spec(automl_spec(n_trials=1, max_epochs=3, pruner="none", timeout=60), "automl")
    study = make_study(spec["automl"])
    # the budget is already spent when the trial starts: the deadline passes during its first epoch
    objective = StereoObjective(spec, tmp_path / "study", build_space(spec["automl"], load_train_schema()),
                                deadline=time.time())
    study.optimize(objective, n_trials=1)
    [trial] = study.trials
    assert trial.state == STATE.PRUNED and list(trial.intermediate_values) == [1]
    assert "automl.timeout=60" in trial.user_attrs["stop_reason"] and "epoch 1 of 3" in trial.user_attrs["stop_reason"]
    assert len(list((tmp_path / "study" / "trial_0").glob("model_epoch_*.pth"))) == 1
    with pytest.raises(RunFailed, match="no trial .* completed.*time budget automl.timeout=60"):
        hand_off(spec, study, tmp_path / "study", StatusLogger(tmp_path / "status.json"))


def test_plan_estimate_uses_the_finished_trials_of_an_existing_study(automl_spec, capsys, tmp_path: Path) -> None:
    import datetime as dt
    import json

    spec = automl_spec()  # 4 trials of 3 epochs, default SQLite storage in runs/tiny/study.db
    study = make_study({}, storage=str(tmp_path / "runs" / "tiny" / "study.db"), study_name="tiny")
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    study.add_trial(optuna.trial.FrozenTrial(
        number=0, state=STATE.COMPLETE, value=1.0, values=None, datetime_start=start,
        datetime_complete=start + dt.timedelta(seconds=30), params={"train.optim.lr": 1e-4},
        distributions={"train.optim.lr": LR}, user_attrs={}, system_attrs={},
        intermediate_values={1: 3.0, 2: 2.0, 3: 1.0}, trial_id=0))
    assert main(["automl", "plan", "-e", str(spec), "--json"]) == 0
    estimate = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["estimate"]
    assert estimate["source"] == "measured on this study's finished trials"
    assert estimate["seconds"] == pytest.approx(estimate["epochs_expected"] * 10.0, rel=0.01)  # 30 s / 3 epochs


def test_a_worker_for_a_missing_storage_or_study_creates_nothing(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "study.db"
    _one_line_error(capsys, main(["automl", "worker", "--storage", str(missing), "--study", "tiny"]), str(missing))
    assert not missing.parent.exists()
    db = tmp_path / "study.db"
    make_study({}, storage=str(db), study_name="tiny")
    _one_line_error(capsys, main(["automl", "worker", "--storage", str(db), "--study", "nope"]), "'nope'", "tiny")
    assert _study_names(db) == ["tiny"]


class _PruneAtOnce(optuna.pruners.BasePruner):
    """Prunes every trial at its first reported epoch."""

    def prune(self, study, trial) -> bool:
        return bool(trial.intermediate_values)


@pytest.mark.parametrize("keep", [False, True])
def test_a_pruned_trial_keeps_its_checkpoint_only_when_asked(automl_spec, tmp_path: Path, keep: bool) -> None:
    from automl.objective import StereoObjective
    from automl.space import build_space, load_train_schema
    from model.spec import load_spec

    spec = load_spec(automl_spec(n_trials=1, max_epochs=2, keep_pruned_checkpoints=keep), "automl")
    study = optuna.create_study(pruner=_PruneAtOnce())
    objective = StereoObjective(spec, tmp_path / "study", build_space(spec["automl"], load_train_schema()))
    study.optimize(objective, n_trials=1)
    [trial] = study.trials
    folder = tmp_path / "study" / "trial_0"
    assert trial.state == STATE.PRUNED and (folder / "status.json").is_file()
    assert bool(list(folder.glob("*.pth"))) is keep
    assert (trial.user_attrs["checkpoint"] is not None) is keep
