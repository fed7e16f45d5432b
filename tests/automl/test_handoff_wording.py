"""The AutoML hand-off's evaluate lines say what they are: the baseline / best trial, on validation scenes."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from automl.handoff import evaluate_checkpoint, versus_baseline
from model.cli import main
from model.config import NetworkConfig
from model.network import build_network
from model.spec import load_spec


def test_baseline_line_names_the_baseline_and_the_validation_scenes(tmp_path, tiny_spec, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(tmp_path / "runs")), encoding="utf-8")
    spec = load_spec(path, "train")
    torch.manual_seed(0)
    ckpt = tmp_path / "start.pth"
    torch.save({"state_dict": build_network(NetworkConfig.tiny()).state_dict(),
                "spec": {"model": NetworkConfig.tiny().to_dict()}}, ckpt)
    kpi = evaluate_checkpoint(spec, ckpt, tmp_path / "baseline", f"baseline: the starting checkpoint {ckpt}")
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.startswith("automl baseline: the starting checkpoint"))
    assert out[header].endswith("on the validation scenes:")
    assert out[header + 1].startswith("evaluate (2 validation images, dataset.val_dataset): epe ")
    assert "test_dataset" not in "\n".join(out) and kpi["val/epe"] >= 0


def test_versus_baseline_says_whether_the_study_improved_the_start() -> None:
    better = versus_baseline("val/epe", "minimize", {"val/epe": 2.0}, {"val/epe": 1.5}, "builtin")
    assert better["better"] and "improved it" in better["line"] and better["baseline"] == 2.0
    worse = versus_baseline("val/epe", "minimize", {"val/epe": 2.0}, {"val/epe": 2.5}, "builtin")
    assert not worse["better"] and "no trial improved" in worse["line"] and "keep using builtin" in worse["line"]
    tie = versus_baseline("val/epe", "minimize", {"val/epe": 2.0}, {"val/epe": 2.0}, "builtin")
    assert not tie["better"]  # equal is not an improvement
    up = versus_baseline("val/d1_ok", "maximize", {"val/d1_ok": 0.5}, {"val/d1_ok": 0.6}, "start.pth")
    assert up["better"]
    assert versus_baseline("val/epe", "minimize", None, {"val/epe": 1.0}, None) is None  # from scratch
    assert versus_baseline("val/epe", "minimize", {"val/bp2": 1.0}, {"val/epe": 1.0}, "x") is None


@pytest.mark.slow
def test_study_from_a_start_reports_the_best_trial_against_it(automl_spec, capsys) -> None:
    """A real study fine-tuning a random tiny start: summary.json and the terminal compare the two."""
    spec_path = automl_spec(n_trials=2, pruner="none")
    spec = yaml.safe_load(spec_path.read_text())
    torch.manual_seed(0)
    ckpt = spec_path.parent / "start.pth"
    torch.save({"state_dict": build_network(NetworkConfig.tiny()).state_dict(),
                "spec": {"model": NetworkConfig.tiny().to_dict()}}, ckpt)
    spec["train"]["pretrained_model_path"] = str(ckpt)
    spec_path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert main(["automl", "run", "-e", str(spec_path)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((spec_path.parent / "runs" / "tiny" / "summary.json").read_text())
    versus = summary["versus_baseline"]
    assert versus["baseline"] == pytest.approx(summary["baseline_kpi"]["val/epe"])
    assert versus["best"] == pytest.approx(summary["best_kpi"]["val/epe"])
    assert versus["better"] == (versus["best"] < versus["baseline"])
    assert f"hand-off: best trial {summary['best_trial']}: {versus['line']}" in out
