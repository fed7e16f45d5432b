"""Optimizers and per-step learning-rate laws (pure, no training)."""

from __future__ import annotations

import math

import pytest
import torch

from model.errors import SpecError
from model.training.optim import SCHEDULERS, build_optimizer, build_scheduler, lr_at_step


def _lrs(optim: dict, total: int) -> list[float]:
    """Drive a real optimizer + scheduler for `total` steps and record the lr of each step."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], optim)
    sched = build_scheduler(opt, optim, total)
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return seen


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_changes_lr_per_step(name):
    optim = {"optimizer": "AdamW", "lr": 1e-3, "lr_scheduler": name, "lr_steps": [10, 20],
             "lr_step_size": 10, "lr_decay": 0.5, "min_lr": 1e-6, "warmup_steps": 0}
    lrs = _lrs(optim, 40)
    assert len(set(round(v, 12) for v in lrs[:25])) > 1, lrs  # moves within one "epoch" of steps
    assert all(v >= 1e-6 * 0.999 for v in lrs)
    assert lrs == pytest.approx([lr_at_step(optim, 40, s) for s in range(40)])


def test_multistep_and_step_values():
    optim = {"lr": 1.0, "lr_scheduler": "MultiStepLR", "lr_steps": [3, 5], "lr_decay": 0.1}
    assert _lrs(optim, 7) == pytest.approx([1, 1, 1, 0.1, 0.1, 0.01, 0.01])
    optim = {"lr": 1.0, "lr_scheduler": "StepLR", "lr_step_size": 2, "lr_decay": 0.5, "min_lr": 0.2}
    assert _lrs(optim, 7) == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25, 0.2])


def test_cosine_and_poly_end_at_min_lr():
    for name in ("CosineAnnealingLR", "PolynomialLR"):
        optim = {"lr": 1.0, "lr_scheduler": name, "min_lr": 0.01}
        assert lr_at_step(optim, 100, 0) == pytest.approx(1.0)
        assert lr_at_step(optim, 100, 100) == pytest.approx(0.01)
        assert lr_at_step(optim, 100, 50) < 1.0


def test_one_cycle_rises_then_falls():
    optim = {"lr": 1.0, "lr_scheduler": "OneCycleLR", "min_lr": 0.0}
    lrs = [lr_at_step(optim, 100, s) for s in range(100)]
    peak = max(range(100), key=lambda s: lrs[s])
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert 20 <= peak <= 35 and lrs[peak] == pytest.approx(1.0, rel=1e-3)
    assert lrs[-1] < lrs[0] / 100


@pytest.mark.parametrize("name", SCHEDULERS)
def test_warmup_really_warms_up(name):
    optim = {"lr": 1e-3, "lr_scheduler": name, "warmup_steps": 10, "lr_steps": [1000],
             "lr_step_size": 1000, "lr_decay": 0.5}
    lrs = _lrs(optim, 50)
    warm = lrs[:10]
    assert all(b > a for a, b in zip(warm, warm[1:])), warm
    assert warm[0] <= lrs[10] / 5
    if name != "OneCycleLR":
        assert lrs[9] == pytest.approx(1e-3)
        assert lrs[0] == pytest.approx(1e-4)


def test_scheduler_resumes_from_state_dict():
    optim = {"lr": 1.0, "lr_scheduler": "CosineAnnealingLR", "warmup_steps": 3, "min_lr": 0.0}
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], optim)
    sched = build_scheduler(opt, optim, 20)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = build_optimizer([param], optim)
    sched2 = build_scheduler(opt2, optim, 20)
    sched2.load_state_dict(state)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == pytest.approx(lr_at_step(optim, 20, 7))


def test_optimizers_and_errors():
    param = torch.nn.Parameter(torch.zeros(1))
    assert isinstance(build_optimizer([param], {"optimizer": "SGD", "lr": 0.1}), torch.optim.SGD)
    assert isinstance(build_optimizer([param], {"optimizer": "AdamW"}), torch.optim.AdamW)
    with pytest.raises(SpecError, match="train.optim.optimizer"):
        build_optimizer([param], {"optimizer": "Adam"})
    with pytest.raises(SpecError, match="train.optim.lr_scheduler"):
        lr_at_step({"lr_scheduler": "Plateau"}, 10, 0)
    assert math.isfinite(lr_at_step({"lr_scheduler": "CosineAnnealingLR"}, 0, 5))
