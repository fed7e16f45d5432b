"""Update block (one GRU level): motion encoder, selective ConvGRU, disparity head, mask head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.network.blocks import pad_channels_to

__all__ = ["UpdateBlock"]


class _MotionEncoder(nn.Module):
    """`encoder`: geometry features + disp -> [motion (final), disp] channels."""

    def __init__(self, geo_ch: int, widths: tuple[int, ...], final: int) -> None:
        super().__init__()
        c1, c2, d1, d2 = widths
        self.convc1 = nn.Conv2d(geo_ch, c1, 1)
        self.convc2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.convd1 = nn.Conv2d(1, d1, 7, padding=3)
        self.convd2 = nn.Conv2d(d1, d2, 3, padding=1)
        self.conv = nn.Conv2d(c2 + d2, final, 3, padding=1)

    def forward(self, disp: torch.Tensor, geo: torch.Tensor) -> torch.Tensor:
        cor = F.relu(self.convc2(F.relu(self.convc1(pad_channels_to(geo, self.convc1.in_channels)))))
        dsp = F.relu(self.convd2(F.relu(self.convd1(disp))))
        out = F.relu(self.conv(torch.cat([cor, dsp], dim=1)))
        return torch.cat([out, disp], dim=1)  # [B, final + 1, h, w]


class _RaftConvGRU(nn.Module):
    """z, r = sigmoid(conv(hx)); q = tanh(conv([r*h, x])); h' = (1-z) h + z q.

    `convzr` (None as built) is set by `fusion.fuse_gru_gates` for inference: convz and convr
    read the same input, so one conv with both outputs replaces the two (same numbers).
    """

    def __init__(self, hidden: int, x_ch: int, hx_ch: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.convz = nn.Conv2d(hx_ch, hidden, kernel, padding=pad)
        self.convr = nn.Conv2d(hx_ch, hidden, kernel, padding=pad)
        self.convq = nn.Conv2d(hidden + x_ch, hidden, kernel, padding=pad)
        self.convzr: nn.Conv2d | None = None

    def forward(self, h: torch.Tensor, x: torch.Tensor, hx: torch.Tensor) -> torch.Tensor:
        if self.convzr is not None:
            z, r = torch.sigmoid(self.convzr(hx)).chunk(2, dim=1)
        else:
            z = torch.sigmoid(self.convz(hx))
            r = torch.sigmoid(self.convr(hx))
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q


class _SelectiveConvGRU(nn.Module):
    """`gru04`: a 1x1 and a 3x3 GRU blended by the spatial attention `att`."""

    def __init__(self, hidden: int, in_ch: int, gating: tuple[int, ...]) -> None:
        super().__init__()
        g0, g1 = gating
        self.conv0 = nn.Sequential(nn.Conv2d(in_ch, g0, 3, padding=1), nn.ReLU())
        self.conv1 = nn.Sequential(nn.Conv2d(g0 + hidden, g1, 3, padding=1), nn.ReLU())
        self.small_gru = _RaftConvGRU(hidden, g0, g1, 1)
        self.large_gru = _RaftConvGRU(hidden, g0, g1, 3)

    def forward(self, att: torch.Tensor, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(x)
        hx = self.conv1(torch.cat([x, h], dim=1))
        return self.small_gru(h, x, hx) * att + self.large_gru(h, x, hx) * (1 - att)


class _EdgeNextConvBlock(nn.Module):
    """Depthwise 7x7 -> (channels-last) Linear expand -> GELU -> Linear back -> layer scale -> + x."""

    def __init__(self, dim: int, expanded: int, kernel: int = 7) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.dwconv = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.pwconv1 = nn.Linear(dim, expanded)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expanded, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class _DispHead(nn.Module):
    def __init__(self, hidden: int, mid: int, expansions: tuple[int, ...]) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(hidden, mid, 3, padding=1),
            nn.ReLU(),
            *[_EdgeNextConvBlock(mid, e) for e in expansions],
            nn.Conv2d(mid, 1, 3, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv(h)


class UpdateBlock(nn.Module):
    """`update_block`: one refinement step at 1/4 resolution.

    Args:
        geo_ch: geometry feature channels (522 for bp2).
        inp_ch: context input channels (cnet_conv04_widths[1]).
        hidden: gru_hidden.
        motion_widths, motion_final, gating, head_mid, head_expansions, mask_widths: width fields.
    """

    def __init__(self, geo_ch: int, inp_ch: int, hidden: int, motion_widths: tuple[int, ...],
                 motion_final: int, gating: tuple[int, ...], head_mid: int,
                 head_expansions: tuple[int, ...], mask_widths: tuple[int, ...]) -> None:
        super().__init__()
        self.encoder = _MotionEncoder(geo_ch, motion_widths, motion_final)
        self.gru04 = _SelectiveConvGRU(hidden, inp_ch + motion_final + 1, gating)
        self.disp_head = _DispHead(hidden, head_mid, head_expansions)
        m0, m1 = mask_widths
        self.mask = nn.Sequential(
            nn.Conv2d(hidden, m0, 3, padding=1), nn.ReLU(), nn.Conv2d(m0, m1, 3, padding=1), nn.ReLU()
        )

    def forward(self, net: torch.Tensor, inp: torch.Tensor, geo: torch.Tensor, disp: torch.Tensor,
                att: torch.Tensor, with_mask: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Returns (new hidden [B,hidden,h,w], mask feature [B,m1,h,w] (x0.25), delta disp [B,1,h,w]).

        `with_mask=False` skips the mask head (None instead): inference upsamples only the last
        iteration's disparity, so the other iterations' masks would be computed for nothing.
        """
        motion = self.encoder(disp, geo)
        x = pad_channels_to(torch.cat([inp, motion], dim=1), self.gru04.conv0[0].in_channels)
        net = self.gru04(att, net, x)
        mask = 0.25 * self.mask(net) if with_mask else None
        return net, mask, self.disp_head(net)
