"""Initial disparity: one Conv3d classifier over the aggregated volume, softmax over D, soft-argmin."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VolumeClassifier", "soft_argmin"]


def soft_argmin(logits: torch.Tensor) -> torch.Tensor:
    """Expected disparity index under softmax over dim 1, in fp32.

    Args:
        logits: [B, D, h, w].
    Returns:
        [B, 1, h, w] in 1/4-resolution pixels (0 .. D-1).
    """
    prob = torch.softmax(logits.float(), dim=1)
    bins = torch.arange(logits.shape[1], dtype=prob.dtype, device=prob.device).reshape(1, -1, 1, 1)
    return (prob * bins).sum(dim=1, keepdim=True)


class VolumeClassifier(nn.Module):
    """`classifier`: Conv3d 3^3 volume_dim -> 1 (with bias); returns logits [B, D, h, w]."""

    def __init__(self, volume_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv3d(volume_dim, 1, 3, 1, 1))

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.layers(volume).squeeze(1)
