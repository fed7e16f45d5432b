"""Synthetic pairs: exact GT for every scene element (the right view warped by it gives the left view), range, seeds.

The generator's speed is measured by bench/synthetic_rate.py, not here."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model.data.synthetic import SHAPE_KINDS, SURFACE_KINDS, SyntheticStereo, render_stereo_pair
from model.data.synthetic_textures import TEXTURE_KINDS, make_texture


def _warp_right_to_left(right: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Sample right at (x - d, y): the left view as the right camera saw it."""
    h, w = disp.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(right.astype(np.float32), xs - disp.astype(np.float32), ys, cv2.INTER_LINEAR)


def _wavy(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth texture (bilinear resampling is nearly exact on it) that still pins x to ~0.05 px."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    return np.stack([127.5 + 120 * np.sin(2 * np.pi * xs / 40 + phase[0]),
                     127.5 + 120 * np.sin(2 * np.pi * ys / 40 + phase[1]),
                     127.5 + 120 * np.sin(2 * np.pi * (xs + ys) / 60 + phase[2])], axis=2)


def _check_exact(pair) -> None:
    nocc = pair.nocc
    assert nocc.mean() > 0.3 and (~nocc).any()  # there are occlusions, and many pixels are visible
    error = np.abs(_warp_right_to_left(pair.right, pair.disp) - pair.left).mean(axis=2)
    shifted = np.abs(_warp_right_to_left(pair.right, pair.disp + 0.25) - pair.left).mean(axis=2)
    assert error[nocc].mean() < 1.0  # uint8 rounding + bilinear resampling only
    assert shifted[nocc].mean() > 3 * error[nocc].mean()  # a quarter pixel off is plainly visible
    # left-right consistency: the right GT at x - d is the same disparity
    back = _warp_right_to_left(pair.disp_right[:, :, None].repeat(3, 2), pair.disp)[:, :, 0]
    np.testing.assert_allclose(back[nocc], pair.disp[nocc], atol=2e-2)


@pytest.mark.parametrize("shape", SHAPE_KINDS)
@pytest.mark.parametrize("surface", SURFACE_KINDS)
def test_gt_is_exact_for_every_shape_and_surface(shape, surface):
    """The right view warped by the left GT gives the left view, for each scene element alone."""
    for seed in range(2):
        pair = render_stereo_pair(np.random.default_rng(seed), 96, 160, max_disparity=64, photometric=False,
                                  shapes=(shape,), surfaces=(surface,), ground=False, texture=_wavy)
        _check_exact(pair)


@pytest.mark.parametrize("seed", range(3))
def test_gt_is_exact_with_the_ground_plane_and_all_elements(seed):
    pair = render_stereo_pair(np.random.default_rng(seed), 120, 200, max_disparity=192, photometric=False,
                              ground=True, texture=_wavy)
    _check_exact(pair)


def test_photometric_differences_leave_the_geometry_alone():
    """Per-view gain / gamma / noise change the images, never the GT."""
    plain = render_stereo_pair(np.random.default_rng(4), 64, 96, 64, photometric=False)
    rig = render_stereo_pair(np.random.default_rng(4), 64, 96, 64, photometric=True)
    np.testing.assert_array_equal(plain.disp, rig.disp)
    np.testing.assert_array_equal(plain.nocc, rig.nocc)
    assert not np.array_equal(plain.left, rig.left) and not np.array_equal(plain.right, rig.right)


def test_disparities_span_the_range_across_scenes():
    top = [render_stereo_pair(np.random.default_rng(s), 64, 160, 64).disp for s in range(24)]
    d_cap = min(0.9 * 64, 0.45 * 160)
    assert max(float(d.max()) for d in top) > 0.8 * d_cap  # near objects reach the top of the range
    assert min(float(d.min()) for d in top) < 0.1 * d_cap  # far backgrounds reach the bottom
    assert all(float(d.max()) < 64 for d in top)


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_texture_kinds(kind):
    tex = make_texture(kind, np.random.default_rng(1), 48, 80)
    again = make_texture(kind, np.random.default_rng(1), 48, 80)
    assert tex.shape == (48, 80, 3) and tex.dtype == np.float32 and np.array_equal(tex, again)
    assert tex.min() >= 0 and tex.max() <= 255
    fine = np.abs(np.diff(tex, axis=1)).mean()  # pixel-to-pixel detail
    if kind == "flat":
        assert tex.reshape(-1, 3).std(axis=0).max() < 1e-2  # textureless: nothing to match
    elif kind == "gradient":
        assert fine < 8  # weak texture only
    else:
        assert tex.std() > 5


def test_disparity_range_and_structure():
    for seed in range(5):
        pair = render_stereo_pair(np.random.default_rng(seed), 64, 96, max_disparity=64)
        assert pair.left.dtype == np.uint8 and pair.left.shape == (64, 96, 3) and pair.right.shape == (64, 96, 3)
        assert pair.disp.dtype == np.float32 and np.isfinite(pair.disp).all()
        assert 0 < pair.disp.min() and pair.disp.max() < 64
        assert pair.disp.max() - pair.disp.min() > 5  # foreground shapes stand out from the background
        gy, gx = np.gradient(pair.disp)
        assert (np.hypot(gx, gy) > 2).any()  # depth edges exist


def test_seeded_and_varied():
    a = render_stereo_pair(np.random.default_rng(5), 32, 48, 64)
    b = render_stereo_pair(np.random.default_rng(5), 32, 48, 64)
    c = render_stereo_pair(np.random.default_rng(6), 32, 48, 64)
    assert np.array_equal(a.left, b.left) and np.array_equal(a.disp, b.disp)
    assert not np.array_equal(a.disp, c.disp)
    dataset = SyntheticStereo(num_samples=3, seed=5, image_size=(32, 48), max_disparity=64)
    assert np.array_equal(dataset.render(2).disp, dataset.render(2).disp)
    assert not np.array_equal(dataset.render(1).disp, dataset.render(2).disp)
