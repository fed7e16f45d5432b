"""Colourised disparity, error maps and panels."""

from __future__ import annotations

import numpy as np

import cv2
import pytest

from model.evaluation.annotate import colour_bar, font_for, put_label, text_tile
from model.evaluation.visualize import (colorize_depth, colorize_disparity, colorize_error, depth_picture, depth_range,
                                        disparity_picture, disparity_range, make_panel)


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


def _bar_height(width: int) -> int:
    return colour_bar(width, 0.0, 1.0, cv2.COLORMAP_TURBO, "px").shape[0]


def test_panel_layout_with_and_without_gt():
    left = np.zeros((16, 24, 3), np.uint8)
    pred = np.ones((16, 24), np.float32)
    bar = _bar_height(24)
    assert make_panel(left, pred).shape == (16 + bar, 48, 3)
    gt = np.ones((16, 24), np.float32)
    assert make_panel(left, pred, gt, gt > 0, epe=0.5).shape == (2 * (16 + bar), 48, 3)


def test_depth_colours_follow_metres_near_red():
    depth = np.linspace(4.0, 40.0, 100, dtype=np.float32).reshape(10, 10)
    depth[0, 0] = 0.0
    rgb = colorize_depth(depth, float(depth[0, 1]), 40.0)
    assert (rgb[0, 0] == 0).all()  # no depth: black
    top = colorize_disparity(np.array([[1.0]], np.float32), vmax=1.0)[0, 0]  # the scale's warm end
    assert np.array_equal(rgb[0, 1], top) and not np.array_equal(rgb[-1, -1], top)


@pytest.mark.parametrize("text", ["left", "error, EPE 1.23 px", "ground truth"])
def test_label_is_drawn_once_in_one_box(text):
    """On a pure red picture, a label drawn once (white text on its black box) leaves only grey pixels.

    The old label drew a thick black outline and a thin white text as two passes; where the two
    passes were measured apart (OpenCV 5 text metrics) the text ghosted. An outline blended with
    the red picture (or a second pass off the box) leaves reddish pixels, which this counts.
    """
    red = np.zeros((120, 640, 3), np.uint8)
    red[..., 0] = 255
    out = put_label(red, text)
    changed = (out != red).any(axis=2)
    assert changed.any()
    ys, xs = np.nonzero(changed)
    box = out[: ys.max() + 1, : xs.max() + 1]
    assert (box[..., 0] == box[..., 1]).all() and (box[..., 1] == box[..., 2]).all()  # grey only: one layer
    assert ys.min() == 0 and xs.min() == 0  # one box at the corner, nothing stray elsewhere
    assert (out[ys.max() + 1:] == red[ys.max() + 1:]).all() and (out[:, xs.max() + 1:] == red[:, xs.max() + 1:]).all()
    bright = box[..., 0] >= 200
    assert 0.05 < bright.mean() < 0.6  # legible: real strokes, white on black
    assert (box[0, :, 0] == 0).all() and (box[:, 0, 0] == 0).all()  # the margin: text never touches the edge


def test_text_tile_holds_every_pixel_the_text_draws():
    scale, thickness = font_for(900)
    tile = text_tile("EPE 1.23 px", scale, thickness)
    canvas = np.zeros((200, 800), np.uint8)
    cv2.putText(canvas, "EPE 1.23 px", (50, 100), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    assert (tile > 0).sum() == (canvas > 0).sum()  # cropped to the text, never clipping it


def test_colour_bar_runs_from_the_map_bottom_to_top_with_ticks():
    bar = colour_bar(300, 0.0, 50.0, cv2.COLORMAP_TURBO, "px")
    lut = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_TURBO)[0, :, ::-1]
    assert np.array_equal(bar[1, 0], lut[0]) and np.array_equal(bar[1, -1], lut[1])
    ticks = bar[bar.shape[0] // 2 + 2:]
    assert (ticks > 200).any()  # the tick values are written under the gradient
    reverse = colour_bar(300, 0.0, 50.0, cv2.COLORMAP_TURBO, "m", reverse=True)
    assert np.array_equal(reverse[1, 0], lut[1])


def test_depth_picture_is_metres_not_the_disparity_picture():
    """depth/<name>.png: linear in metres over its own range, unlike the disparity (1/depth) picture."""
    disp = np.tile(np.linspace(5.0, 50.0, 64, dtype=np.float32), (48, 1))
    focal, baseline = 500.0, 0.2
    depth = focal * baseline / disp  # 2 .. 20 m
    near, far = depth_range(depth)
    assert 2.0 <= near < 2.3 and 18.0 < far <= 20.0  # the scale's ends are metres
    rgb = colorize_depth(depth, near, far)
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_TURBO)[0, :, ::-1]
    for col in (5, 30, 60):  # each colour is where that depth in metres sits on the scale
        d = float(depth[0, col])
        index = int(np.round(np.clip((far - d) / (far - near), 0, 1) * 255))
        assert np.array_equal(rgb[0, col], lut[index])
    assert not np.array_equal(rgb, colorize_disparity(disp))
    picture, disparity = depth_picture(depth), disparity_picture(disp)
    assert picture.shape[0] > depth.shape[0] and not np.array_equal(picture, disparity)


def test_tick_values_differ_on_a_narrow_scale():
    """A nearly flat depth map (13.9 .. 14.1 m) must not read '14 14 14 m'."""
    from model.evaluation.annotate import _fmt, _ticks

    assert len({_fmt(v, 0.2) for v in _ticks(13.9, 14.1)}) == 3
    assert [_fmt(v, 64.0) for v in _ticks(0.0, 64.0)] == ["0", "32", "64"]
