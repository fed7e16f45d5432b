"""Tiny training specs for the CPU tests of model/training (64 x 96 Synthetic, tiny network)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from model.spec import load_spec


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def resolved(path: Path, overrides: list[str] = ()) -> dict:
    """`load_spec(path, "train", overrides)`: the spec exactly as `depth_net train` sees it."""
    return load_spec(path, "train", list(overrides))


def step_losses(train_dir: Path) -> dict[int, float]:
    """{global step: train loss} from every CSV log version of a training folder."""
    out: dict[int, float] = {}
    for path in sorted(Path(train_dir).glob("csv_logs/*/metrics.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if row.get("train_loss_step"):
                    out[int(row["step"])] = float(row["train_loss_step"])
    return out


@pytest.fixture
def make_spec(tmp_path, tiny_spec):
    """Factory: (name, overrides, train_repeat, val) -> (spec YAML path, resolved spec dict)."""

    def make(name: str = "run", overrides: list[str] = (), train_repeat: int = 1, val: bool = True):
        spec = tiny_spec(tmp_path / name, train_repeat=train_repeat, val=val,
                         train={"num_epochs": 3, "seed": 3, "log_every_n_steps": 1, "checkpoint_interval": 1,
                                "automl_policy": "off", "optim": {"lr": 1e-3}})
        path = write_spec(tmp_path / f"{name}.yaml", spec)
        return path, resolved(path, overrides)

    return make


@pytest.fixture
def read_losses():
    """`step_losses(train_dir)` as a fixture (conftest helpers are not importable in importlib mode)."""
    return step_losses
