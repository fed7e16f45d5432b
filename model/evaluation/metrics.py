"""Stereo disparity metrics: pure functions, per image, then averaged over images.

Valid pixels: finite GT, `0 < gt < max_disparity`, and the mask where given.
Per image: `epe` mean |pred - gt| (px), `bp1`/`bp2`/`bp3` fraction with error
> 1/2/3 px, `d1` fraction with error > 3 px AND > 5 % of GT, `rmse` sqrt of the
mean squared error. An image without a valid pixel has NaN metrics and is left
out of the average; a set where no image has one cannot be scored (RunFailed).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch

from model.errors import RunFailed

__all__ = ["METRIC_NAMES", "valid_mask", "compute_per_image", "mean_over_images", "compute_metrics"]

METRIC_NAMES = ("epe", "bp1", "bp2", "bp3", "d1", "rmse")


def _as_batch(t: torch.Tensor) -> torch.Tensor:
    """[H,W] / [B,H,W] / [B,1,H,W] -> [B, H*W] float64."""
    if t.dim() == 2:
        t = t[None]
    if t.dim() == 4:
        if t.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {tuple(t.shape)}")
        t = t[:, 0]
    return t.reshape(t.shape[0], -1).double()


def valid_mask(gt: torch.Tensor, max_disparity: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Bool [B, H*W]: finite GT in (0, max_disparity), and mask > 0.5 where a mask is given."""
    g = _as_batch(gt)
    valid = torch.isfinite(g) & (g > 0) & (g < max_disparity)
    if mask is not None:
        valid &= _as_batch(mask) > 0.5
    return valid


def compute_per_image(pred: torch.Tensor, gt: torch.Tensor, max_disparity: float,
                      mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Metrics of each image of a batch.

    Args:
        pred: predicted disparity, [B,1,H,W], [B,H,W] or [H,W] (px).
        gt: ground-truth disparity, same shape (inf / 0 / out-of-range = invalid).
        max_disparity: GT at or above this is invalid.
        mask: optional validity mask, same shape (> 0.5 = valid).
    Returns:
        {name: float64 [B]} for METRIC_NAMES (NaN where an image has no valid pixel), plus
        `n_valid` (valid pixel count per image).
    """
    p, g = _as_batch(pred), _as_batch(gt)
    if p.shape != g.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape")
    valid = valid_mask(gt, max_disparity, mask)
    n = valid.sum(dim=1).double()
    g0 = torch.where(valid, g, torch.zeros_like(g))
    err = torch.where(valid, (p - g0).abs(), torch.zeros_like(p))
    # A NaN / inf prediction on a valid pixel is an infinite error: it fails the run, never reads as 0.
    err = torch.where(valid & ~torch.isfinite(p), torch.full_like(p, math.inf), err)

    def frac(hit: torch.Tensor) -> torch.Tensor:
        return (hit & valid).sum(dim=1).double() / n

    out = {
        "epe": err.sum(dim=1) / n,
        "bp1": frac(err > 1.0),
        "bp2": frac(err > 2.0),
        "bp3": frac(err > 3.0),
        "d1": frac((err > 3.0) & (err > 0.05 * g0)),
        "rmse": torch.sqrt((err * err).sum(dim=1) / n),
    }
    empty = n == 0
    out = {k: torch.where(empty, torch.full_like(v, math.nan), v) for k, v in out.items()}
    out["n_valid"] = n
    return out


def mean_over_images(per_image: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Average each metric over the images that have valid pixels.

    Args:
        per_image: one mapping per image with the METRIC_NAMES keys and `n_valid`.
    Returns:
        {name: mean} plus `num_images` (scored) and `num_skipped` (no valid pixel).
    Raises:
        RunFailed: no image has a valid pixel, so no metric can be computed.
    """
    rows = list(per_image)
    scored = [r for r in rows if float(r.get("n_valid", 1)) > 0]
    if not scored:
        raise RunFailed(f"metric could not be computed: none of the {len(rows)} images has a valid GT pixel "
                        f"(finite, 0 < gt < max_disparity, inside the mask)")
    out = {name: sum(float(r[name]) for r in scored) / len(scored) for name in METRIC_NAMES}
    out["num_images"] = len(scored)
    out["num_skipped"] = len(rows) - len(scored)
    return out


def compute_metrics(pred: torch.Tensor, gt: torch.Tensor, max_disparity: float,
                    mask: torch.Tensor | None = None) -> dict[str, float]:
    """Per-image metrics of a batch averaged over its images (see `mean_over_images`)."""
    per = compute_per_image(pred, gt, max_disparity, mask)
    rows = [{k: float(v[i]) for k, v in per.items()} for i in range(per["n_valid"].shape[0])]
    return mean_over_images(rows)
