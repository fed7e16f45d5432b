"""ImageNet normalisation of uint8 RGB images into network inputs."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "normalize_image"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """Turn a uint8 HxWx3 RGB image into an ImageNet-normalised float32 [3,H,W] tensor."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"normalize_image needs HxWx3, got shape {image.shape}")
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(IMAGENET_STD, dtype=np.float32) * 255.0)
    chw = (image.astype(np.float32) - mean) * inv_std  # HxWx3
    return torch.from_numpy(np.ascontiguousarray(chw.transpose(2, 0, 1)))  # [3,H,W]
