"""The tiny network exports to ONNX (TorchScript exporter, opset 17) and runs in onnxruntime."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from model.config import NetworkConfig
from model.network import build_network

ort = pytest.importorskip("onnxruntime")


# width 32: w/4 = 8 < max_disparity/4 = 16, where the reference's per-disparity loop crashes the exporter
@pytest.mark.parametrize("qkv_layout,width", [("standard", 96), ("upstream_compat", 96), ("standard", 32)])
def test_tiny_exports_and_matches_onnxruntime(tmp_path, qkv_layout, width):
    torch.manual_seed(0)
    net = build_network(NetworkConfig.tiny().replace(qkv_layout=qkv_layout)).eval()
    left, right = torch.randn(2, 1, 3, 64, width).unbind(0)
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (left, right), str(path), dynamo=False, opset_version=17,
                          input_names=["left", "right"], output_names=["disparity"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"left": left.numpy(), "right": right.numpy()})
    with torch.no_grad():
        want = net(left, right).numpy()
    assert got.shape == want.shape == (1, 1, 64, width)
    assert np.abs(got - want).max() < 1e-3
