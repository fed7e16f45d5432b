"""The FastFoundationStereo network: `build_network(cfg)` is the only entry that reads a config."""

from __future__ import annotations

from model.config import NetworkConfig
from model.network.stereo_net import FastFoundationStereo

__all__ = ["build_network", "FastFoundationStereo"]


def build_network(cfg: NetworkConfig) -> FastFoundationStereo:
    """Build the network for `cfg` (random init; backbone weights only from a local path if set)."""
    return FastFoundationStereo(cfg)
