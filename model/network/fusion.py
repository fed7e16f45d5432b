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
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batch_norms", "fuse_gru_gates", "inplace_activations", "pad_volume_channels", "cast_weights",
           "to_channels_last"]

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


def _pad_conv(conv: nn.Module, in_ch: int | None = None, out_ch: int | None = None) -> None:
    """Grow `conv`'s input / output channels to `in_ch` / `out_ch` with zero weights and bias, in place."""
    transposed = isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    in_dim, out_dim = (0, 1) if transposed else (1, 0)  # ConvTranspose weights are [in, out, ...]
    weight = conv.weight.data
    for dim, size in ((in_dim, in_ch), (out_dim, out_ch)):
        if size is not None and size > weight.shape[dim]:
            extra = list(weight.shape)
            extra[dim] = size - weight.shape[dim]
            weight = torch.cat([weight, weight.new_zeros(extra)], dim=dim)
    conv.weight = nn.Parameter(weight, requires_grad=False)
    if out_ch is not None and conv.bias is not None and out_ch > conv.bias.shape[0]:
        bias = torch.cat([conv.bias.data, conv.bias.data.new_zeros(out_ch - conv.bias.shape[0])])
        conv.bias = nn.Parameter(bias, requires_grad=False)
    conv.in_channels = in_ch or conv.in_channels
    conv.out_channels = out_ch or conv.out_channels


def pad_volume_channels(net: nn.Module, multiple: int = 8) -> int:
    """Carry the cost volume with its channels padded to a multiple of `multiple`; returns convs changed.

    bp2's volume has volume_dim = 28 channels, and cuDNN's half-precision NHWC kernels want
    multiples of 8: for 28 they pad every input on every call and pick slower kernels (H100,
    bf16, one 28 -> 28 3^3 conv at 1/4 of 480 x 640: 515 us, at 32 -> 32: 338 us;
    bench/conv_channels.py). Here every 3D conv reading the volume gets zero input channels, and
    every conv producing it (3D convs and the volume stem's feature attention) zero output
    channels, zero bias: the extra channels are 0 everywhere (LeakyReLU / ReLU(0) = 0,
    sigmoid(att) * 0 = 0, 0 + 0 skips), so the result is the same. The disparity transformer
    (LayerNorm and attention over the channels) keeps volume_dim: its input conv keeps its
    outputs and `_Up` pads the transformer's result before the skip add; the geometry encoder
    reads the first volume_dim channels. Needs `fold_batch_norms` first (no BatchNorm may sit
    on a padded channel). Inference only; a no-op when volume_dim is already a multiple.
    """
    from model.network.blocks import FeatureAtt

    cfg = getattr(net, "cfg", None)
    if cfg is None or cfg.volume_dim % multiple == 0:
        return 0
    c, padded = cfg.volume_dim, -(-cfg.volume_dim // multiple) * multiple
    volume_path = [net.corr_feature_att, net.cost_agg, net.classifier]
    for part in volume_path:
        if any(isinstance(m, _BNS) for m in part.modules()):
            raise ValueError("pad_volume_channels needs the BatchNorms folded first (fold_batch_norms)")
    keep_in = net.corr_feature_att.layers[0].conv  # reads the gwc + concat volume: not padded
    keep_out = net.cost_agg.post8_to_4.upsample[0].conv  # feeds the transformer: stays volume_dim
    att_convs = {id(m.feat_att[-1]) for part in volume_path for m in part.modules()
                 if isinstance(m, FeatureAtt) and m.feat_att[-1].out_channels == c}
    changed = 0
    for part in volume_path:
        for conv in part.modules():
            is_3d = isinstance(conv, (nn.Conv3d, nn.ConvTranspose3d))
            if not (is_3d or id(conv) in att_convs):
                continue
            grow_in = is_3d and conv.in_channels == c and conv is not keep_in
            grow_out = conv.out_channels == c and conv is not keep_out
            if grow_in or grow_out:
                _pad_conv(conv, padded if grow_in else None, padded if grow_out else None)
                changed += 1
    return changed


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
