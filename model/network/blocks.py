"""Small building blocks shared by several stages (conv + norm + activation, residual blocks,
feature-guided volume attention, the axial-planar 3D conv).

Attribute names follow the upstream (NVlabs) bp2 checkpoint: a conv wrapper holds `conv` and `bn`
(batch norm) or `IN` (instance norm, no parameters); see `checkpoint.py` for the TAO names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvNormAct", "ResnetBasicBlock", "FeatureAtt", "AxialPlanarConv3d", "pad_channels_to"]

_CONV = {(2, False): nn.Conv2d, (3, False): nn.Conv3d, (2, True): nn.ConvTranspose2d, (3, True): nn.ConvTranspose3d}
_BATCH = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_INSTANCE = {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}


def pad_channels_to(x: torch.Tensor, channels: int) -> torch.Tensor:
    """`x` [B, C, ...] with zero channels appended up to `channels` (as is when C >= channels).

    For a conv whose inputs the inference fast path padded to a multiple of 8
    (`fusion.pad_gru_channels`); a no-op for the network as built. The ONNX export traces the
    network as built (never the fused copy), so under tracing it is skipped: comparing a traced
    shape would only add a TracerWarning for a branch that is never taken there.
    """
    if torch.jit.is_tracing():
        return x
    extra = channels - x.shape[1]
    return F.pad(x, (0, 0) * (x.dim() - 2) + (0, extra)) if extra > 0 else x


class ConvNormAct(nn.Module):
    """Conv (no bias) -> optional batch / instance norm -> optional LeakyReLU(0.01).

    Args:
        in_ch, out_ch: channels.
        kernel_size, stride, padding, output_padding: as for the torch conv.
        dim: 2 or 3 (spatial dimensions).
        transposed: use ConvTranspose.
        norm: "batch", "instance" or None.
        act: append LeakyReLU(0.01).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        *,
        dim: int = 2,
        transposed: bool = False,
        norm: str | None = "batch",
        act: bool = True,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        extra = {"output_padding": output_padding} if transposed else {}
        self.conv = _CONV[(dim, transposed)](in_ch, out_ch, kernel_size, stride, padding, bias=False, **extra)
        if norm == "batch":
            self.bn = _BATCH[dim](out_ch)
        elif norm == "instance":
            self.IN = _INSTANCE[dim](out_ch)
        elif norm is not None:
            raise ValueError(f"norm must be 'batch', 'instance' or None, got {norm!r}")
        self.act = nn.LeakyReLU(0.01) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if hasattr(self, "bn"):
            x = self.bn(x)
        elif hasattr(self, "IN"):
            x = self.IN(x)
        return self.act(x)


class ResnetBasicBlock(nn.Module):
    """Two 3x3(x3) convs without bias, each normed, ReLU, identity shortcut (channels unchanged)."""

    def __init__(self, channels: int, *, dim: int = 2, norm: str = "batch") -> None:
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        norm_cls = (_BATCH if norm == "batch" else _INSTANCE)[dim]
        self.conv1 = conv(channels, channels, 3, 1, 1, bias=False)
        self.bn1 = norm_cls(channels)
        self.conv2 = conv(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = norm_cls(channels)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in place: one volume-sized buffer fewer (norm / conv backward need no output)
        return self.relu(out)


class FeatureAtt(nn.Module):
    """Feature-guided excitation: sigmoid(head(image feature)) [B,C,1,H,W] multiplies the volume."""

    def __init__(self, cv_ch: int, feat_ch: int) -> None:
        super().__init__()
        self.feat_att = nn.Sequential(
            ConvNormAct(feat_ch, feat_ch // 2, 1, norm="batch"),
            nn.Conv2d(feat_ch // 2, cv_ch, 1),
        )

    def forward(self, volume: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        att = self.feat_att(feat).unsqueeze(2)  # [B, C, 1, H, W]
        return torch.sigmoid(att) * volume


class AxialPlanarConv3d(nn.Module):
    """(1,3,3) conv + BN + ReLU, then (kd,1,1) conv along disparity + BN + ReLU ("APC")."""

    def __init__(self, in_ch: int, out_ch: int, kernel_disp: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(out_ch), nn.ReLU()
        )
        self.conv2 = nn.Sequential(
            nn.Conv3d(out_ch, out_ch, (kernel_disp, 1, 1), padding=(kernel_disp // 2, 0, 0)),
            nn.BatchNorm3d(out_ch),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))
