"""Inference rewrites: BN folding, fused GRU gates, padded volume channels and channels-last keep the
output; casts hit convs only."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from model.config import NetworkConfig
from model.network import build_network
from model.network.fusion import (Conv3dAsConv2d, cast_weights, convs3d_as_convs2d, fold_batch_norms,
                                  fuse_gru_gates, inplace_activations, pad_gru_channels, pad_volume_channels,
                                  to_channels_last)


def _tiny_with_stats(**widths) -> nn.Module:
    torch.manual_seed(0)
    net = build_network(dataclasses.replace(NetworkConfig.tiny(), **widths))
    with torch.no_grad():  # non-trivial BN statistics and affine terms, so folding is really tested
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.05)
    return net.eval()


def test_folding_removes_every_batch_norm_and_keeps_the_output():
    net = _tiny_with_stats()
    n_bn = sum(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)) for m in net.modules())
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=3)
        folded = copy.deepcopy(net)
        assert fold_batch_norms(folded) == n_bn > 0
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)) for m in folded.modules())
        got = folded(left, right, iters=3)
    assert (got - want).abs().max().item() <= 1e-3


def test_channels_last_keeps_the_output():
    net = _tiny_with_stats()
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=2)
        cl = copy.deepcopy(net)
        assert to_channels_last(cl) > 0 and cl.channels_last and not net.channels_last
        got = cl(left.contiguous(memory_format=torch.channels_last), right, iters=2)
    assert (got - want).abs().max().item() <= 1e-4


def test_cast_weights_touches_convs_and_linears_only():
    net = _tiny_with_stats()
    cast_weights(net, torch.bfloat16)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
            assert m.weight.dtype == torch.bfloat16
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm)):
            assert m.weight.dtype == torch.float32


def test_fused_gru_gates_are_used_and_keep_the_output():
    net = _tiny_with_stats()
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=3)
        fused = copy.deepcopy(net)
        assert fuse_gru_gates(fused) == 2  # the small (1x1) and the large (3x3) GRU
        got = fused(left, right, iters=3)
        # the separate gate convs are no longer read: spoiling them changes nothing
        for gru in (fused.update_block.gru04.small_gru, fused.update_block.gru04.large_gru):
            gru.convz.weight.fill_(float("nan"))
            gru.convr.weight.fill_(float("nan"))
        again = fused(left, right, iters=3)
    assert (got - want).abs().max().item() <= 1e-5
    assert torch.equal(again, got)
    assert set(fused.state_dict()) - set(net.state_dict()) == {
        f"update_block.gru04.{g}_gru.convzr.{p}" for g in ("small", "large") for p in ("weight", "bias")}


def test_inference_computes_the_mask_only_for_the_upsampled_iteration():
    net = _tiny_with_stats()
    calls = []
    net.update_block.mask.register_forward_hook(lambda *_: calls.append(1))
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        test_out = net(left, right, iters=4)
        assert len(calls) == 1
        calls.clear()
        _, preds = net(left, right, iters=4, test_mode=False)
        assert len(calls) == 4 and len(preds) == 4
    assert torch.allclose(preds[-1], test_out, atol=1e-5)


def test_inplace_activations_keep_the_output():
    net = _tiny_with_stats()
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=3)
        rewritten = copy.deepcopy(net)
        fold_batch_norms(rewritten)  # as FastForward does: activations then act on conv outputs
        n = inplace_activations(rewritten)
        assert n > 0 and all(m.inplace for m in rewritten.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
        got = rewritten(left, right, iters=3)
    assert (got - want).abs().max().item() <= 1e-3


def test_padded_volume_channels_keep_the_output():
    net = _tiny_with_stats(volume_dim=12)  # bp2's 28 is not a multiple of 8 either
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with pytest.raises(ValueError, match="fold_batch_norms"):
        pad_volume_channels(copy.deepcopy(net))
    with torch.no_grad():
        want = net(left, right, iters=3)
        padded = copy.deepcopy(net)
        fold_batch_norms(padded)
        assert pad_volume_channels(padded) > 0
        assert padded.corr_feature_att.layers[1].conv.weight.shape[:2] == (16, 16)
        assert padded.classifier.layers[0].in_channels == 16
        # the transformer attends over volume_dim channels only; the padded ones pass as zeros
        transformer_in = []
        padded.cost_agg.post8_to_4.upsample[1].sa[0].register_forward_pre_hook(
            lambda _m, args: transformer_in.append(args[0].shape[-1]))
        volumes = []
        padded.cost_agg.register_forward_hook(lambda _m, _i, out: volumes.append(out))
        got = padded(left, right, iters=3)
    assert volumes[0].shape[1] == 16 and volumes[0][:, 12:].abs().max().item() == 0.0
    assert transformer_in == [12]
    assert (got - want).abs().max().item() <= 1e-3
    assert pad_volume_channels(_tiny_with_stats()) == 0  # volume_dim 8: nothing to pad


def test_conv3d_as_conv2d_keeps_the_output():
    net = _tiny_with_stats()
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=2)
        rewritten = copy.deepcopy(net)
        fold_batch_norms(rewritten)
        to_channels_last(rewritten)  # the 2D convs read channels-last-3d volumes as views
        n_fit = sum(Conv3dAsConv2d.fits(m) for m in rewritten.modules())
        assert convs3d_as_convs2d(rewritten) == n_fit > 0
        assert not any(Conv3dAsConv2d.fits(m) for m in rewritten.modules())
        assert isinstance(rewritten.classifier.layers[0], Conv3dAsConv2d)  # 3^3, 'same'
        got = rewritten(left, right, iters=2)
    assert (got - want).abs().max().item() <= 1e-3
    # one conv on its own, 3-tap and 1-tap kernels, NCDHW and channels-last-3d input
    for kernel in ((3, 3, 3), (1, 3, 3), (3, 1, 1)):
        conv = nn.Conv3d(22, 7, kernel, padding=tuple(k // 2 for k in kernel))
        x = torch.randn(2, 22, 6, 8, 9)
        with torch.no_grad():
            for inp in (x, x.contiguous(memory_format=torch.channels_last_3d)):
                assert (Conv3dAsConv2d(conv)(inp) - conv(x)).abs().max().item() <= 1e-5
    assert not Conv3dAsConv2d.fits(nn.Conv3d(22, 7, 3, stride=2, padding=1))
    assert not Conv3dAsConv2d.fits(nn.Conv3d(8, 8, 3, padding=1))  # 3 * 8 taps > 8 inputs: more memory
    assert Conv3dAsConv2d.fits(nn.Conv3d(8, 8, (1, 3, 3), padding=(0, 1, 1)))
    assert not Conv3dAsConv2d.fits(nn.Conv3d(5, 7, (17, 1, 1), padding=(8, 0, 0)))


def test_padded_gru_channels_keep_the_output():
    # odd widths everywhere in the refinement loop, as in bp2 (hidden 60, gating 100, head 36, ...)
    net = _tiny_with_stats(gru_hidden=12, disp_head_input_dim=12, motion_encoder_widths=(16, 16, 8, 6),
                           motion_encoder_final=13, gru_gating_conv_widths=(18, 22), disp_head_intermediate=10,
                           cnet_conv04_widths=(12, 9))
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = net(left, right, iters=3)
        padded = copy.deepcopy(net)
        with pytest.raises(ValueError, match="fold_batch_norms"):
            pad_gru_channels(padded)
        fold_batch_norms(padded)
        with pytest.raises(ValueError, match="fuse_gru_gates"):
            pad_gru_channels(padded)
        fuse_gru_gates(padded)
        assert pad_gru_channels(padded) > 0
        ub = padded.update_block
        assert ub.gru04.large_gru.convzr.weight.shape[:2] == (32, 24)  # [z 12 + 4; r 12 + 4] from hx 22 + 2
        assert ub.gru04.large_gru.convq.weight.shape[:2] == (16, 40)  # cat([r * h 12 + 4, x 18 + 6])
        assert ub.encoder.convc1.in_channels % 8 == 0 and ub.gru04.conv0[0].in_channels % 8 == 0
        hidden = []
        ub.register_forward_hook(lambda _m, _i, out: hidden.append(out[0]))
        got = padded(left, right, iters=3)
    assert all(h.shape[1] == 16 and h[:, 12:].abs().max().item() == 0.0 for h in hidden)
    assert (got - want).abs().max().item() <= 1e-3
