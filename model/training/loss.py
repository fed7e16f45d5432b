"""The FFS training loss (FFS_NETWORK.md, section Loss): pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["compute_sequence_loss", "valid_disparity_mask", "sequence_weights"]

# The last prediction weighs 1 and the first 0.9 ** 15, whatever the iteration count.
_GAMMA_SPAN = 15.0
_GAMMA = 0.9


def valid_disparity_mask(
    disp: torch.Tensor, max_disparity: float, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Boolean mask of pixels with usable ground truth.

    Args:
        disp: ground-truth disparity `[B,1,H,W]` (px).
        max_disparity: pixels with `disp >= max_disparity` are excluded.
        valid: optional `[B,1,H,W]` mask (non-zero = usable), e.g. a non-occlusion mask.
    Returns:
        bool `[B,1,H,W]`: finite, `0 < disp < max_disparity`, and `valid`.
    """
    mask = torch.isfinite(disp) & (disp > 0) & (disp < max_disparity)
    if valid is not None:
        mask = mask & (valid > 0.5)
    return mask


def sequence_weights(num_preds: int) -> list[float]:
    """Weights of the N iteration predictions: `(0.9 ** (15 / (N - 1))) ** (N - i - 1)`.

    With N = 1 the single prediction weighs 1 (the formula would divide by zero).
    """
    if num_preds < 1:
        raise ValueError(f"num_preds must be >= 1, got {num_preds}")
    if num_preds == 1:
        return [1.0]
    gamma = _GAMMA ** (_GAMMA_SPAN / (num_preds - 1))
    return [gamma ** (num_preds - i - 1) for i in range(num_preds)]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over `mask`; 0 (with a graph) when the mask is empty."""
    count = mask.sum()
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / count.clamp(min=1)


def compute_sequence_loss(
    init_disp: torch.Tensor,
    disp_preds: list[torch.Tensor],
    disp_gt: torch.Tensor,
    valid: torch.Tensor | None,
    max_disparity: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """FFS loss: smooth-L1 on the 1/4-res initial disparity plus weighted L1 per iteration.

    Args:
        init_disp: `[B,1,H/4,W/4]` initial disparity in 1/4-resolution pixels.
        disp_preds: N tensors `[B,1,H,W]`, one full-resolution prediction per iteration.
        disp_gt: `[B,1,H,W]` ground truth (px); invalid pixels may hold anything (inf, nan, 0).
        valid: optional `[B,1,H,W]` mask (1 = usable) combined with the GT checks.
        max_disparity: GT at or above it is ignored.
    Returns:
        (loss scalar, parts) where parts holds detached `init_loss`, `seq_loss` and `epe`
        (of the last prediction, px, over valid pixels).
    """
    mask = valid_disparity_mask(disp_gt, max_disparity, valid)  # [B,1,H,W] bool
    gt = torch.where(mask, disp_gt, torch.zeros_like(disp_gt))  # no nan/inf reaches autograd

    # GT and mask at 1/4 resolution by nearest sampling, GT rescaled to 1/4-res pixels.
    size = init_disp.shape[-2:]
    gt_q = F.interpolate(gt, size=size, mode="nearest") / 4.0  # [B,1,H/4,W/4]
    mask_q = F.interpolate(mask.float(), size=size, mode="nearest") > 0.5
    init_err = F.smooth_l1_loss(init_disp.float(), gt_q, reduction="none")
    init_loss = _masked_mean(init_err, mask_q)

    seq_loss = torch.zeros((), device=gt.device)
    for weight, pred in zip(sequence_weights(len(disp_preds)), disp_preds):
        seq_loss = seq_loss + weight * _masked_mean((pred.float() - gt).abs(), mask)

    loss = init_loss + seq_loss
    with torch.no_grad():
        epe = _masked_mean((disp_preds[-1].float() - gt).abs(), mask)
    parts = {"init_loss": init_loss.detach(), "seq_loss": seq_loss.detach(), "epe": epe}
    return loss, parts
