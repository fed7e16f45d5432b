"""Deploy test fixtures: the static ONNX export of `tiny_net` (tests/model/conftest.py), and small
hand-built ONNX "engines" whose output is known (a constant disparity, or the left image's first channel)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_net) -> Path:
    """The tiny network exported static 1 x 3 x 64 x 96, 2 iterations (as `depth_net export` does)."""
    from model.export.onnx import check_onnx, export_onnx

    target = tmp_path_factory.mktemp("export") / "tiny.onnx"
    tmp = export_onnx(tiny_net, target, height=64, width=96, batch_size=1, iters=2)
    check_onnx(tmp)
    os.replace(tmp, target)
    return target


def _known_model(path: Path, shape: list, constant: float | None) -> Path:
    """disparity = `constant` everywhere (when given) or left_image[:, 0:1]; inputs of `shape`
    (ints, or names for dynamic axes)."""
    import onnx
    from onnx import TensorProto, helper

    dims = [d if isinstance(d, int) else str(d) for d in shape]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, dims) for n in ("left_image", "right_image")]
    out_dims = [dims[0], 1, dims[2], dims[3]]
    output = helper.make_tensor_value_info("disparity", TensorProto.FLOAT, out_dims)
    inits = [helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
             helper.make_tensor("ends", TensorProto.INT64, [1], [1]),
             helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    nodes = [helper.make_node("Slice", ["left_image", "starts", "ends", "axes"], ["ch0"])]
    if constant is None:
        nodes.append(helper.make_node("Identity", ["ch0"], ["disparity"]))
    else:  # 0 * x + c keeps the output's shape tied to the input's
        inits += [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
                  helper.make_tensor("c", TensorProto.FLOAT, [], [constant])]
        nodes += [helper.make_node("Mul", ["ch0", "zero"], ["z"]), helper.make_node("Add", ["z", "c"], ["disparity"])]
    graph = helper.make_graph(nodes, "known", inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def known_onnx(tmp_path):
    """Factory: known_onnx(shape, constant=None) -> path of a hand-built ONNX with a known output."""
    count = iter(range(1000))

    def make(shape: list, constant: float | None = None) -> Path:
        return _known_model(tmp_path / f"known_{next(count)}.onnx", shape, constant)

    return make
