"""`depth_net train --request / --automl-policy`: the flags reach the AutoML policy resolver."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.cli import main
from model.status import read_status


@pytest.fixture
def spec_file(tmp_path, tiny_spec) -> Path:
    """A tiny train spec (64 x 96 Synthetic, 1 epoch) that leaves train.automl_policy at its default auto."""
    spec = tiny_spec(tmp_path / "runs", val=False, train={"num_epochs": 1, "seed": 3, "log_every_n_steps": 1},
                     automl={"study_name": "must_not_exist"})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _decision(run_dir: Path) -> dict:
    rows = [e for e in read_status(run_dir / "status.json") if "policy" in e]
    assert len(rows) == 1, rows
    return rows[0]


def _assert_direct(rc: int, out: str, tmp_path: Path) -> dict:
    assert rc == 0, out
    assert "AutoML policy: direct" in out and out.strip().splitlines()[-1] == "Execution status: PASS"
    run_dir = tmp_path / "runs" / "train"
    assert list(run_dir.glob("*.pth")), "direct training wrote no checkpoint"
    assert not (tmp_path / "runs" / "must_not_exist").exists(), "a study was started"
    decision = _decision(run_dir)
    assert decision["policy"] == "direct" and decision["automl_policy"] == "off"
    return decision


def test_request_turn_off_automl_trains_directly(spec_file, tmp_path, capfd):
    rc = main(["train", "-e", str(spec_file), "--request", "Fine-tune on my data but turn off AutoML please"])
    out = capfd.readouterr().out
    decision = _assert_direct(rc, out, tmp_path)
    assert "turn off AutoML" in decision["rule"] and "request" in decision["source"]


def test_automl_policy_flag_off_trains_directly(spec_file, tmp_path, capfd):
    rc = main(["train", "-e", str(spec_file), "--automl-policy", "off"])
    decision = _assert_direct(rc, capfd.readouterr().out, tmp_path)
    assert decision["source"] == "--automl-policy off"


def test_flag_beats_spec_and_request(spec_file, tmp_path, capfd):
    # the spec asks for a study, the request for none; the explicit flag decides
    rc = main(["train", "-e", str(spec_file), "train.automl_policy=on", "--request", "please run a search",
               "--automl-policy", "off"])
    decision = _assert_direct(rc, capfd.readouterr().out, tmp_path)
    assert decision["source"] == "--automl-policy off"


def test_invalid_automl_policy_is_one_line_exit_2(spec_file, tmp_path, capfd):
    rc = main(["train", "-e", str(spec_file), "--automl-policy", "x"])
    out, err = capfd.readouterr()
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--automl-policy" in lines[0]
    assert "'x'" in lines[0] and "off" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_study_that_cannot_run_fails_train_before_anything_is_written(spec_file, tmp_path, capfd):
    # policy auto -> a study; without validation data the trials would have nothing to rank
    rc = main(["train", "-e", str(spec_file)])
    out, err = capfd.readouterr()
    assert rc == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "val" in lines[0], lines
    assert not (tmp_path / "runs").exists()
