"""Context network at 1/4: GRU initial state, GRU input with channel attention, spatial attention."""

from __future__ import annotations

import torch
from torch import nn

from model.network.blocks import ConvNormAct

__all__ = ["ContextNet", "ChannelAttention", "SpatialAttention"]


class ContextNet(nn.Module):
    """`cnet`: two Conv3x3 + BN + LReLU heads on the 1/4 feature -> (net raw, inp raw)."""

    def __init__(self, feat_ch: int, net_ch: int, inp_ch: int) -> None:
        super().__init__()
        self.conv04 = nn.ModuleList(
            [ConvNormAct(feat_ch, net_ch, 3, 1, 1), ConvNormAct(feat_ch, inp_ch, 3, 1, 1)]
        )

    def forward(self, feat4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv04[0](feat4), self.conv04[1](feat4)  # [B, net, h, w], [B, inp, h, w]


class ChannelAttention(nn.Module):
    """`cam`: sigmoid(fc(avgpool(x)) + fc(maxpool(x))) -> [B, C, 1, 1], fc = 1x1 C->mid->C, no bias."""

    def __init__(self, channels: int, mid: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Conv2d(channels, mid, 1, bias=False), nn.ReLU(), nn.Conv2d(mid, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc(x.mean(dim=(2, 3), keepdim=True))
        peak = self.fc(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + peak)


class SpatialAttention(nn.Module):
    """`sam`: sigmoid(conv7x7([mean_c(x), max_c(x)])) -> [B, 1, h, w]."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.samconv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.samconv(pooled))
