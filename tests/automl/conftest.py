"""Tiny AutoML specs for CPU tests: tiny network, 64 x 96 Synthetic pairs, a few epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.config import NetworkConfig

_NO_AUG = {"crop_size": [64, 96], "min_scale": 0.0, "max_scale": 0.0, "stretch_prob": 0.0,
           "yjitter_prob": 0.0, "color_aug_prob": 0.0, "eraser_aug_prob": 0.0}


def _synthetic(num: int, seed: int) -> dict:
    return {"dataset_name": "Synthetic", "num_samples": num, "seed": seed, "image_size": [64, 96]}


def tiny_automl_spec(results_dir: Path, **automl) -> dict:
    """A whole spec: tiny network, 2 train / 2 val Synthetic pairs, an `automl` section."""
    model = NetworkConfig.tiny().to_dict()
    model["stereo_backbone"]["edgenext_pretrained_path"] = None
    return {
        "results_dir": str(results_dir),
        "model": model,
        "dataset": {
            "max_disparity": 64,
            "train_dataset": {"data_sources": [_synthetic(2, 0)], "batch_size": 2, "workers": 0,
                              "augmentation": dict(_NO_AUG)},
            "val_dataset": {"data_sources": [_synthetic(2, 7)], "batch_size": 1, "workers": 0},
        },
        "train": {"num_epochs": 3, "seed": 3, "log_every_n_steps": 1, "checkpoint_interval": 1,
                  "optim": {"lr": 1e-3}},
        "evaluate": {"vis": False},
        "automl": {"study_name": "tiny", "n_trials": 4, "max_epochs": 3, "seed": 0, **automl},
    }


@pytest.fixture
def automl_spec(tmp_path):
    """Factory: write a tiny AutoML spec YAML; returns its path."""

    def make(name: str = "spec", **automl) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(tiny_automl_spec(tmp_path / "runs", **automl)), encoding="utf-8")
        return path

    return make
