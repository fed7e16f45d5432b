"""Metrics against hand-computed values: masks, invalid GT, batch > 1, empty images."""

from __future__ import annotations

import math

import pytest
import torch

from model.errors import RunFailed
from model.evaluation.metrics import compute_metrics, compute_per_image, mean_over_images, valid_mask

INF = math.inf


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_single_image_hand_computed():
    gt = _t([[10.0, 20.0, 30.0, 40.0]])
    pred = _t([[10.5, 22.5, 33.5, 40.0]])  # errors 0.5, 2.5, 3.5, 0
    m = compute_metrics(pred[None], gt[None], max_disparity=192)
    assert m["epe"] == pytest.approx((0.5 + 2.5 + 3.5 + 0) / 4)
    assert m["bp1"] == pytest.approx(2 / 4)
    assert m["bp2"] == pytest.approx(2 / 4)
    assert m["bp3"] == pytest.approx(1 / 4)
    # d1: err > 3 and err > 0.05 * gt: only 3.5 > 3 and 3.5 > 1.5
    assert m["d1"] == pytest.approx(1 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((0.25 + 6.25 + 12.25 + 0) / 4))
    assert m["num_images"] == 1


def test_d1_needs_both_absolute_and_relative_error():
    gt = _t([[100.0, 100.0]])
    pred = _t([[104.0, 106.0]])  # 4 px > 3 but 4 < 5 % of 100; 6 px > both
    m = compute_metrics(pred[None], gt[None], max_disparity=192)
    assert m["bp3"] == pytest.approx(1.0)
    assert m["d1"] == pytest.approx(0.5)


def test_invalid_gt_excluded_inf_zero_and_out_of_range():
    gt = _t([[INF, 0.0, 200.0, 10.0, math.nan]])
    pred = _t([[0.0, 50.0, 0.0, 11.0, 3.0]])
    m = compute_metrics(pred[None], gt[None], max_disparity=192)
    assert m["epe"] == pytest.approx(1.0)
    assert m["bp1"] == 0.0
    assert valid_mask(gt[None], 192).sum().item() == 1


def test_mask_honoured():
    gt = _t([[10.0, 10.0, 10.0, 10.0]])
    pred = _t([[10.0, 20.0, 10.0, 30.0]])
    mask = _t([[1.0, 0.0, 1.0, 0.0]])
    m = compute_metrics(pred[None], gt[None], 192, mask[None])
    assert m["epe"] == 0.0 and m["bp3"] == 0.0
    unmasked = compute_metrics(pred[None], gt[None], 192)
    assert unmasked["epe"] == pytest.approx(30 / 4)


def test_batch_average_is_per_image_not_per_pixel():
    # image 0: 1 valid pixel with error 4; image 1: 3 valid pixels with error 0.
    gt = torch.stack([_t([[5.0, 0.0, 0.0, 0.0]]), _t([[5.0, 5.0, 5.0, 0.0]])])[:, None]
    pred = torch.stack([_t([[9.0, 0.0, 0.0, 0.0]]), _t([[5.0, 5.0, 5.0, 7.0]])])[:, None]
    m = compute_metrics(pred, gt, 192)
    assert m["epe"] == pytest.approx((4.0 + 0.0) / 2)  # per-pixel pooling would give 1.0
    assert m["bp3"] == pytest.approx((1.0 + 0.0) / 2)
    assert m["rmse"] == pytest.approx((4.0 + 0.0) / 2)  # sqrt once, per image
    per = compute_per_image(pred, gt, 192)
    assert per["n_valid"].tolist() == [1.0, 3.0]
    assert per["epe"].tolist() == pytest.approx([4.0, 0.0])


def test_batch_of_one_equals_batch_of_many():
    torch.manual_seed(0)
    gt = torch.rand(3, 1, 8, 12) * 50
    pred = gt + torch.randn_like(gt) * 3
    whole = compute_metrics(pred, gt, 192)
    one_by_one = mean_over_images(
        {k: float(v[0]) for k, v in compute_per_image(pred[i:i + 1], gt[i:i + 1], 192).items()} for i in range(3))
    for name in ("epe", "bp1", "bp2", "bp3", "d1", "rmse"):
        assert whole[name] == pytest.approx(one_by_one[name])


def test_image_without_valid_pixel_is_skipped():
    gt = torch.stack([_t([[INF, INF]]), _t([[4.0, 4.0]])])[:, None]
    pred = torch.stack([_t([[1.0, 1.0]]), _t([[5.0, 4.0]])])[:, None]
    m = compute_metrics(pred, gt, 192)
    assert m["epe"] == pytest.approx(0.5)
    assert m["num_images"] == 1 and m["num_skipped"] == 1
    assert math.isnan(compute_per_image(pred, gt, 192)["epe"][0].item())


def test_no_valid_pixel_anywhere_fails():
    gt = _t([[INF, 0.0]])
    with pytest.raises(RunFailed, match="could not be computed"):
        compute_metrics(gt[None] * 0, gt[None], 192)


def test_nan_prediction_is_not_a_perfect_score():
    gt = _t([[10.0, 10.0]])
    pred = _t([[math.nan, 10.0]])
    m = compute_metrics(pred[None], gt[None], 192)
    assert not math.isfinite(m["epe"])
    assert m["bp3"] == pytest.approx(0.5)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError):
        compute_per_image(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5), 192)
