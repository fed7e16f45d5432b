"""Fixtures of the network tests: the golden bp2 files and a bp2 network holding their weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.config import NetworkConfig
from model.network import build_network
from model.network.checkpoint import load_network_weights


@pytest.fixture(scope="session")
def golden_dir(shared_dir) -> Path:
    path = shared_dir / "data" / "golden"
    if not (path / "ffs_bp2_random_weights_fp16.pt").is_file():
        pytest.skip(f"golden bp2 files not found in {path}")
    return path


@pytest.fixture(scope="session")
def manifest(golden_dir) -> dict:
    return json.loads((golden_dir / "ffs_bp2_state_dict_manifest.json").read_text())


@pytest.fixture(scope="session")
def tao_weights(golden_dir) -> dict[str, torch.Tensor]:
    """The golden weights in TAO layout, floats as fp32 (bit-exact to what produced the goldens)."""
    raw = torch.load(golden_dir / "ffs_bp2_random_weights_fp16.pt", map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in raw.items()}


@pytest.fixture()
def bp2_net(tao_weights):
    net = build_network(NetworkConfig())
    load_network_weights(net, tao_weights)
    return net
