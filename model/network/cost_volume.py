"""Hybrid cost volume at 1/4 resolution: group-wise correlation + concatenation (pure functions).

No Python loop over disparities: the shift by d is one gather with a static index table, so any
width traces / exports (the reference's per-disparity slicing crashes the ONNX exporter for
w < max_disparity / 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["disparity_shift_index", "build_gwc_volume", "build_concat_volume", "row_correlation"]


def disparity_shift_index(width: int, num_disp: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Index table for "the right pixel x - d".

    Returns:
        index [width, num_disp] int64, clamp(x - d, 0); valid [width, num_disp] bool, x - d >= 0.
    """
    x = torch.arange(width, device=device).unsqueeze(1)
    d = torch.arange(num_disp, device=device).unsqueeze(0)
    shifted = x - d
    return shifted.clamp(min=0), shifted >= 0


def _take_shifted(rows: torch.Tensor, num_disp: int) -> torch.Tensor:
    """rows [..., w, w'] (value for left x, right x') -> [..., w, D] value at x' = x - d, 0 if x < d."""
    w = rows.shape[-2]
    index, valid = disparity_shift_index(w, num_disp, rows.device)
    index = index.expand(*rows.shape[:-1], num_disp)
    return rows.gather(-1, index) * valid.to(rows.dtype)


def build_gwc_volume(left: torch.Tensor, right: torch.Tensor, num_disp: int, num_groups: int,
                     normalize: bool = True) -> torch.Tensor:
    """Group-wise correlation volume.

    Args:
        left, right: [B, C, h, w] 1/4-resolution features; C divisible by num_groups.
        num_disp: D = max_disparity / 4.
        normalize: L2-normalise each group vector first (cosine similarity), in fp32.
    Returns:
        [B, G, D, h, w], entry <L_g(y, x), R_g(y, x - d)>, zero where x < d.
    """
    b, c, h, w = left.shape
    lg = left.float().reshape(b, num_groups, c // num_groups, h, w)
    rg = right.float().reshape(b, num_groups, c // num_groups, h, w)
    if normalize:
        lg = F.normalize(lg, dim=2)
        rg = F.normalize(rg, dim=2)
    # all pairs along each row: [B, G, h, w, w'] (O(h w^2 C) but one batched matmul)
    rows = torch.matmul(lg.permute(0, 1, 3, 4, 2), rg.permute(0, 1, 3, 2, 4))
    return _take_shifted(rows, num_disp).permute(0, 1, 4, 2, 3)


def build_concat_volume(left: torch.Tensor, right: torch.Tensor, num_disp: int) -> torch.Tensor:
    """Concatenation volume: [B, 2C, D, h, w] = [left (every x), right shifted by d (0 where x < d)]."""
    b, c, h, w = left.shape
    index, valid = disparity_shift_index(w, num_disp, left.device)
    shifted = right[..., index.reshape(-1)].reshape(b, c, h, w, num_disp)  # [B, C, h, w, D]
    shifted = (shifted * valid.to(right.dtype)).permute(0, 1, 4, 2, 3)
    return torch.cat([left.unsqueeze(2).expand(b, c, num_disp, h, w), shifted], dim=1)


def row_correlation(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Cosine correlation of every left pixel with every right pixel of the same row (fp32).

    Args:
        left, right: [B, C, h, w].
    Returns:
        [B, h, w, w'].
    """
    lf = F.normalize(left.float(), dim=1).permute(0, 2, 3, 1)  # [B, h, w, C]
    rf = F.normalize(right.float(), dim=1).permute(0, 2, 1, 3)  # [B, h, C, w']
    return torch.matmul(lf, rf)
