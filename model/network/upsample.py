"""Context-guided convex upsampling of the 1/4 disparity to full resolution ("spx")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.network.blocks import ConvNormAct

__all__ = ["Stem2", "SpxToHalf", "context_upsample"]


class Stem2(nn.Sequential):
    """`stem_2` on the left image: Conv3x3 s2 + IN + LReLU, Conv3x3 (no bias) + IN + ReLU -> [B,s1,H/2,W/2]."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        s0, s1 = widths
        super().__init__(
            ConvNormAct(3, s0, 3, 2, 1, norm="instance"),
            nn.Conv2d(s0, s1, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(s1),
            nn.ReLU(),
        )


class SpxToHalf(nn.Module):
    """`spx_2_gru`: deconv k4 s2 + LReLU on the mask feature, concat stem_2, Conv3x3 + LReLU."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        w_in, w_mid, w_rem, w_out = widths
        self.conv1 = ConvNormAct(w_in, w_mid, 4, 2, 1, transposed=True, norm=None)
        self.conv2 = ConvNormAct(w_mid + w_rem, w_out, 3, 1, 1, norm=None)

    def forward(self, mask_feat: torch.Tensor, stem_2x: torch.Tensor) -> torch.Tensor:
        # The reference also bilinearly resizes conv1's output to stem_2x's size; the sizes are
        # always equal (H, W multiples of 32), where that resize is an exact identity, so skip it.
        x = self.conv1(mask_feat)  # [B, mid, H/2, W/2]
        return self.conv2(torch.cat([x, stem_2x], dim=1))


def context_upsample(disp: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Full-resolution disparity from 1/4 disparity (1/4 px) and per-pixel 3x3 weight logits.

    Args:
        disp: [B, 1, h, w] in 1/4-resolution pixels.
        logits: [B, 9, 4h, 4w].
    Returns:
        [B, 1, 4h, 4w] in full-resolution pixels: sum_k softmax(logits)_k * (4 disp)(nb_k), where
        nb_k is the k-th 3x3 neighbour (row-major, zero outside) of the pixel's 1/4 cell.
    """
    b, _, h, w = disp.shape
    weights = torch.softmax(logits.float(), dim=1)
    padded = F.pad(disp.float() * 4.0, (1, 1, 1, 1))
    nbs = torch.cat([padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], dim=1)
    nbs = F.interpolate(nbs, size=(4 * h, 4 * w), mode="nearest")  # [B, 9, 4h, 4w]
    return (nbs * weights).sum(dim=1, keepdim=True)
