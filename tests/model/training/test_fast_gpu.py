"""The fast training runtime learns like the network as built (GPU only).

From the same seed and the same Synthetic batches, 300 optimizer steps through the product path
(`fit`, Lightning) with `train.runtime: compile` + bf16 and with `eager` + fp32 end with losses
within 3 % of each other (the mean of the last 50 steps). Set DEPTH_NET_CURVES_OUT to a file to
keep both loss curves (JSON) for the issue note.
"""

from __future__ import annotations

import json
import os

import pytest
import pytorch_lightning as pl
import torch

from model.config import NetworkConfig
from model.status import StatusLogger
from model.training.runner import fit

pytestmark = pytest.mark.gpu

STEPS = 300


class _Losses(pl.Callback):
    def __init__(self) -> None:
        self.values: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.values.append(loss.detach().float())  # kept on the device: no sync per step


def _spec(tmp_path, runtime: str, precision: str) -> dict:
    model = NetworkConfig().to_dict()
    model["train_iters"] = 12
    return {
        "results_dir": str(tmp_path / runtime),
        "model": model,
        "dataset": {
            "max_disparity": 192,
            "train_dataset": {
                "data_sources": [{"dataset_name": "Synthetic", "num_samples": 2 * STEPS, "seed": 5,
                                  "image_size": [256, 512]}],
                "batch_size": 2, "workers": 6,
                "augmentation": {"crop_size": [256, 512], "min_scale": 0.0, "max_scale": 0.0, "stretch_prob": 0.0,
                                 "yjitter_prob": 0.0, "color_aug_prob": 0.0, "eraser_aug_prob": 0.0},
            },
            "val_dataset": {"data_sources": []},
        },
        "train": {"num_epochs": 1, "seed": 3, "precision": precision, "runtime": runtime, "log_every_n_steps": 50,
                  "clip_grad_norm": 1.0, "automl_policy": "off",
                  "optim": {"optimizer": "AdamW", "lr": 2e-4, "weight_decay": 1e-5, "lr_scheduler": "MultiStepLR",
                            "lr_steps": [10**6], "warmup_steps": 50}},
    }


def _curve(tmp_path, runtime: str, precision: str) -> list[float]:
    import yaml

    from model.spec import load_spec

    path = tmp_path / f"{runtime}.yaml"
    path.write_text(yaml.safe_dump(_spec(tmp_path, runtime, precision)), encoding="utf-8")
    spec = load_spec(path, "train")
    recorder = _Losses()
    (tmp_path / runtime / "train").mkdir(parents=True, exist_ok=True)
    fit(spec, StatusLogger(tmp_path / runtime / "train" / "status.json"), callbacks=[recorder])
    return torch.stack(recorder.values).cpu().tolist()


def test_compile_bf16_learns_like_eager_fp32(tmp_path):
    eager = _curve(tmp_path, "eager", "fp32")
    fast = _curve(tmp_path, "compile", "bf16")
    assert len(eager) == len(fast) == STEPS
    if os.environ.get("DEPTH_NET_CURVES_OUT"):
        with open(os.environ["DEPTH_NET_CURVES_OUT"], "w", encoding="utf-8") as fh:
            json.dump({"eager_fp32": eager, "compile_bf16": fast}, fh)
    end_eager, end_fast = sum(eager[-50:]) / 50, sum(fast[-50:]) / 50
    assert end_eager < 0.7 * sum(eager[:20]) / 20  # it learned at all
    assert abs(end_fast - end_eager) <= 0.03 * end_eager, (end_eager, end_fast)
