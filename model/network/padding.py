"""Pad images to a multiple of 32 and crop predictions back (replicate, centred: TAO's 'sintel')."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["InputPadder"]


class InputPadder:
    """Replicate-pad [.., H, W] tensors so H and W divide by `divis_by`, split evenly on both sides.

    Args:
        shape: the input shape (only the last two entries are used).
        divis_by: the required multiple (32 for FFS).
    """

    def __init__(self, shape: torch.Size | tuple[int, ...], divis_by: int = 32) -> None:
        if divis_by < 1:
            raise ValueError(f"divis_by must be >= 1, got {divis_by}")
        self.height, self.width = int(shape[-2]), int(shape[-1])
        pad_h = (-self.height) % divis_by
        pad_w = (-self.width) % divis_by
        # F.pad order: (left, right, top, bottom); the extra pixel of an odd pad goes right / bottom
        self.pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)

    def pad(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """Pad each [B, C, H, W] tensor (replicate)."""
        return [F.pad(t, self.pads, mode="replicate") if any(self.pads) else t for t in tensors]

    def unpad(self, t: torch.Tensor) -> torch.Tensor:
        """Crop a padded [..., H', W'] tensor back to the original H x W."""
        left, _, top, _ = self.pads
        return t[..., top:top + self.height, left:left + self.width]
