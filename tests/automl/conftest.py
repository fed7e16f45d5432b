"""Tiny AutoML specs for CPU tests: tiny network, 64 x 96 Synthetic pairs, a few epochs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def automl_spec(tmp_path, tiny_spec):
    """Factory: write a tiny AutoML spec YAML (tiny network, 2 train / 2 val Synthetic pairs, an
    `automl` section of 4 trials x 3 epochs plus `**automl`); returns its path."""

    def make(name: str = "spec", **automl) -> Path:
        spec = tiny_spec(tmp_path / "runs",
                         train={"num_epochs": 3, "seed": 3, "log_every_n_steps": 1, "checkpoint_interval": 1,
                                "optim": {"lr": 1e-3}},
                         evaluate={"vis": False},
                         automl={"study_name": "tiny", "n_trials": 4, "max_epochs": 3, "seed": 0, **automl})
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec), encoding="utf-8")
        return path

    return make


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL server .ci/run starts (DEPTH_NET_TEST_POSTGRES_URL); the test is skipped without one."""
    url = os.environ.get("DEPTH_NET_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("DEPTH_NET_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL server and sets it)")
    return url

