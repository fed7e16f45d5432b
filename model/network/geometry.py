"""Per-iteration geometry lookup (the reference's CombinedGeoEncodingVolume), interpolated in fp32.

Two pyramids, built once per forward:
  * the aggregated volume along D: level 0 [B,h,w,C,D], level i avg-pooled by 2^i along D;
  * the all-pairs row correlation of the 1/4 features: [B,h,w,1,w'], pooled along w'.
At every iteration each level is sampled at 2r+1 integer-spaced taps with linear interpolation and
zero padding outside (what grid_sample(align_corners=True, zeros) does on a 1-pixel-high image):
  volume taps at disp / 2^i + dx, correlation taps at (x - disp) / 2^i + dx, dx = -r..r.
All taps of one pixel share the fractional part, so one gather of 2r+2 neighbours serves all of
them; there is no data-dependent check (the reference asserts on every call).
Output channels: [geo_l0 (C*(2r+1), channel-major c*(2r+1)+k), corr_l0 (2r+1), geo_l1, corr_l1, ...].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from model.network.cost_volume import row_correlation

__all__ = ["GeometryEncoder", "sample_taps"]


def sample_taps(values: torch.Tensor, pos: torch.Tensor, radius: int) -> torch.Tensor:
    """Linear interpolation of values at pos + k, k = -radius..radius, zero outside [0, L-1].

    Args:
        values: [..., C, L].
        pos: [..., 1] fractional positions (same leading dims as values).
        radius: r.
    Returns:
        [..., C, 2r+1].
    """
    length = values.shape[-1]
    base = torch.floor(pos)
    frac = (pos - base).unsqueeze(-2)  # [..., 1, 1]
    offsets = torch.arange(-radius, radius + 2, device=pos.device, dtype=pos.dtype)
    index = base + offsets  # [..., 2r+2] neighbours
    inside = (index >= 0) & (index <= length - 1)  # False for NaN positions too
    valid = inside.float().unsqueeze(-2)
    # where(), not clamp(): a NaN disparity (a diverging run) must give NaN features, not a
    # gather index of -2**63 that crashes the process.
    index = torch.where(inside, index, torch.zeros_like(index)).to(torch.int64).unsqueeze(-2)
    index = index.expand(*values.shape[:-1], 2 * radius + 2)
    nb = values.gather(-1, index).float() * valid  # [..., C, 2r+2], interpolated in fp32
    return nb[..., :-1] * (1 - frac) + nb[..., 1:] * frac


class GeometryEncoder:
    """Pyramids of the aggregated volume and of the row correlation; `lookup(disp)` each iteration.

    Args:
        feat_left, feat_right: [B, C, h, w] 1/4 features (cosine row correlation).
        volume: [B, c, D, h, w] aggregated cost volume.
        num_levels: corr_levels.
        radius: corr_radius.
        channels_last: `lookup` returns its features channels-last (a permuted view, no copy
            to NCHW), for a network whose convs run channels-last (`fusion.to_channels_last`).
    """

    def __init__(self, feat_left: torch.Tensor, feat_right: torch.Tensor, volume: torch.Tensor,
                 num_levels: int, radius: int, channels_last: bool = False) -> None:
        self.radius = radius
        self.channels_last = channels_last
        corr = row_correlation(feat_left, feat_right).unsqueeze(3)  # [B, h, w, 1, w']
        # The volume pyramid keeps the volume's dtype (half under bf16/fp16 autocast: half the
        # memory and bandwidth of the largest lookup tensor); taps are interpolated in fp32.
        geo = volume.permute(0, 3, 4, 1, 2).contiguous()  # [B, h, w, c, D]
        self.geo_pyramid = [geo]
        self.corr_pyramid = [corr]
        for _ in range(num_levels - 1):
            geo = _pool_last(geo)
            corr = _pool_last(corr)
            self.geo_pyramid.append(geo)
            self.corr_pyramid.append(corr)
        b, _, h, w = feat_left.shape
        self.coords = torch.arange(w, device=volume.device, dtype=torch.float32).reshape(1, 1, w, 1)

    def lookup(self, disp: torch.Tensor) -> torch.Tensor:
        """disp [B, 1, h, w] (1/4 px) -> geometry features [B, levels*(2r+1)*(c+1), h, w]."""
        b, _, h, w = disp.shape
        d = disp.float().reshape(b, h, w, 1)
        out = []
        for i, (geo, corr) in enumerate(zip(self.geo_pyramid, self.corr_pyramid)):
            scale = 1.0 / 2**i
            geo_taps = sample_taps(geo, d * scale, self.radius)  # [B, h, w, c, 2r+1]
            corr_taps = sample_taps(corr, self.coords * scale - d * scale, self.radius)  # [B, h, w, 1, 2r+1]
            out.append(geo_taps.reshape(b, h, w, -1))
            out.append(corr_taps.reshape(b, h, w, -1))
        feats = torch.cat(out, dim=-1).permute(0, 3, 1, 2)  # [B, C, h, w] view of NHWC memory
        return feats if self.channels_last else feats.contiguous()


def _pool_last(x: torch.Tensor) -> torch.Tensor:
    """Average-pool the last dim by 2 (floor), any leading dims."""
    lead = x.shape[:-1]
    return F.avg_pool1d(x.reshape(-1, 1, x.shape[-1]), 2, 2).reshape(*lead, -1)
