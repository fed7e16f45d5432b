"""The AutoML hand-off's evaluate lines say what they are: the baseline / best trial, on validation scenes."""

from __future__ import annotations

import torch
import yaml

from automl.handoff import evaluate_checkpoint
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
