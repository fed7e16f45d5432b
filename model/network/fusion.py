"""Inference-only rewrites of a trained network: BatchNorm folding, fused GRU gates, half weights.

At inference a BatchNorm after a conv is an affine map per channel, so it folds into the conv's
weight and bias: one kernel and one full read/write of the volume fewer per BN. On the 3D cost
volume path that is most of the elementwise time (the profile in bench/profile_gpu.py showed
BN as the single largest kernel family). Casting the conv / linear weights to the autocast
dtype once removes the per-call weight casts autocast would otherwise launch (hundreds per
forward). Both rewrites keep module names, so the network reads the same; they are applied to
a copy for inference only (training needs the BN statistics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batch_norms", "fuse_gru_gates", "inplace_activations", "pad_volume_channels", "pad_gru_channels",
           "cast_weights", "to_channels_last", "Conv3dAsConv2d", "convs3d_as_convs2d"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_NAMED_PAIRS = (("conv", "bn"), ("conv1", "bn1"), ("conv2", "bn2"))


def _fuse(conv: nn.Module, bn: nn.Module) -> nn.Module:
    transposed = isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    return fuse_conv_bn_eval(conv.eval(), bn.eval(), transpose=transposed)


def fold_batch_norms(net: nn.Module) -> int:
    """Fold every conv -> BatchNorm pair of `net` in place (eval statistics); returns how many.

    Pairs are a module's (`conv`, `bn`), (`conv1`, `bn1`), (`conv2`, `bn2`) attributes, or
    consecutive (conv, BN) entries of an nn.Sequential. The BN becomes nn.Identity.
    """
    folded = 0
    for module in list(net.modules()):
        for conv_name, bn_name in _NAMED_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, _CONVS) and isinstance(bn, _BNS):
                setattr(module, conv_name, _fuse(conv, bn))
                setattr(module, bn_name, nn.Identity())
                folded += 1
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], _CONVS) and isinstance(module[i + 1], _BNS):
                    module[i] = _fuse(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
                    folded += 1
    return folded


def fuse_gru_gates(net: nn.Module) -> int:
    """Give every ConvGRU a `convzr` = [convz; convr] stacked along the outputs; returns how many.

    The update gate z and reset gate r are convs of the same input, so one conv with both
    output sets computes them in one kernel (and one sigmoid) per GRU per iteration, with the
    same numbers. `convz` / `convr` stay (the key names of the checkpoint).
    """
    fused = 0
    for module in net.modules():
        convz, convr = getattr(module, "convz", None), getattr(module, "convr", None)
        if not (isinstance(convz, nn.Conv2d) and isinstance(convr, nn.Conv2d) and hasattr(module, "convzr")):
            continue
        both = nn.Conv2d(convz.in_channels, convz.out_channels + convr.out_channels, convz.kernel_size,
                         stride=convz.stride, padding=convz.padding, bias=convz.bias is not None)
        both = both.to(device=convz.weight.device, dtype=convz.weight.dtype)
        with torch.no_grad():
            both.weight.copy_(torch.cat([convz.weight, convr.weight], dim=0))
            if convz.bias is not None:
                both.bias.copy_(torch.cat([convz.bias, convr.bias], dim=0))
        module.convzr = both.eval()
        fused += 1
    return fused


def inplace_activations(net: nn.Module) -> int:
    """Make every ReLU / LeakyReLU module work in place; returns how many.

    Without autograd an activation may overwrite its input: every activation module of the
    network is applied to a fresh conv / norm output that nothing else reads, so this saves one
    activation-sized buffer per call - on the 3D volumes at 1/4 resolution, ~100 MB each at
    480 x 640 in fp32, which sets the peak memory (and the CUDA-graph pool). Inference only:
    training keeps them out of place.
    """
    changed = 0
    for module in net.modules():
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)) and not module.inplace:
            module.inplace = True
            changed += 1
    return changed


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _regroup(t: torch.Tensor, dim: int, segments: list[tuple[int, int]]) -> torch.Tensor:
    """`t` split along `dim` into pieces of the segments' old sizes, each zero-padded to its new size."""
    pieces, start = [], 0
    for old, new in segments:
        piece = t.narrow(dim, start, old)
        start += old
        if new > old:
            shape = list(piece.shape)
            shape[dim] = new - old
            piece = torch.cat([piece, piece.new_zeros(shape)], dim=dim)
        pieces.append(piece)
    if start != t.shape[dim]:
        raise ValueError(f"channel segments {segments} do not cover {t.shape[dim]} channels")
    return torch.cat(pieces, dim=dim)


