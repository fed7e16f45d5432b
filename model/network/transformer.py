"""Disparity transformer of the cost aggregation: one post-norm encoder layer over disparity tokens.

bp2 quirk ('upstream_compat'): q/k/v are viewed as [N, L, heads, head_dim] and handed to scaled
dot-product attention WITHOUT moving heads in front, so attention runs over the 4 heads with the
L disparity tokens as a batch dimension. The released weights were trained that way, so parity needs
it; 'standard' is ordinary multi-head attention over the tokens for models trained from scratch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.network.blocks import pad_channels_to

__all__ = ["DisparityTransformer", "sinusoidal_table"]

NUM_HEADS = 4


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """[1, length, dim]: even channels sin(pos * f_i), odd channels cos(pos * f_i), f_i = 10000^(-2i/dim)."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.unsqueeze(0)


class _SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, layout: str) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.layout = layout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        heads = (n, length, self.num_heads, dim // self.num_heads)
        q, k, v = (p(x).view(heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        if self.layout == "standard":
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [N, heads, L, hd]
            out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2)
        else:  # upstream_compat: sequence axis = heads, (N, L) are batch dims
            out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.reshape(n, length, dim))


class _EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer, FFN dim -> 4 dim -> dim with exact GELU."""

    def __init__(self, dim: int, layout: str, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = _SelfAttention(dim, NUM_HEADS, layout)
        self.linear1 = nn.Linear(dim, 4 * dim)
        self.linear2 = nn.Linear(4 * dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout1(self.self_attn(x)))
        ffn = self.linear2(self.dropout(self.act(self.linear1(x))))
        return self.norm2(x + self.dropout2(ffn))


class DisparityTransformer(nn.Module):
    """Tokens = disparity bins of each pixel: [B, C, D, H, W] -> same shape.

    Args:
        dim: channels C (volume_dim).
        num_tokens: D (max_disparity / 16); the sinusoidal table has exactly this length.
        layout: 'upstream_compat' or 'standard'.
    """

    def __init__(self, dim: int, num_tokens: int, layout: str) -> None:
        super().__init__()
        self.sa = nn.ModuleList([_EncoderLayer(dim, layout)])
        self.register_buffer("pos_table", sinusoidal_table(num_tokens, dim), persistent=False)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        dim = self.pos_table.shape[-1]
        # (the ONNX export traces the network as built, which has no padded channels)
        if not torch.jit.is_tracing() and volume.shape[1] > dim:  # zero channels past dim (fusion.pad_volume_channels) pass through as zeros
            return pad_channels_to(self(volume[:, :dim]), volume.shape[1])
        b, c, d, h, w = volume.shape
        x = volume.permute(0, 3, 4, 2, 1).reshape(b * h * w, d, c)
        x = x + self.pos_table.to(x.dtype)
        for layer in self.sa:
            x = layer(x)
        return x.reshape(b, h, w, d, c).permute(0, 4, 3, 1, 2)
