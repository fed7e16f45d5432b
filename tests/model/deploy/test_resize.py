"""The resize-and-rescale rule: inputs to the engine size, disparity back and times orig_w / engine_w."""

from __future__ import annotations

import pytest
import torch

from model.deploy.onnx_runner import OnnxRunner
from model.deploy.predictor import DeployPredictor
from model.deploy.resize import resize_pair, restore_disparity


@pytest.mark.parametrize("orig", [(128, 192), (64, 288), (100, 150), (64, 96)])
def test_known_disparity_scales_with_width_only(known_onnx, orig):
    # An engine at 64 x 96 that sees a fronto-parallel plane at 10 px (in ITS pixels). In the original
    # image the same plane is 10 * W / 96 px wide, whatever the height ratio.
    predictor = DeployPredictor(OnnxRunner(known_onnx([1, 3, 64, 96], constant=10.0)))
    left = torch.rand(1, 3, *orig)
    disp = predictor(left, left.clone())
    assert disp.shape == (1, 1, *orig)
    torch.testing.assert_close(disp, torch.full_like(disp, 10.0 * orig[1] / 96), rtol=1e-5, atol=1e-5)


def test_disparity_map_is_resized_back_bilinearly(known_onnx):
    # identity engine (disparity = left channel 0): a horizontal ramp survives the round trip
    predictor = DeployPredictor(OnnxRunner(known_onnx([1, 3, 64, 96])))
    ramp = torch.linspace(0, 1, 192).expand(1, 3, 128, 192).contiguous()
    disp = predictor(ramp, ramp)
    want = ramp[:, :1] * (192 / 96)
    assert (disp - want)[..., 2:-2].abs().max() < 0.02  # bilinear down and up; edges aside


def test_restore_disparity_rule():
    disp = torch.full((2, 1, 32, 64), 4.0)
    out = restore_disparity(disp, (96, 256))
    assert out.shape == (2, 1, 96, 256)
    torch.testing.assert_close(out, torch.full_like(out, 16.0))
    assert restore_disparity(disp, (32, 64)) is disp  # same size: untouched


def test_resize_pair():
    left, right = torch.rand(2, 3, 50, 70), torch.rand(2, 3, 50, 70)
    l2, r2 = resize_pair(left, right, (64, 96))
    assert l2.shape == r2.shape == (2, 3, 64, 96)
    same = resize_pair(left, right, (50, 70))
    assert same[0] is left and same[1] is right


def test_dynamic_engine_pads_instead_of_resizing(known_onnx):
    predictor = DeployPredictor(OnnxRunner(known_onnx(["b", 3, "h", "w"])))
    left = torch.rand(2, 3, 50, 70)
    disp = predictor(left, left)
    torch.testing.assert_close(disp, left[:, :1])  # replicate-pad to 64 x 96, run, crop: no scaling


def test_dynamic_engine_with_input_size_resizes(known_onnx):
    predictor = DeployPredictor(OnnxRunner(known_onnx(["b", 3, "h", "w"], constant=3.0)), input_hw=(64, 64))
    disp = predictor(torch.rand(1, 3, 64, 128), torch.rand(1, 3, 64, 128))
    torch.testing.assert_close(disp, torch.full_like(disp, 6.0))


@pytest.mark.parametrize("engine_batch,n", [(1, 3), (2, 3), (2, 4)])
def test_fixed_batch_engine_takes_any_batch(known_onnx, engine_batch, n):
    predictor = DeployPredictor(OnnxRunner(known_onnx([engine_batch, 3, 64, 96])))
    left = torch.rand(n, 3, 64, 96)
    disp = predictor(left, left)
    torch.testing.assert_close(disp, left[:, :1])  # every sample's own output, in order