def _require_folded(parts: list[nn.Module], rewrite: str) -> None:
    """ValueError when a BatchNorm is left in `parts`: padded channels must not pass through one."""
    if any(isinstance(m, _BNS) for part in parts for m in part.modules()):
        raise ValueError(f"{rewrite} needs the BatchNorms folded first (fold_batch_norms)")


def _pad_layer(layer: nn.Module, in_segments: list[tuple[int, int]] | None = None,
               out_segments: list[tuple[int, int]] | None = None) -> None:
    """Grow a conv / linear layer's inputs and outputs with zero weights (and zero bias), in place.

    Segments are (old, new) channel counts in order: [(100, 104), (60, 64)] puts 4 zero input
    channels after the first 100 and 4 after the next 60, where a concatenation's pieces grew.
    """
    transposed = isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    in_dim, out_dim = (0, 1) if transposed else (1, 0)  # ConvTranspose weights are [in, out, ...]
    weight = layer.weight.data
    if in_segments:
        weight = _regroup(weight, in_dim, in_segments)
    if out_segments:
        weight = _regroup(weight, out_dim, out_segments)
        if layer.bias is not None:
            layer.bias = nn.Parameter(_regroup(layer.bias.data, 0, out_segments), requires_grad=False)
    layer.weight = nn.Parameter(weight, requires_grad=False)
    names = ("in_features", "out_features") if isinstance(layer, nn.Linear) else ("in_channels", "out_channels")
    setattr(layer, names[0], weight.shape[in_dim] * getattr(layer, "groups", 1))
    setattr(layer, names[1], weight.shape[out_dim])


def pad_volume_channels(net: nn.Module, multiple: int = 8) -> int:
    """Carry the cost volume with its channels padded to a multiple of `multiple`; returns convs changed.

    bp2's volume has volume_dim = 28 channels, and cuDNN's half-precision NHWC kernels want
    multiples of 8: for 28 they pad every input on every call and pick slower kernels (H100,
    bf16, one 28 -> 28 3^3 conv at 1/4 of 480 x 640: 515 us, at 32 -> 32: 338 us;
    bench/conv_channels.py). Here every 3D conv reading the volume gets zero input channels, and
    every conv producing it (3D convs and the volume stem's feature attention) zero output
    channels, zero bias: the extra channels are 0 everywhere (LeakyReLU / ReLU(0) = 0,
    sigmoid(att) * 0 = 0, 0 + 0 skips), so the result is the same. The disparity transformer
    (LayerNorm and attention over the channels) runs on the first volume_dim channels of its
    (4x smaller) input and passes the rest through as zeros; the geometry encoder reads the
    first volume_dim channels. Needs `fold_batch_norms` first (no BatchNorm may sit on a padded
    channel). Inference only; a no-op when volume_dim is already a multiple.
    """
    from model.network.blocks import FeatureAtt

    cfg = getattr(net, "cfg", None)
    if cfg is None or cfg.volume_dim % multiple == 0:
        return 0
    c, padded = cfg.volume_dim, _round_up(cfg.volume_dim, multiple)
    volume_path = [net.corr_feature_att, net.cost_agg, net.classifier]
    _require_folded(volume_path, "pad_volume_channels")
    keep_in = net.corr_feature_att.layers[0].conv  # reads the gwc + concat volume: not padded
    att_convs = {id(m.feat_att[-1]) for part in volume_path for m in part.modules()
                 if isinstance(m, FeatureAtt) and m.feat_att[-1].out_channels == c}
    changed = 0
    for part in volume_path:
        for conv in part.modules():
            is_3d = isinstance(conv, (nn.Conv3d, nn.ConvTranspose3d))
            if not (is_3d or id(conv) in att_convs):
                continue
            grow_in = is_3d and conv.in_channels == c and conv is not keep_in
            grow_out = conv.out_channels == c
            if grow_in or grow_out:
                _pad_layer(conv, [(c, padded)] if grow_in else None, [(c, padded)] if grow_out else None)
                changed += 1
    return changed


