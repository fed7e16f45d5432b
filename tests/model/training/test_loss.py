"""The FFS training loss (pure)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.training.loss import compute_sequence_loss, sequence_weights, valid_disparity_mask


def test_sequence_weights():
    w = sequence_weights(16)
    assert w[-1] == 1.0 and w[0] == pytest.approx(0.9 ** 15)
    assert sequence_weights(22)[0] == pytest.approx(0.9 ** 15)
    assert sequence_weights(1) == [1.0]
    with pytest.raises(ValueError):
        sequence_weights(0)


def test_valid_mask_excludes_bad_gt():
    gt = torch.tensor([1.0, 0.0, -2.0, float("inf"), float("nan"), 192.0, 191.0]).view(1, 1, 1, 7)
    assert valid_disparity_mask(gt, 192).flatten().tolist() == [True, False, False, False, False, False, True]
    mask = torch.tensor([1.0, 1, 1, 1, 1, 1, 0]).view(1, 1, 1, 7)
    assert valid_disparity_mask(gt, 192, mask).flatten().tolist()[-1] is False


def test_loss_matches_formula_and_ignores_invalid():
    torch.manual_seed(0)
    gt = torch.rand(2, 1, 8, 12) * 20 + 1
    gt[0, 0, 0, :4] = float("inf")
    gt[1, 0, 2, 3] = float("nan")
    gt[1, 0, 5, 5] = 500.0
    init = (torch.rand(2, 1, 2, 3) * 5).requires_grad_()
    preds = [(torch.rand(2, 1, 8, 12) * 20).requires_grad_() for _ in range(3)]
    loss, parts = compute_sequence_loss(init, preds, gt, None, 192)
    mask = torch.isfinite(gt) & (gt > 0) & (gt < 192)
    gq = gt[:, :, ::4, ::4] / 4
    mq = mask[:, :, ::4, ::4]
    expect = F.smooth_l1_loss(init[mq], gq[mq])
    for w, p in zip(sequence_weights(3), preds):
        expect = expect + w * (p[mask] - gt[mask]).abs().mean()
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(expect.item(), rel=1e-5)
    assert parts["epe"].item() == pytest.approx((preds[-1][mask] - gt[mask]).abs().mean().item(), rel=1e-5)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in preds)


def test_loss_single_iteration_and_empty_mask():
    gt = torch.zeros(1, 1, 8, 8)  # no valid pixel
    init = torch.ones(1, 1, 2, 2, requires_grad=True)
    pred = torch.ones(1, 1, 8, 8, requires_grad=True)
    loss, _ = compute_sequence_loss(init, [pred], gt, None, 192)
    assert loss.item() == 0.0
    loss.backward()
    gt = torch.full((1, 1, 8, 8), 4.0)
    loss, _ = compute_sequence_loss(torch.ones(1, 1, 2, 2), [torch.full((1, 1, 8, 8), 6.0)], gt, None, 192)
    assert loss.item() == pytest.approx(0.0 + 2.0)
