"""model/export/onnx.py: static / dynamic-batch / dynamic-H/W exports of the tiny network match PyTorch."""

from __future__ import annotations

import os

import pytest
import torch

from model.config import NetworkConfig
from model.deploy.onnx_runner import OnnxRunner, onnx_input_shape, read_onnx_metadata
from model.errors import ExportError, SpecError
from model.export.onnx import check_export_size, check_onnx, check_opset, compare_with_pytorch, dynamic_axes, \
    export_onnx

TOL = 1e-3  # px, fp32


def _export(net, folder, **kw):
    """Export, check, and move into place as the action does; returns the final path."""
    target = folder / "m.onnx"
    tmp = export_onnx(net, target, iters=2, **kw)
    assert tmp != target and tmp.parent == target.parent and not target.exists()
    check_onnx(tmp)
    os.replace(tmp, target)
    return target


def _pair(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randn(b, 3, h, w, generator=g)


@pytest.fixture(scope="module")
def static_onnx(tiny_net, tmp_path_factory):
    return _export(tiny_net, tmp_path_factory.mktemp("static"), height=64, width=96, batch_size=1)


@pytest.fixture(scope="module")
def dynamic_onnx(tiny_net, tmp_path_factory):
    return _export(tiny_net, tmp_path_factory.mktemp("dyn"), height=64, width=96, batch_size=-1, dynamic_hw=True)


def test_static_export_matches_pytorch(tiny_net, static_onnx):
    assert onnx_input_shape(static_onnx) == [1, 3, 64, 96]
    left, right = _pair(1, 64, 96)
    diffs = compare_with_pytorch(tiny_net, static_onnx, left, right, iters=2)
    assert diffs["max_abs_diff"] <= TOL and diffs["mean_abs_diff"] <= diffs["max_abs_diff"]
    # one file: nothing else (external data, temporaries) next to it
    assert sorted(p.name for p in static_onnx.parent.iterdir()) == ["m.onnx"]


def _declared(path, name):
    """{name: declared shape} of a graph input / output: ints for static axes, names for dynamic ones."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    (value,) = [v for v in [*graph.input, *graph.output] if v.name == name]
    assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def test_declared_signature(static_onnx, dynamic_onnx):
    # the promised contract: left_image / right_image [B,3,H,W] float32 -> disparity [B,1,H,W] float32;
    # the tracer left the static output as ['ReduceSumdisparity_dim_0', 1, ...]
    for name in ("left_image", "right_image"):
        assert _declared(static_onnx, name) == [1, 3, 64, 96]
        assert _declared(dynamic_onnx, name) == ["batch", 3, "height", "width"]
    assert _declared(static_onnx, "disparity") == [1, 1, 64, 96]
    assert _declared(dynamic_onnx, "disparity") == ["batch", 1, "height", "width"]


def test_static_export_rejects_another_size(static_onnx):
    left, right = _pair(1, 64, 128)
    with pytest.raises(Exception):
        OnnxRunner(static_onnx)(left, right)


def test_dynamic_batch_two(tiny_net, dynamic_onnx):
    assert onnx_input_shape(dynamic_onnx) == [None, 3, None, None]
    left, right = _pair(2, 64, 96, seed=1)
    diffs = compare_with_pytorch(tiny_net, dynamic_onnx, left, right, iters=2)
    assert diffs["max_abs_diff"] <= TOL


@pytest.mark.parametrize("size", [(96, 64), (64, 128)])
def test_dynamic_hw_other_sizes(tiny_net, dynamic_onnx, size):
    left, right = _pair(1, *size, seed=2)
    out = OnnxRunner(dynamic_onnx, cpu_only=True)(left, right)
    assert out.shape == (1, 1, *size)
    with torch.inference_mode():
        ref = tiny_net(left, right, iters=2)
    assert (out - ref).abs().max() <= TOL


def test_static_batch_two_export(tiny_net, tmp_path):
    path = _export(tiny_net, tmp_path, height=64, width=96, batch_size=2)
    assert onnx_input_shape(path) == [2, 3, 64, 96] and _declared(path, "disparity") == [2, 1, 64, 96]
    left, right = _pair(2, 64, 96, seed=3)
    assert compare_with_pytorch(tiny_net, path, left, right, iters=2)["max_abs_diff"] <= TOL


def test_iterations_are_baked_in(tiny_net, static_onnx):
    meta = read_onnx_metadata(static_onnx)
    assert meta["valid_iters"] == 2 and meta["input_height"] == 64 and meta["batch_size"] == 1
    assert meta["model"] == NetworkConfig.tiny().to_dict()  # the network it came from (deploy checks it)
    left, right = _pair(1, 64, 96, seed=4)
    out = OnnxRunner(static_onnx, cpu_only=True)(left, right)
    with torch.inference_mode():
        one_iter = tiny_net(left, right, iters=1)
    assert (out - one_iter).abs().max() > TOL  # a different iteration count is a different graph


@pytest.mark.parametrize("h,w", [(50, 96), (64, 100), (0, 96)])
def test_size_must_be_multiple_of_32(h, w):
    with pytest.raises(SpecError, match=r"export\.input_(height|width): .* multiple of 32"):
        check_export_size(h, w)


def test_opset_below_14_is_a_spec_error(tiny_net, tmp_path):
    # the attention has no ONNX form before opset 14: a one-line SpecError, not the exporter's traceback
    with pytest.raises(SpecError, match=r"export\.opset_version: 13 .* >= 14"):
        check_opset(13)
    with pytest.raises(SpecError, match=r"export\.opset_version: 13"):
        export_onnx(tiny_net, tmp_path / "m.onnx", height=64, width=96, opset=13)
    assert list(tmp_path.iterdir()) == []
    check_opset(14)


def test_unwritable_target_is_an_export_error_and_leaves_nothing(tiny_net, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(ExportError, match=r"export\.onnx_file: cannot write .*blocker/m\.onnx"):
        export_onnx(tiny_net, blocker / "m.onnx", height=64, width=96, iters=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"] and blocker.read_text() == "x"


def test_dynamic_axes():
    assert dynamic_axes(1, False) is None
    assert dynamic_axes(-1, False)["left_image"] == {0: "batch"}
    axes = dynamic_axes(-1, True)
    assert set(axes) == {"left_image", "right_image", "disparity"}
    assert axes["disparity"] == {0: "batch", 2: "height", 3: "width"}
    assert dynamic_axes(4, True)["right_image"] == {2: "height", 3: "width"}