def pad_gru_channels(net: nn.Module, multiple: int = 8) -> int:
    """Carry the refinement loop's odd-width tensors with zero channels up to a multiple of `multiple`.

    bp2's GRU widths (hidden 60, gating 100, head 36, motion 12, the 522-channel geometry
    feature and the 97-channel GRU input) make cuDNN pad inputs on every call of every iteration
    (bench/conv_channels.py: ~0.7 ms of a 480 x 640, 8-iteration bf16 forward). Each producer
    gets zero filters and zero bias for the extra channels, each consumer zero weights for them,
    so every extra channel is 0 (ReLU / LeakyReLU / tanh of 0; the GRU's h' = (1 - z) h + z q
    with h = q = 0) and the result is the same. The geometry feature and the GRU input are
    concatenations the convs' readers pad (`blocks.pad_channels_to`). Needs `fold_batch_norms`
    and `fuse_gru_gates` first; inference only. Returns the number of layers changed.
    """
    cfg = getattr(net, "cfg", None)
    if cfg is None:
        return 0
    _require_folded([net.cnet], "pad_gru_channels")
    ub = net.update_block
    enc, gru, head = ub.encoder, ub.gru04, ub.disp_head.conv
    grus = (gru.small_gru, gru.large_gru)
    if any(g.convzr is None for g in grus):
        raise ValueError("pad_gru_channels needs the GRU gates fused first (fuse_gru_gates)")

    def seg(n: int) -> tuple[int, int]:
        return n, _round_up(n, multiple)

    hidden, g0, g1 = seg(cfg.gru_hidden), seg(gru.conv0[0].out_channels), seg(gru.conv1[0].out_channels)
    d2, mid = seg(enc.convd2.out_channels), seg(head[0].out_channels)
    c2 = enc.convc2.out_channels
    changes = [
        (net.cnet.conv04[0].conv, None, [hidden]),  # the initial hidden state (tanh(0) = 0)
        (enc.convc1, [seg(enc.convc1.in_channels)], None),  # geometry feature, padded by its reader
        (enc.convd2, None, [d2]),
        (enc.conv, [(c2, c2), d2], None),  # cat([cor, dsp])
        (gru.conv0[0], [seg(gru.conv0[0].in_channels)], [g0]),  # cat([inp, motion, disp]), padded by its reader
        (gru.conv1[0], [g0, hidden], [g1]),  # cat([x, h]) -> hx
        (head[0], [hidden], [mid]),
        (head[-1], [mid], None),
        (ub.mask[0], [hidden], None),
    ]
    for g in grus:
        changes += [(g.convzr, [g1], [hidden, hidden]),  # hx -> [z; r]
                    (g.convq, [hidden, g0], [hidden])]  # cat([r * h, x])
    for layer, ins, outs in changes:
        _pad_layer(layer, ins, outs)
    blocks = [block for block in head[1:-1] if hasattr(block, "dwconv")]  # not the ReLU after head[0]
    for block in blocks:
        _pad_layer(block.dwconv, None, [mid])  # depthwise: one [1, k, k] filter per channel
        block.dwconv.groups = block.dwconv.in_channels = mid[1]
        _pad_layer(block.pwconv1, [mid], None)
        _pad_layer(block.pwconv2, None, [mid])
        block.gamma = nn.Parameter(_regroup(block.gamma.data, 0, [mid]), requires_grad=False)
    return len(changes) + len(blocks)


def cast_weights(net: nn.Module, dtype: torch.dtype) -> int:
    """Cast the weights and biases of every conv / linear layer to `dtype` in place; returns how many.

    Norm layers and layer-scale parameters stay fp32 (autocast runs norms in fp32).
    """
    cast = 0
    for module in net.modules():
        if isinstance(module, (*_CONVS, nn.Linear)):
            module.to(dtype)
            cast += 1
    return cast


