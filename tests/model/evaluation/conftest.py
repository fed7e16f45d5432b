"""Fixtures for evaluate / inference: a random tiny network checkpoint and spec helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from model.config import NetworkConfig
from model.network import build_network

REAL = Path(os.environ.get("DEPTH_NET_SHARED", Path(__file__).resolve().parents[3].parent / "shared")) / "data" / "real"


def tiny_model_overrides() -> list[str]:
    """`model.<field>=<value>` overrides that make the spec's model section NetworkConfig.tiny()."""
    out = []
    for key, value in NetworkConfig.tiny().to_dict().items():
        if key == "stereo_backbone":
            continue
        text = str(list(value)) if isinstance(value, (list, tuple)) else str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f"model.{key}={text}")
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """Our checkpoint format `{"state_dict", "spec"}` of a random NetworkConfig.tiny() network."""
    torch.manual_seed(0)
    cfg = NetworkConfig.tiny()
    net = build_network(cfg)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save({"state_dict": net.state_dict(), "spec": {"model": cfg.to_dict()}}, path)
    return path


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not (REAL / "kitti2015.txt").is_file():
        pytest.skip(f"shared real samples not found at {REAL}")
    return REAL
