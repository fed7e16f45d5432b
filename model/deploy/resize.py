"""The deploy resize-and-rescale rule.

An engine has a fixed input size H_e x W_e. Images of any size H x W are resized
(bilinear) to it, and the predicted disparity is resized back to H x W and
multiplied by W / W_e: disparity is a horizontal distance in pixels, so it
scales with the width (the height ratio does not enter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize_pair", "restore_disparity"]


def resize_pair(left: torch.Tensor, right: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinearly resize both [B,3,H,W] images to `size` = (H_e, W_e); unchanged when already that size."""
    if tuple(left.shape[-2:]) == tuple(size):
        return left, right
    return (F.interpolate(left, size=size, mode="bilinear", align_corners=False),
            F.interpolate(right, size=size, mode="bilinear", align_corners=False))


def restore_disparity(disp: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Disparity [B,1,H_e,W_e] predicted at the engine size -> [B,1,H,W] in original-width pixels.

    Args:
        disp: the engine's output.
        size: the original (H, W).
    Returns:
        bilinear resize to (H, W), times W / W_e.
    """
    engine_w = disp.shape[-1]
    if tuple(disp.shape[-2:]) == tuple(size):
        return disp
    out = F.interpolate(disp, size=size, mode="bilinear", align_corners=False)
    return out * (size[1] / engine_w)
