"""Optimizers and per-step learning-rate laws from the spec's `train.optim` section.

Every scheduler is a pure function of the optimizer step (`lr_at_step`), wrapped in a
`LambdaLR` that Lightning steps after every optimizer step. Step counts (`lr_steps`,
`lr_step_size`, `warmup_steps`) are optimizer steps, not epochs. The laws:

- warmup (any scheduler): step s < W runs at `lr_main(s) * (s + 1) / W`, so the first step
  uses lr / W and step W - 1 the full value;
- MultiStepLR: `lr * lr_decay ** (#milestones in lr_steps <= s)`, floored at `min_lr`;
- StepLR: `lr * lr_decay ** (s // lr_step_size)`, floored at `min_lr`;
- CosineAnnealingLR: cosine from `lr` down to `min_lr` over the steps after warmup;
- PolynomialLR: `min_lr + (lr - min_lr) * (1 - t / T) ** lr_decay` (the schema's power) over
  the steps after warmup;
- OneCycleLR: torch's one-cycle shape (cosine up from lr/25 over the first 30 %, then
  cosine down to `min_lr`, or lr / 25e4 when `min_lr` is 0).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

import torch

from model.errors import SpecError

__all__ = ["OPTIMIZERS", "SCHEDULERS", "build_optimizer", "build_scheduler", "lr_at_step"]

OPTIMIZERS = ("AdamW", "SGD")
SCHEDULERS = ("MultiStepLR", "StepLR", "CosineAnnealingLR", "OneCycleLR", "PolynomialLR")

_SGD_MOMENTUM = 0.9
_ONECYCLE_PCT_START = 0.3
_ONECYCLE_DIV = 25.0
_ONECYCLE_FINAL_DIV = 1e4


def _get(optim: dict, key: str, default):
    value = optim.get(key, default)
    return default if value is None else value


def build_optimizer(params: Iterable[torch.nn.Parameter], optim: dict, fused: bool = False) -> torch.optim.Optimizer:
    """The optimizer named by `optim["optimizer"]` (AdamW, or SGD with `momentum`, default 0.9).

    Args:
        params: the parameters to train.
        optim: the spec's `train.optim` dict (`optimizer`, `lr`, `weight_decay`).
        fused: use the fused CUDA kernel (one launch for all parameters; every parameter on CUDA).
    """
    name = _get(optim, "optimizer", "AdamW")
    lr = float(_get(optim, "lr", 1e-4))
    weight_decay = float(_get(optim, "weight_decay", 1e-5))
    if not lr > 0:
        raise SpecError(f"train.optim.lr: {lr} must be > 0")
    if name == "AdamW":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True if fused else None)
    if name == "SGD":
        momentum = float(_get(optim, "momentum", _SGD_MOMENTUM))
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               fused=True if fused else None)
    raise SpecError(f"train.optim.optimizer: {name!r} is not one of {list(OPTIMIZERS)}")


def _main_lr(optim: dict, total_steps: int, step: int) -> float:
    """The scheduler's lr at `step`, before warmup scaling."""
    name = _get(optim, "lr_scheduler", "MultiStepLR")
    lr = float(_get(optim, "lr", 1e-4))
    min_lr = float(_get(optim, "min_lr", 0.0))
    decay = float(_get(optim, "lr_decay", 0.1))
    warmup = int(_get(optim, "warmup_steps", 0))
    if name == "MultiStepLR":
        milestones = sorted(int(m) for m in _get(optim, "lr_steps", []))
        return max(lr * decay ** bisect.bisect_right(milestones, step), min(min_lr, lr))
    if name == "StepLR":
        size = int(_get(optim, "lr_step_size", 1000))
        if size < 1:
            raise SpecError(f"train.optim.lr_step_size: {size} must be >= 1")
        return max(lr * decay ** (step // size), min(min_lr, lr))
    span = max(1, total_steps - warmup)  # steps the decaying laws run over
    t = min(max(0, step - warmup), span)
    if name == "CosineAnnealingLR":
        return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * t / span))
    if name == "PolynomialLR":
        return min_lr + (lr - min_lr) * (1.0 - t / span) ** decay
    if name == "OneCycleLR":
        return _one_cycle(lr, min_lr, span, t)
    raise SpecError(f"train.optim.lr_scheduler: {name!r} is not one of {list(SCHEDULERS)}")


def _one_cycle(lr: float, min_lr: float, span: int, t: int) -> float:
    """torch.optim.lr_scheduler.OneCycleLR's cosine two-phase law (values only)."""
    start = lr / _ONECYCLE_DIV
    end = min_lr if min_lr > 0 else start / _ONECYCLE_FINAL_DIV
    peak_step = max(1.0, _ONECYCLE_PCT_START * span - 1)
    if t <= peak_step:
        frac, lo, hi = t / peak_step, start, lr
    else:
        frac, lo, hi = (t - peak_step) / max(1.0, span - 1 - peak_step), lr, end
    frac = min(frac, 1.0)
    return hi + (lo - hi) * 0.5 * (1.0 + math.cos(math.pi * frac))


def lr_at_step(optim: dict, total_steps: int, step: int) -> float:
    """The learning rate of optimizer step `step` (0-based), warmup included.

    Args:
        optim: the spec's `train.optim` dict.
        total_steps: optimizer steps of the whole run (the decaying laws end there).
        step: the step index.
    """
    lr = _main_lr(optim, total_steps, step)
    warmup = int(_get(optim, "warmup_steps", 0))
    if warmup < 0:
        raise SpecError(f"train.optim.warmup_steps: {warmup} must be >= 0")
    if step < warmup:
        lr *= (step + 1) / warmup
    return lr


def build_scheduler(
    optimizer: torch.optim.Optimizer, optim: dict, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step `LambdaLR` following `lr_at_step` (sets the step-0 lr at once).

    Args:
        optimizer: built by `build_optimizer` (its lr is the spec's `lr`).
        optim: the spec's `train.optim` dict.
        total_steps: optimizer steps of the whole run.
    """
    base = float(_get(optim, "lr", 1e-4))
    lr_at_step(optim, total_steps, 0)  # validate names and values before training starts

    def factor(step: int) -> float:
        return lr_at_step(optim, total_steps, step) / base

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