def to_channels_last(net: nn.Module) -> int:
    """Store 2D conv weights channels-last and 3D conv weights channels-last-3d; returns how many.

    cuDNN's half-precision kernels run NHWC / NDHWC: with NCHW tensors every conv pays a layout
    transform in and out. A channels-last weight makes the conv output channels-last, and the
    layout then propagates through the following elementwise ops and convs.
    """
    changed = 0
    for module in net.modules():
        if hasattr(module, "channels_last"):  # FastFoundationStereo: its geometry features too
            module.channels_last = True
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
            changed += 1
        elif isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last_3d)
            changed += 1
    return changed


class Conv3dAsConv2d(nn.Module):
    """A stride-1, 'same'-padded Conv3d with a (k, kh, kw) kernel run as one 2D conv plus a shifted sum.

    out[d] = sum_t W[:, :, t] * x[d + t - k//2] over the k disparity taps t. With the disparity
    planes as the 2D batch and the k taps' filters stacked as outputs, one cuDNN 2D conv computes
    every W[:, :, t] * x[d] ([B*D, k*C_out, h, w]); the taps are then summed with their shift along
    D (one fused elementwise kernel under torch.compile). cuDNN's 2D kernels are far faster than
    its 3D ones at bp2's volume sizes (H100, bf16, at 1/4 of 480 x 640: the classifier's 3^3
    32 -> 1 conv 309 us as 3D, 121 us as 2D + sum). A channels-last-3d input is read without a
    copy. The result equals the Conv3d up to the rounding of the k partial sums.
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        k, kh, kw = conv.kernel_size
        self.taps, self.out_channels, self.in_channels = k, conv.out_channels, conv.in_channels
        self.padding = (kh // 2, kw // 2)
        weight = conv.weight.detach().permute(2, 0, 1, 3, 4).reshape(k * conv.out_channels, conv.in_channels, kh, kw)
        self.weight = nn.Parameter(weight.contiguous(memory_format=torch.channels_last), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach(), requires_grad=False)

    @staticmethod
    def fits(conv: nn.Module) -> bool:
        """Whether `conv` is a Conv3d this module can stand in for without using more memory.

        The stacked taps [B*D, k*C_out, h, w] must be no larger than the input (k = 1, or
        k * C_out <= C_in): on bp2's 32 -> 32 3^3 convs the rewrite is 4 % faster per forward
        but triples the largest activations (compile bf16 480 x 640: 546 -> 1024 MB).
        """
        if type(conv) is not nn.Conv3d or conv.groups != 1 or conv.padding_mode != "zeros":
            return False
        k = conv.kernel_size
        return (all(v % 2 for v in k) and conv.stride == (1, 1, 1) and conv.dilation == (1, 1, 1)
                and conv.padding == tuple(v // 2 for v in k)
                and (k[0] == 1 or k[0] * conv.out_channels <= conv.in_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d, h, w = x.shape
        planes = x.transpose(1, 2).reshape(b * d, c, h, w)  # a view for channels-last-3d input
        y = F.conv2d(planes, self.weight, None, padding=self.padding)  # [B*D, k*C_out, h, w]
        y = y.unflatten(1, (self.taps, self.out_channels)).unflatten(0, (b, d))  # [B, D, k, C_out, h, w]
        p = self.taps // 2
        if p:
            y = F.pad(y, (0, 0) * 4 + (p, p))  # zero planes before / after along D
        out = y[:, 0:d, 0]
        for t in range(1, self.taps):
            out = out + y[:, t:t + d, t]
        if self.bias is not None:
            out = out + self.bias.to(out.dtype).reshape(1, 1, -1, 1, 1)
        return out.transpose(1, 2)  # [B, C_out, D, h, w]


def convs3d_as_convs2d(net: nn.Module) -> int:
    """Replace every Conv3d that `Conv3dAsConv2d` fits in place (bp2: the 1x3x3 axial-planar convs and the
    3^3 classifier); returns how many.

    For torch.compile at half precision with channels-last weights (where the shifted sum fuses
    into the next elementwise kernel); run after `cast_weights` / `to_channels_last`, whose
    weights it keeps. Inference only (the module holds no BatchNorm and no gradient).
    """
    replaced = 0
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if Conv3dAsConv2d.fits(child):
                setattr(module, name, Conv3dAsConv2d(child))
                replaced += 1
    return replaced
