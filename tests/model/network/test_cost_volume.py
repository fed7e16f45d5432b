"""Loop-free volumes and lookups against straightforward per-disparity / grid_sample references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from model.network.cost_volume import build_concat_volume, build_gwc_volume, row_correlation
from model.network.geometry import GeometryEncoder, sample_taps
from model.network.upsample import context_upsample


def _gwc_loop(left, right, num_disp, groups):
    b, c, h, w = left.shape
    lg = F.normalize(left.reshape(b, groups, c // groups, h, w), dim=2)
    rg = F.normalize(right.reshape(b, groups, c // groups, h, w), dim=2)
    vol = left.new_zeros(b, groups, num_disp, h, w)
    for d in range(num_disp):
        if d < w:
            vol[:, :, d, :, d:] = (lg[..., d:] * rg[..., : w - d]).sum(2)
    return vol


@pytest.mark.parametrize("w", [12, 5])  # 5 < num_disp: the case that breaks loop-based exports
def test_gwc_and_concat_volumes_match_per_disparity_loop(w):
    torch.manual_seed(0)
    left, right = torch.randn(2, 2, 16, 3, w).unbind(0)
    got = build_gwc_volume(left, right, 8, 4)
    assert got.shape == (2, 4, 8, 3, w)
    assert torch.allclose(got, _gwc_loop(left, right, 8, 4), atol=1e-5)
    concat = build_concat_volume(left, right, 8)
    for d in range(8):
        assert torch.equal(concat[:, :16, d], left)
        assert torch.equal(concat[:, 16:, d, :, :d], torch.zeros_like(left[..., :d]))
        assert torch.equal(concat[:, 16:, d, :, d:], right[..., : max(w - d, 0)])


def test_sample_taps_equals_grid_sample_on_a_row():
    torch.manual_seed(0)
    values = torch.randn(50, 3, 20)  # N rows of C channels, length 20
    pos = torch.rand(50, 1) * 28 - 4  # also outside [0, 19]
    radius = 2
    x = pos + torch.arange(-radius, radius + 1).float()  # [N, 5]
    grid = torch.stack([2 * x / 19 - 1, torch.zeros_like(x)], dim=-1).unsqueeze(1)  # [N, 1, 5, 2]
    want = F.grid_sample(values.unsqueeze(2), grid, align_corners=True).squeeze(2)
    assert torch.allclose(sample_taps(values, pos, radius), want, atol=1e-5)


def test_geometry_lookup_layout():
    torch.manual_seed(0)
    fl, fr = torch.randn(2, 1, 8, 2, 6).unbind(0)
    volume = torch.randn(1, 3, 8, 2, 6)
    geo = GeometryEncoder(fl, fr, volume, num_levels=2, radius=1)
    disp = torch.full((1, 1, 2, 6), 2.0)  # integer disparity: taps hit exact bins
    out = geo.lookup(disp)
    assert out.shape == (1, 2 * 3 * (3 + 1), 2, 6)
    # level 0 volume taps: channel c*3+k = volume[c, 2 + k - 1]
    assert torch.allclose(out[0, 0:9].reshape(3, 3, 2, 6), volume[0, :, 1:4])
    corr = row_correlation(fl, fr)  # [1, h, w, w']
    x, y = 4, 1  # correlation taps at x - disp + k - 1 = 1, 2, 3
    assert torch.allclose(out[0, 9:12, y, x], corr[0, y, x, 1:4])
    # channels-last networks get the same numbers as an NHWC view (no copy back to NCHW)
    nhwc = GeometryEncoder(fl, fr, volume, num_levels=2, radius=1, channels_last=True).lookup(disp)
    assert torch.equal(nhwc, out) and nhwc.is_contiguous(memory_format=torch.channels_last)
    assert not nhwc.is_contiguous()


def test_context_upsample_of_constant_is_four_times():
    disp = torch.full((1, 1, 4, 5), 3.0)
    logits = torch.randn(1, 9, 16, 20)
    up = context_upsample(disp, logits)
    assert up.shape == (1, 1, 16, 20)
    assert torch.allclose(up[..., 4:12, 4:16], torch.full((1, 1, 8, 12), 12.0), atol=1e-5)
