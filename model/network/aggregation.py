"""Cost aggregation: the searched 3D hourglass of bp2 with feature-guided attention and the
disparity transformer, plus the volume stem (`corr_feature_att`).

With c = volume_dim (28) and D = max_disparity / 4, the shapes are
    in [B,c,D,h,w] -> 1/8 [B,2c,D/2,..] -> 1/16 [B,4c,D/4,..] -> 1/32 [B,6c,D/8,..]
    -> back up to [B,c,D,h,w]. The disparity-kernel sizes (17, 13, 3, 17, 9, 9) are bp2's.
"""

from __future__ import annotations

import torch
from torch import nn

from model.network.blocks import AxialPlanarConv3d, ConvNormAct, FeatureAtt, ResnetBasicBlock
from model.network.transformer import DisparityTransformer

__all__ = ["VolumeStem", "CostAggregation"]


def _conv3d(in_ch: int, out_ch: int, stride: int = 1, act: bool = True) -> ConvNormAct:
    return ConvNormAct(in_ch, out_ch, 3, stride, 1, dim=3, norm="batch", act=act)


class VolumeStem(nn.Module):
    """`corr_feature_att`: two 3^3 Conv3d + BN + LReLU, then FeatureAtt on the 1/4 image feature."""

    def __init__(self, in_ch: int, volume_dim: int, feat_ch: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [_conv3d(in_ch, volume_dim), _conv3d(volume_dim, volume_dim), FeatureAtt(volume_dim, feat_ch)]
        )

    def forward(self, volume: torch.Tensor, feat4: torch.Tensor) -> torch.Tensor:
        volume = self.layers[1](self.layers[0](volume))
        return self.layers[2](volume, feat4)


class _Down(nn.Module):
    """`layers` applied in order; FeatureAtt entries also get the image feature."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, feat) if isinstance(layer, FeatureAtt) else layer(x)
        return x


class _Up(nn.Module):
    """out(upsample(coarse) + skip); FeatureAtt entries of `out` also get the image feature."""

    def __init__(self, upsample: list[nn.Module], out: list[nn.Module]) -> None:
        super().__init__()
        self.upsample = nn.Sequential(*upsample)
        self.out = nn.ModuleList(out)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor, feat: torch.Tensor | None = None) -> torch.Tensor:
        x = self.upsample(coarse)
        x += skip  # in place on the fresh upsampled volume (its producers' backward needs no output)
        for layer in self.out:
            x = layer(x, feat) if isinstance(layer, FeatureAtt) else layer(x)
        return x


class CostAggregation(nn.Module):
    """`cost_agg`: [B,c,D,h,w] + image features -> aggregated [B,c,D,h,w].

    Args:
        volume_dim: c.
        feat_ch: channels of the image features at 1/4, 1/8, 1/16, 1/32.
        num_disp: D = max_disparity / 4 (the transformer sees D / 4 tokens).
        qkv_layout: attention layout of the disparity transformer.
    """

    def __init__(self, volume_dim: int, feat_ch: tuple[int, int, int, int], num_disp: int,
                 qkv_layout: str) -> None:
        super().__init__()
        c = volume_dim
        _, f8, f16, f32 = feat_ch
        self.feature_att_8 = _Down(_conv3d(c, c, 2), AxialPlanarConv3d(c, 2 * c, 17), FeatureAtt(2 * c, f8))
        self.feature_att_16 = _Down(
            _conv3d(2 * c, 4 * c, 2), AxialPlanarConv3d(4 * c, 2 * c, 13), AxialPlanarConv3d(2 * c, 4 * c, 3)
        )
        self.conv3 = nn.Sequential(_conv3d(4 * c, 6 * c, 2), AxialPlanarConv3d(6 * c, 6 * c, 17))
        self.feature_att_32 = FeatureAtt(6 * c, f32)
        self.post32_to_16 = _Up(
            [ConvNormAct(6 * c, 4 * c, 3, 2, 1, dim=3, transposed=True, output_padding=1)],
            [FeatureAtt(4 * c, f16), _conv3d(4 * c, 4 * c), AxialPlanarConv3d(4 * c, 4 * c, 9), _conv3d(4 * c, 4 * c)],
        )
        self.post16_to_8 = _Up(
            [ConvNormAct(4 * c, 2 * c, 4, 2, 1, dim=3, transposed=True)],
            [_conv3d(2 * c, 2 * c), FeatureAtt(2 * c, f8), AxialPlanarConv3d(2 * c, 2 * c, 9)],
        )
        self.conv1_up = ConvNormAct(2 * c, c, 4, 2, 1, dim=3, transposed=True)
        # Named "upsample" upstream, but k4 s4 first DOWNsamples D, h, w by 4 for the transformer.
        self.post8_to_4 = _Up(
            [
                ConvNormAct(c, c, 4, 4, 0, dim=3, act=False),
                DisparityTransformer(c, num_disp // 4, qkv_layout),
                nn.Upsample(scale_factor=4, mode="trilinear", align_corners=False),
            ],
            [_conv3d(c, c), ResnetBasicBlock(c, dim=3)],
        )

    def forward(self, x: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        conv1 = self.feature_att_8(x, feats[1])  # [B, 2c, D/2, h/2, w/2]
        conv2 = self.feature_att_16(conv1, feats[2])  # [B, 4c, D/4, h/4, w/4]
        conv3 = self.feature_att_32(self.conv3(conv2), feats[3])  # [B, 6c, D/8, h/8, w/8]
        conv2 = self.post32_to_16(conv3, conv2, feats[2])
        conv1 = self.post16_to_8(conv2, conv1, feats[1])
        return self.post8_to_4(self.conv1_up(conv1), x)  # [B, c, D, h, w]
