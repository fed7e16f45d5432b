"""Colourised disparity, error maps and panels."""

from __future__ import annotations

import numpy as np

from model.evaluation.visualize import colorize_depth, colorize_disparity, colorize_error, disparity_range, make_panel


def test_colorize_shape_dtype_and_invalid_black():
    disp = np.linspace(0, 50, 24 * 32, dtype=np.float32).reshape(24, 32)
    disp[0, 0] = np.nan
    rgb = colorize_disparity(disp, vmax=50)
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 0).all()
    # near (large disparity) and far (small) get different colours
    assert not np.array_equal(rgb[-1, -1], rgb[0, 1])


def test_colorize_respects_valid_mask():
    disp = np.full((4, 4), 10.0, np.float32)
    valid = np.zeros((4, 4), bool)
    valid[:2] = True
    rgb = colorize_disparity(disp, 20, valid)
    assert (rgb[2:] == 0).all() and (rgb[:2] != 0).any()


def test_error_map_zero_error_is_dark_and_large_error_bright():
    gt = np.full((2, 2), 10.0, np.float32)
    pred = np.array([[10.0, 10.0], [20.0, 20.0]], np.float32)
    err = colorize_error(pred, gt, np.ones((2, 2), bool))
    assert err[0].sum() < err[1].sum()


def test_range_uses_gt_when_present():
    pred = np.full((2, 2), 100.0, np.float32)
    gt = np.array([[5.0, 40.0], [0.0, 0.0]], np.float32)
    assert disparity_range(pred, gt, gt > 0) == 40.0
    assert disparity_range(pred) == 100.0


def test_panel_layout_with_and_without_gt():
    left = np.zeros((16, 24, 3), np.uint8)
    pred = np.ones((16, 24), np.float32)
    assert make_panel(left, pred).shape == (16, 48, 3)
    gt = np.ones((16, 24), np.float32)
    assert make_panel(left, pred, gt, gt > 0, epe=0.5).shape == (32, 48, 3)


def test_depth_colours_span_the_scale_for_metre_depths():
    depth = np.linspace(4.0, 40.0, 100, dtype=np.float32).reshape(10, 10)  # 1/depth 0.025 .. 0.25 per metre
    depth[0, 0] = 0.0
    rgb = colorize_depth(depth)
    assert (rgb[0, 0] == 0).all()  # no depth: black
    # the nearest pixels take the top of the scale, like the largest disparity does
    assert np.array_equal(rgb[0, 1], colorize_disparity(np.array([[1.0]], np.float32), vmax=1.0)[0, 0])
