"""The CLI's run protocol: results dir, experiment.yaml, status.json, PASS / FAIL, action table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from model.cli import ACTIONS, Action, main
from model.status import read_kpi, read_status


def _kitti_root(tmp: Path, n: int = 4) -> Path:
    root = tmp / "kitti"
    rng = np.random.default_rng(0)
    for i in range(n):
        for folder in ("image_2", "image_3"):
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f"{i:06d}_10.png"), rng.integers(0, 255, (16, 24, 3), dtype=np.uint8))
        (root / "disp_occ_0").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "disp_occ_0" / f"{i:06d}_10.png"), np.full((16, 24), 256 * 5, np.uint16))
    return root


def test_successful_run_writes_experiment_status_and_prints_pass(tmp_path, capfd):
    root = _kitti_root(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"results_dir: {tmp_path / 'runs'}\nconvert:\n  dataset_root: {root}\n  dataset_name: kitti\n")
    rc = main(["convert", "-e", str(spec), "convert.split=[0.5,0.25,0.25]"])
    out, err = capfd.readouterr()
    assert rc == 0, err
    assert out.strip().splitlines()[-1] == "Execution status: PASS"
    run = tmp_path / "runs" / "convert"
    resolved = yaml.safe_load((run / "experiment.yaml").read_text())
    assert resolved["convert"]["split"] == [0.5, 0.25, 0.25]  # the override is in the resolved spec
    assert resolved["train"]["optim"]["lr"] == pytest.approx(1e-4)  # defaults are filled in
    events = read_status(run / "status.json")
    assert events[0]["status"] == "STARTED" and events[-1]["status"] == "SUCCESS"
    assert all({"date", "time", "status", "verbosity", "message"} <= set(e) for e in events)
    assert read_kpi(run / "status.json")["num_samples"] == 4


def test_action_results_dir_wins(tmp_path):
    root = _kitti_root(tmp_path)
    rc = main(["convert", f"results_dir={tmp_path / 'runs'}", f"convert.results_dir={tmp_path / 'here'}",
               f"convert.dataset_root={root}", "convert.dataset_name=Kitti"])
    assert rc == 0
    assert (tmp_path / "here" / "status.json").is_file() and not (tmp_path / "runs").exists()


def test_debug_shows_traceback(tmp_path, capfd):
    rc = main(["--debug", "evaluate", f"results_dir={tmp_path}/r", "train.seed=-1"])
    err = capfd.readouterr().err
    assert rc == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("Error: ")


def test_every_action_has_help(capfd):
    for name in ACTIONS:
        if name == "automl":
            continue
        assert main([name, "--help"]) == 0
        assert f"{name}." in capfd.readouterr().out


def test_missing_action_module_is_not_yet_implemented(tmp_path, capfd, monkeypatch):
    # every action module exists in this build: point one action at a module that does not
    monkeypatch.setitem(ACTIONS, "export", Action("model.actions.no_such_action", "missing"))
    rc = main(["export", f"results_dir={tmp_path / 'runs'}"])
    assert rc == 2 and "not yet implemented" in capfd.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_automl_is_routed_to_its_cli(capfd):
    if importlib.util.find_spec("automl.cli") is None:
        assert main(["automl", "status"]) == 2
        assert "not yet implemented" in capfd.readouterr().err
    else:
        assert main(["automl", "--help"]) == 0
