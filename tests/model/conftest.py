"""A random tiny network and its checkpoint, shared by the export and deploy tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.config import NetworkConfig
from model.network import build_network


@pytest.fixture(scope="session")
def tiny_net():
    """NetworkConfig.tiny() with seed-0 random weights, eval mode."""
    torch.manual_seed(0)
    return build_network(NetworkConfig.tiny()).eval()


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, tiny_net) -> Path:
    """Our checkpoint format {"state_dict", "spec"} of `tiny_net`."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    torch.save({"state_dict": tiny_net.state_dict(), "spec": {"model": NetworkConfig.tiny().to_dict()}}, path)
    return path
