"""Shared left/right feature pyramid: timm EdgeNeXt-Small + a U-Net style decoder.

Output pyramid for an input [N,3,H,W] (left and right run as one batch):
    [conv4 @1/4: 96 + band (224 for bp2), 192 @1/8, 320 @1/16, 304 @1/32]
The module names are timm's (`stem`, `stages.N.downsample`, `stages.N.blocks.M.conv_dw` ...),
i.e. the upstream checkpoint's; `checkpoint.py` maps TAO's EdgeNeXt names onto them.
"""

from __future__ import annotations

import math
from pathlib import Path

import timm
import torch
from torch import nn

from model.network.blocks import ConvNormAct, ResnetBasicBlock

__all__ = ["FeatureExtractor", "EDGENEXT_DIMS"]

EDGENEXT_DIMS = (48, 96, 160, 304)  # EdgeNeXt-Small stage widths at 1/4, 1/8, 1/16, 1/32


class _UpConcat(nn.Module):
    """ConvTranspose2d k4 s2 p1 + IN + LReLU, concatenated with the skip, then a residual IN block."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_ch, out_ch, 4, 2, 1, transposed=True, norm="instance")
        self.conv2 = ResnetBasicBlock(2 * out_ch, norm="instance")

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)  # [N, out, 2h, 2w] == skip's size for 32-divisible inputs
        return self.conv2(torch.cat([x, skip], dim=1))  # [N, 2*out, 2h, 2w]


class _FourierPositions(nn.Module):
    """EdgeNeXt's Fourier position encoding, computed on the input's device.

    Same values and the same `token_projection` weights as timm's PositionalEncodingFourier,
    which builds its mask on the CPU and copies it over on every call: that copy forbids
    CUDA-graph capture and costs a host round trip per forward.
    """

    def __init__(self, original: nn.Module) -> None:
        super().__init__()
        self.token_projection = original.token_projection
        self.hidden_dim = original.hidden_dim
        self.temperature = original.temperature

    def forward(self, shape: tuple[int, int, int]) -> torch.Tensor:
        b, h, w = shape
        weight = self.token_projection.weight
        eps, scale = 1e-6, 2 * math.pi
        y = torch.arange(1, h + 1, device=weight.device, dtype=torch.float32) / (h + eps) * scale  # [h]
        x = torch.arange(1, w + 1, device=weight.device, dtype=torch.float32) / (w + eps) * scale  # [w]
        dim_t = torch.arange(self.hidden_dim, device=weight.device, dtype=torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden_dim)
        pos_y = _sin_cos(y[:, None] / dim_t)[:, None, :].expand(h, w, -1)  # [h, w, hidden]
        pos_x = _sin_cos(x[:, None] / dim_t)[None, :, :].expand(h, w, -1)  # [h, w, hidden]
        pos = torch.cat([pos_y, pos_x], dim=-1).permute(2, 0, 1)[None].expand(b, -1, -1, -1)
        return self.token_projection(pos.to(weight.dtype))  # [B, dim, h, w]


def _sin_cos(t: torch.Tensor) -> torch.Tensor:
    """Interleave sin of the even and cos of the odd columns, as EdgeNeXt does."""
    return torch.stack([t[..., 0::2].sin(), t[..., 1::2].cos()], dim=-1).flatten(-2)


class FeatureExtractor(nn.Module):
    """EdgeNeXt-Small stages + decoder; `forward` returns the 4-level pyramid.

    Args:
        phantom_band: extra 1/4 channels of conv4 (128 for bp2's encoder 'vitl').
        pretrained_path: optional local timm EdgeNeXt-Small weights for the backbone stages.
    """

    def __init__(self, phantom_band: int, pretrained_path: str = "") -> None:
        super().__init__()
        edgenext = timm.create_model("edgenext_small", pretrained=False, num_classes=0)
        if tuple(s.blocks[0].conv_dw.out_channels for s in edgenext.stages) != EDGENEXT_DIMS:
            raise RuntimeError("timm edgenext_small no longer has widths 48/96/160/304")
        for stage in edgenext.stages:
            for block in stage.blocks:
                if getattr(block, "pos_embd", None) is not None:
                    block.pos_embd = _FourierPositions(block.pos_embd)
        self.stem = edgenext.stem  # conv 4x4 s4 + LayerNorm2d -> [N, 48, H/4, W/4]
        self.stages = edgenext.stages  # 4 stages (stage N>0 starts with a 2x2 s2 downsample)
        d4, d8, d16, d32 = EDGENEXT_DIMS
        self.deconv32_16 = _UpConcat(d32, d16)  # -> 2*160 = 320 @1/16
        self.deconv16_8 = _UpConcat(2 * d16, d8)  # -> 2*96 = 192 @1/8
        self.deconv8_4 = _UpConcat(2 * d8, d4)  # -> 2*48 = 96 @1/4
        self.conv4 = nn.Conv2d(2 * d4, 2 * d4 + phantom_band, 1)  # -> 224 @1/4 for bp2
        if pretrained_path:
            _load_backbone(self, Path(pretrained_path))

    @property
    def out_channels(self) -> tuple[int, int, int, int]:
        """Channels of the 1/4, 1/8, 1/16, 1/32 outputs."""
        d4, d8, d16, d32 = EDGENEXT_DIMS
        return (self.conv4.out_channels, 2 * d8, 2 * d16, d32)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)  # [N,48,H/4,W/4], [N,96,H/8,.], [N,160,H/16,.], [N,304,H/32,.]
        x4, x8, x16, x32 = skips
        y16 = self.deconv32_16(x32, x16)
        y8 = self.deconv16_8(y16, x8)
        y4 = self.conv4(self.deconv8_4(y8, x4))
        return [y4, y8, y16, x32]


def _load_backbone(feature: FeatureExtractor, path: Path) -> None:
    """Load local EdgeNeXt-Small weights (timm or TAO names) into `stem` / `stages`."""
    from model.network.checkpoint import assign_strict, read_backbone_state_dict  # avoids an import cycle

    state = read_backbone_state_dict(path)
    target = {k: v for k, v in feature.state_dict().items() if k.startswith(("stem.", "stages."))}
    assign_strict(feature, state, expected=target, source=str(path))
