"""Synthetic pairs: exact GT (the right view warped by it gives the left view), range, seeds, speed."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from model.data.synthetic import SyntheticStereo, render_stereo_pair


def _warp_right_to_left(right: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Sample right at (x - d, y): the left view as the right camera saw it."""
    h, w = disp.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(right.astype(np.float32), xs - disp.astype(np.float32), ys, cv2.INTER_LINEAR)


@pytest.mark.parametrize("seed,size", [(0, (64, 96)), (1, (120, 200)), (7, (37, 53))])
def test_right_warped_by_gt_reproduces_left(seed, size):
    pair = render_stereo_pair(np.random.default_rng(seed), *size, max_disparity=192)
    nocc = pair.nocc
    assert nocc.mean() > 0.5 and (~nocc).any()  # there are occlusions, and most pixels are visible
    error = np.abs(_warp_right_to_left(pair.right, pair.disp) - pair.left).mean(axis=2)
    shifted = np.abs(_warp_right_to_left(pair.right, pair.disp + 2.0) - pair.left).mean(axis=2)
    assert error[nocc].mean() < 2.0  # uint8 rounding + bilinear resampling only
    assert shifted[nocc].mean() > 4 * error[nocc].mean()
    # left-right consistency: the right GT at x - d is the same disparity (planes are linear)
    back = _warp_right_to_left(pair.disp_right[:, :, None].repeat(3, 2), pair.disp)[:, :, 0]
    np.testing.assert_allclose(back[nocc], pair.disp[nocc], atol=1e-3)


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


def test_fast_at_training_size():
    rng = np.random.default_rng(0)
    render_stereo_pair(rng, 320, 736, 192)
    best = min(_timed(lambda: render_stereo_pair(rng, 320, 736, 192)) for _ in range(3))
    assert best < 0.1, f"320x736 took {best:.3f} s of CPU"  # about 0.03 s on one core


def _timed(fn) -> float:
    start = time.process_time()  # CPU time: robust to other processes sharing the machine
    fn()
    return time.process_time() - start
