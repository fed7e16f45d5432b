"""Every augmentation knob changes the output; geometry rescales the disparity."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from model.data.augment import AugmentationConfig, StereoArrays, augment
from model.data.synthetic import render_stereo_pair
from model.data.synthetic_textures import make_texture

OFF = dict(brightness=[1, 1], contrast=[1, 1], saturation=[1, 1], hue=0.0)


@pytest.fixture(scope="module")
def pair() -> StereoArrays:
    # photometric differences off and a busy texture everywhere: the GT must explain the images
    p = render_stereo_pair(np.random.default_rng(0), 64, 96, max_disparity=64, photometric=False,
                           texture=lambda rng, h, w: make_texture("octaves", rng, h, w))
    return StereoArrays(p.left, p.right, p.disp, np.ones(p.disp.shape, bool), p.disp_right)


def _run(pair: StereoArrays, seed: int = 0, **knobs) -> StereoArrays:
    return augment(pair, AugmentationConfig.from_dict(knobs), np.random.default_rng(seed))


def _photo_error(out: StereoArrays, offset: float = 0.0) -> float:
    """Median |left - right warped by the GT| (small iff the GT fits the images; robust to occlusions)."""
    h, w = out.disp.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(out.right.astype(np.float32), xs - out.disp - offset, ys, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    inside = out.valid & (xs - out.disp > 1)
    return float(np.median(np.abs(warped - out.left).mean(axis=2)[inside]))


def test_all_off_is_identity(pair):
    out = _run(pair)
    for a, b in zip((out.left, out.right, out.disp, out.valid), (pair.left, pair.right, pair.disp, pair.valid)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("log2_scale", [1.0, -0.5])
def test_scale_rescales_disparity(pair, log2_scale):
    out = _run(pair, min_scale=log2_scale, max_scale=log2_scale)
    factor = 2.0 ** log2_scale
    assert out.left.shape == (round(64 * factor), round(96 * factor), 3)
    assert out.disp.max() == pytest.approx(pair.disp.max() * factor, rel=0.05)
    assert _photo_error(out) < 0.25 * _photo_error(out, offset=2.0)  # GT still matches the images


def test_random_scale_range_is_used(pair):
    widths = {_run(pair, seed=s, min_scale=-0.5, max_scale=0.5).left.shape[1] for s in range(6)}
    assert len(widths) > 3 and min(widths) < 96 < max(widths)


def test_stretch_scales_x_and_y_differently_and_disparity_with_x(pair):
    out = _run(pair, seed=1, stretch_prob=1.0, max_stretch=0.5)
    sy, sx = out.left.shape[0] / 64, out.left.shape[1] / 96
    assert abs(sx - sy) > 0.02
    assert out.disp.max() == pytest.approx(pair.disp.max() * sx, rel=0.05)
    assert _photo_error(out) < 0.25 * _photo_error(out, offset=2.0)
    assert _run(pair, seed=1, stretch_prob=0.0, max_stretch=0.5).left.shape == pair.left.shape


def test_crop_takes_a_window(pair):
    out = _run(pair, seed=2, crop_size=[32, 40])
    assert out.left.shape == (32, 40, 3) and out.disp.shape == (32, 40)
    hit = cv2.matchTemplate(pair.left, out.left, cv2.TM_SQDIFF)
    y, x = np.unravel_index(np.argmin(hit), hit.shape)
    assert np.array_equal(pair.disp[y:y + 32, x:x + 40], out.disp)
    small = _run(pair, crop_size=[80, 120])  # larger than the image: scaled up first, disparity too
    assert small.left.shape == (80, 120, 3) and small.disp.max() == pytest.approx(pair.disp.max() * 1.25, rel=0.05)


def test_crop_min_valid_disp_ratio(pair):
    valid = np.zeros((64, 96), bool)
    valid[:32, :48] = True  # GT only in one quarter
    sparse = replace(pair, valid=valid)

    def ratio(**knobs):
        return np.mean([augment(sparse, AugmentationConfig.from_dict({"crop_size": [16, 16], **knobs}),
                                np.random.default_rng(s)).valid.mean() for s in range(20)])

    assert ratio(crop_min_valid_disp_ratio=0.9) > 0.7 > 0.4 > ratio()


def test_yjitter_shifts_right_rows_only(pair):
    out = _run(pair, yjitter_prob=1.0)
    assert np.array_equal(out.left, pair.left) and np.array_equal(out.disp, pair.disp)
    assert not np.array_equal(out.right, pair.right)
    shifts = [s for s in (-2, -1, 1, 2) if np.array_equal(out.right[4:-4], np.roll(pair.right, s, axis=0)[4:-4])]
    assert len(shifts) == 1


@pytest.mark.parametrize("knob", [{"brightness": [0.3, 0.6]}, {"contrast": [0.2, 0.5]},
                                  {"saturation": [0.0, 0.2]}, {"hue": 0.4}])
def test_each_colour_knob_changes_both_views_differently(pair, knob):
    out = _run(pair, seed=3, color_aug_prob=1.0, **{**OFF, **knob})
    assert np.array_equal(out.disp, pair.disp)
    delta_left = out.left.astype(int) - pair.left
    delta_right = out.right.astype(int) - pair.right
    assert np.abs(delta_left).mean() > 2 and np.abs(delta_right).mean() > 2
    assert np.abs(delta_left.mean() - delta_right.mean()) + np.abs(delta_left.std() - delta_right.std()) > 0.1
    assert np.array_equal(_run(pair, seed=3, color_aug_prob=0.0, **knob).left, pair.left)


def test_eraser_paints_the_right_image_only(pair):
    out = _run(pair, eraser_aug_prob=1.0)
    assert np.array_equal(out.left, pair.left) and np.array_equal(out.disp, pair.disp)
    changed = np.any(out.right != pair.right, axis=2)
    assert 0.002 < changed.mean() < 0.2
    assert len(np.unique(out.right[changed], axis=0)) == 1  # one flat colour


def test_vertical_flip(pair):
    out = _run(pair, v_flip_prob=1.0)
    assert np.array_equal(out.left, pair.left[::-1]) and np.array_equal(out.right, pair.right[::-1])
    assert np.array_equal(out.disp, pair.disp[::-1])


def test_horizontal_flip_swaps_mirrors_and_uses_right_gt(pair):
    out = _run(pair, h_flip_prob=1.0)
    assert np.array_equal(out.left, pair.right[:, ::-1]) and np.array_equal(out.right, pair.left[:, ::-1])
    assert np.array_equal(out.disp, pair.disp_right[:, ::-1]) and (out.disp > 0).all()
    assert _photo_error(out) < 0.25 * _photo_error(out, offset=2.0)
    without_right_gt = _run(replace(pair, disp_right=None), h_flip_prob=1.0)
    assert np.array_equal(without_right_gt.left, pair.left)  # not offered without right GT


def test_seeded(pair):
    knobs = dict(crop_size=[32, 32], min_scale=-0.3, max_scale=0.3, color_aug_prob=1.0, eraser_aug_prob=0.5)
    a, b, c = (_run(pair, seed=s, **knobs) for s in (4, 4, 5))
    assert np.array_equal(a.left, b.left) and np.array_equal(a.disp, b.disp)
    assert not np.array_equal(a.left, c.left)


@pytest.mark.parametrize("log2_scale", [-0.2, 0.4])
def test_scaled_gt_stays_aligned_with_the_image_grid(log2_scale):
    # GT that records its own source x / y: after the resize, each output pixel must carry
    # the value under its centre in the source, as the (linearly resized) images do.
    h, w = 64, 96
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.zeros((h, w, 3), np.uint8)
    for gt, axis in ((xs + 1.0, 1), (ys + 1.0, 0)):
        out = _run(StereoArrays(image, image, gt, np.ones((h, w), bool), gt), min_scale=log2_scale,
                   max_scale=log2_scale)
        new = out.disp.shape[axis]
        factor_x = out.disp.shape[1] / w
        centre = (np.arange(new) + 0.5) * (w if axis else h) / new - 0.5  # source coordinate of each centre
        got = (out.disp / factor_x - 1.0).mean(axis=1 - axis)  # GT back in source units
        assert abs(float(np.mean(got - centre))) < 0.1  # INTER_NEAREST was off by 0.37-0.5 px
        assert float(np.max(np.abs(got - centre))) <= 0.5 + 1e-4
        np.testing.assert_array_equal(out.disp, out.disp_right)
