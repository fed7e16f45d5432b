"""Real tiny AutoML studies on CPU (SQLite): trials, pruning, best/, resume after SIGKILL, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from model.cli import main
from model.network.checkpoint import load_network_from_checkpoint
from model.status import read_status

REPO = Path(__file__).resolve().parents[2]


def _study(spec_path: Path) -> optuna.Study:
    from automl.study import build_storage

    study_dir = spec_path.parent / "runs" / "tiny"
    return optuna.load_study(study_name="tiny", storage=build_storage(str(study_dir / "study.db"), {}))


@pytest.mark.slow
def test_tiny_study_prunes_and_hands_off_the_best(automl_spec, capsys) -> None:
    spec = automl_spec(pruner="successive_halving")  # a fixed pruner: the test pins its rung behaviour
    assert main(["automl", "run", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Execution status: PASS" in out and "depth_net automl dashboard" in out
    study = _study(spec)
    states = [t.state for t in study.trials]
    assert len(states) == 4 and optuna.trial.TrialState.PRUNED in states
    study_dir = spec.parent / "runs" / "tiny"
    for t in study.trials:  # every trial is an ordinary training run in its own folder
        folder = study_dir / f"trial_{t.number}"
        assert (folder / "experiment.yaml").is_file()
        assert read_status(folder / "status.json")[0]["status"] == "STARTED"
        if t.state == optuna.trial.TrialState.PRUNED:
            # a pruned trial never wins nor resumes: its checkpoints are deleted, its logs stay
            assert not list(folder.glob("*.pth")) and t.user_attrs["checkpoint"] is None
            assert "checkpoint file(s) deleted" in read_status(folder / "status.json")[-1]["message"]
        else:
            # a trial keeps its newest epoch checkpoint (+ its best), not one per epoch
            assert (folder / "dn_model_latest.pth").is_file()
            assert 1 <= len(list(folder.glob("model_epoch_*.pth"))) <= 2
    net, cfg = load_network_from_checkpoint(str(study_dir / "best" / "dn_model_best.pth"))
    assert cfg.hidden_dims and net is not None
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["best_trial"] == study.best_trial.number
    assert summary["best_kpi"]["val/epe"] == pytest.approx(study.best_value, rel=1e-4)
    assert "ends after evaluation" in summary["handoff"]["stopped"]
    # Inspecting: status table, best, plots, plan.
    assert main(["automl", "status", "-e", str(spec)]) == 0
    assert "PRUNED" in capsys.readouterr().out
    assert main(["automl", "best", "-e", str(spec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["trial"] == study.best_trial.number
    assert main(["automl", "plot", "-e", str(spec)]) == 0
    assert (study_dir / "plots" / "optimization_history.png").is_file()
    assert (study_dir / "plots" / "intermediate_values.html").is_file()


def _epochs_done(status_path: Path) -> int:
    if not status_path.is_file():
        return 0
    return sum(1 for e in read_status(status_path) if "epoch" in e and e.get("kpi"))


@pytest.mark.slow
def test_sigkill_then_rerun_retries_the_trial_from_its_checkpoint(automl_spec) -> None:
    spec = automl_spec(n_trials=2, max_epochs=6, pruner="none")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "model.cli", "automl", "run", "-e", str(spec)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trial0 = spec.parent / "runs" / "tiny" / "trial_0"
    deadline = time.time() + 240
    while _epochs_done(trial0 / "status.json") < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the study ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _epochs_done(trial0 / "status.json")
    assert 2 <= killed_at < 6 and (trial0 / "dn_model_latest.pth").is_file()

    assert main(["automl", "run", "-e", str(spec)]) == 0
    trials = _study(spec).trials
    assert [t.number for t in trials] == [0, 1, 2]  # numbering continues
    assert trials[0].state == optuna.trial.TrialState.FAIL and "died" in trials[0].user_attrs["fail_reason"]
    assert trials[1].system_attrs["retry_history"] == [0] and trials[1].params == trials[0].params
    assert trials[1].state == trials[2].state == optuna.trial.TrialState.COMPLETE
    started = read_status(trial0.parent / "trial_1" / "status.json")[0]
    assert started["resumed_from"] == str(trial0 / "dn_model_latest.pth")
    # The retry trained only the epochs that were left.
    assert _epochs_done(trial0.parent / "trial_1" / "status.json") <= 6 - killed_at + 1


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["automl.sampler=bayes"], "automl.sampler"),
        (["automl.pruner=asha"], "automl.pruner"),
        (["automl.metric=val/accuracy"], "automl.metric"),
        (["automl.storage=postgresql+psycopg2://u@127.0.0.1:9/none"], "automl.storage: cannot open"),
    ],
)
def test_bad_input_is_one_line_exit_2(automl_spec, capsys, overrides: list[str], match: str) -> None:
    assert main(["automl", "run", "-e", str(automl_spec()), *overrides]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err


def test_study_name_clash_with_other_direction_exit_2(automl_spec, capsys, tmp_path: Path) -> None:
    from automl.study import make_study

    make_study({}, storage=str(tmp_path / "runs" / "tiny" / "study.db"), study_name="tiny")
    assert main(["automl", "plan", "-e", str(automl_spec()), "automl.direction=maximize"]) == 0  # plan opens nothing
    code = main(["automl", "run", "-e", str(automl_spec()), "automl.direction=maximize"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "already exists with direction minimize" in err[0]


def test_plan_json_without_training(automl_spec, capsys) -> None:
    spec = automl_spec()
    assert main(["automl", "plan", "-e", str(spec), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"policy", "rule", "search_space", "sampler", "pruner", "metric", "direction", "budget", "storage",
            "workers", "estimate"} <= set(plan)
    assert plan["policy"] == "automl" and plan["metric"] == "val/epe" and plan["direction"] == "minimize"
    lr = next(p for p in plan["search_space"] if p["name"] == "train.optim.lr")
    assert lr["log"] is True
    assert not (spec.parent / "runs").exists()  # nothing trained, nothing written
    assert main(["automl", "plan", "-e", str(spec), "--request", "no HPO please", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["policy"] == "direct" and "request text" in plan["rule"]
    assert main(["automl", "plan", "-e", str(spec), "--request", "no HPO", "--automl-policy", "on", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["policy"] == "automl"


def test_plan_estimate_from_a_probe_of_real_training_steps(automl_spec, capsys) -> None:
    spec = automl_spec()
    assert main(["automl", "plan", "-e", str(spec), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["estimate"]["seconds"] is None and "--probe" in plan["estimate"]["source"]
    assert main(["automl", "plan", "-e", str(spec), "--json", "--probe"]) == 0
    plan = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert plan["estimate"]["seconds"] > 0 and plan["estimate"]["source"].startswith("probe:")
    assert not (spec.parent / "runs").exists()  # a probe trains nothing to disk


def test_progress_line_counts_a_retried_trial_once(capsys) -> None:
    from automl.run import _progress

    state = optuna.trial.TrialState
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=state.FAIL))  # its worker died ...
    study.add_trial(optuna.trial.create_trial(value=1.5, system_attrs={"failed_trial": 0}))  # ... retried
    study.add_trial(optuna.trial.create_trial(state=state.PRUNED))
    _progress(study, time.time(), 3)()
    line = capsys.readouterr().out.strip()
    assert line.startswith("[automl] trials 2/3: 1 complete, 1 pruned, 0 failed (1 retried), 0 running; best 1.5")
    _progress(study, time.time() - 10, 3, deadline=time.time() - 1)()
    assert capsys.readouterr().out.strip().endswith("ETA time budget reached")
