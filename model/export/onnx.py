"""ONNX export of the network: one fp32 file, checked by onnx and against PyTorch.

Graph contract: inputs `left_image`, `right_image` [B,3,H,W] float32 ImageNet-normalised,
output `disparity` [B,1,H,W] (px); `valid_iters` GRU iterations are unrolled into the
graph. Axes: static, dynamic batch (`batch_size = -1`) and/or dynamic H/W. The file is
written to a temporary name next to the target and renamed only once it is complete;
the metadata entry `depth_net` (JSON) records the export settings and the model config.
The TorchScript exporter (`dynamo=False`) is used: it traces the unrolled loop into one
plain graph, which ONNX Runtime and TensorRT both take.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from model.errors import ExportError, SpecError
from model.onnx_graph import INPUT_NAMES, OUTPUT_NAME

__all__ = ["INPUT_NAMES", "OUTPUT_NAME", "MIN_OPSET", "dynamic_axes", "check_export_size", "check_opset",
           "export_onnx", "check_onnx", "compare_with_pytorch", "temp_path_for"]

MIN_OPSET = 14  # the transformer's scaled_dot_product_attention has an ONNX form from opset 14 on
_TWO_GB = 2 * 1024**3
# Known, harmless exporter notes (the legacy-exporter notice, slice folding, IN's running stats).
_QUIET = (r".*legacy TorchScript-based ONNX export.*", r".*feature will be removed.*", r".*Constant folding.*",
          r".*instance_norm.*")


class _ExportGraph(nn.Module):
    """The traced function: (left_image, right_image) -> disparity with a fixed iteration count."""

    def __init__(self, net: nn.Module, iters: int) -> None:
        super().__init__()
        self.net = net
        self.iters = iters

    def forward(self, left_image: torch.Tensor, right_image: torch.Tensor) -> torch.Tensor:
        return self.net(left_image, right_image, iters=self.iters, test_mode=True)  # [B,1,H,W]


def check_export_size(height: int, width: int, where: str = "export") -> None:
    """H and W must be positive multiples of 32 (the network's stride); SpecError otherwise."""
    for key, value in (("input_height", height), ("input_width", width)):
        if not isinstance(value, int) or value < 32 or value % 32:
            raise SpecError(f"{where}.{key}: {value} must be a multiple of 32 and >= 32 "
                            f"(recommended 480 x 736 or 320 x 736)")


def check_opset(opset: int, where: str = "export") -> None:
    """The network exports from opset MIN_OPSET on; SpecError below it."""
    if opset < MIN_OPSET:
        raise SpecError(f"{where}.opset_version: {opset} cannot express the network's attention "
                        f"(scaled_dot_product_attention needs opset >= {MIN_OPSET}); use {MIN_OPSET}..23 (default 17)")


def dynamic_axes(batch_size: int, dynamic_hw: bool) -> dict[str, dict[int, str]] | None:
    """torch.onnx `dynamic_axes` for the inputs and output; None for a fully static graph."""
    axes: dict[int, str] = {}
    if batch_size == -1:
        axes[0] = "batch"
    if dynamic_hw:
        axes.update({2: "height", 3: "width"})
    if not axes:
        return None
    return {name: dict(axes) for name in (*INPUT_NAMES, OUTPUT_NAME)}


def _declare_output_shape(model, batch_size: int, dynamic_hw: bool, height: int, width: int) -> None:
    """Write the promised `disparity` shape [B,1,H,W] into the graph's output.

    The tracer leaves the output axes symbolic (`ReduceSumdisparity_dim_0`...) even for a static
    export; the declared shape is what consumers (TensorRT, Triton, users) read, so it names the
    same static sizes / dynamic axes as the inputs. onnx.checker's shape inference then checks it.
    """
    want = ["batch" if batch_size == -1 else batch_size, 1,
            "height" if dynamic_hw else height, "width" if dynamic_hw else width]
    (output,) = [o for o in model.graph.output if o.name == OUTPUT_NAME]
    dims = output.type.tensor_type.shape.dim
    del dims[:]
    for value in want:
        dim = dims.add()
        if isinstance(value, int):
            dim.dim_value = value
        else:
            dim.dim_param = value


def temp_path_for(path: Path) -> Path:
    """The in-progress name of `path` (hidden, same folder, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def export_onnx(net: nn.Module, onnx_file: str | Path, *, height: int, width: int, batch_size: int = 1,
                dynamic_hw: bool = False, opset: int = 17, iters: int = 8,
                device: torch.device | str = "cpu", metadata: dict | None = None, verbose: bool = False) -> Path:
    """Trace `net` at fp32 and write one ONNX file to a temporary path next to `onnx_file`.

    Args:
        net: the network (its weights are not modified; it is put in eval mode).
        onnx_file: the final path (the caller renames the returned temp file after its checks).
        height, width: trace size (multiples of 32).
        batch_size: static batch, or -1 for a dynamic batch axis.
        dynamic_hw: make H and W dynamic.
        opset: ONNX opset version.
        iters: GRU iterations baked into the graph.
        device: where to trace.
        metadata: extra JSON-able settings stored under the `depth_net` metadata key (`model`
            defaults to `net.cfg`).
        verbose: print the exporter's graph dump (TAO's `export.verbose`).
    Returns:
        the temporary file holding the complete model.
    """
    import onnx

    check_export_size(height, width)
    check_opset(opset)
    onnx_file = Path(onnx_file)
    net = net.float().eval().to(device)
    graph = _ExportGraph(net, iters).eval()  # eval BEFORE export: the exporter restores the mode it found
    batch = 1 if batch_size == -1 else batch_size
    dummy = tuple(torch.zeros(batch, 3, height, width, device=device) for _ in INPUT_NAMES)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        for pattern in _QUIET:
            warnings.filterwarnings("ignore", message=pattern)
        # torch's own shape asserts (instance / batch norm) trace as constants: true for any size
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.")
        try:
            torch.onnx.export(graph, dummy, buffer, dynamo=False, opset_version=opset,
                              input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                              dynamic_axes=dynamic_axes(batch_size, dynamic_hw), do_constant_folding=True,
                              verbose=verbose)
        except torch.onnx.errors.OnnxExporterError as err:  # UnsupportedOperatorError, SymbolicValueError
            raise ExportError(f"export: the ONNX exporter (opset {opset}) fails: "
                              f"{str(err).splitlines()[0]}"[:500]) from None
    if buffer.tell() >= _TWO_GB:
        raise ExportError(f"export: the model is {buffer.tell() / 1024**3:.1f} GB; one ONNX file holds < 2 GB")
    model = onnx.load_from_string(buffer.getvalue())
    info = dict(metadata or {}, valid_iters=iters, input_height=height, input_width=width,
                batch_size=batch_size, dynamic_hw=dynamic_hw, opset_version=opset)
    if "model" not in info and hasattr(net, "cfg"):  # the network it came from, which deploy checks against
        info["model"] = net.cfg.to_dict()
    entry = model.metadata_props.add()
    entry.key, entry.value = "depth_net", json.dumps(info)
    model.producer_name = "depth_net"
    _declare_output_shape(model, batch_size, dynamic_hw, height, width)
    tmp = temp_path_for(onnx_file)
    try:
        onnx_file.parent.mkdir(parents=True, exist_ok=True)
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    except BaseException as err:  # a full disk, a read-only mount, Ctrl-C: no partial file stays behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise ExportError(f"export.onnx_file: cannot write {onnx_file}: {err.strerror or err}") from None
        raise
    return tmp


def check_onnx(path: str | Path) -> None:
    """onnx.checker (full check with shape inference) and the single-file rule; ExportError if not."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as err:  # onnx.checker.ValidationError, onnx.shape_inference.InferenceError
        raise ExportError(f"export: {path}: onnx.checker rejects the model: {str(err).splitlines()[0]}"[:500]) \
            from None
    model = onnx.load(str(path), load_external_data=False)
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise ExportError(f"export: {path}: {len(external)} weights are stored in external files; "
                          f"the export must be one ONNX file")


def compare_with_pytorch(net: nn.Module, onnx_file: str | Path, left: torch.Tensor, right: torch.Tensor,
                         iters: int) -> dict[str, float]:
    """|ONNX Runtime (CPU) - PyTorch (CPU)| disparity on one input, both in fp32.

    Returns:
        {"max_abs_diff": px, "mean_abs_diff": px}.
    """
    from model.deploy.onnx_runner import OnnxRunner

    net = net.float().eval().to("cpu")
    with torch.inference_mode():
        ref = net(left.cpu(), right.cpu(), iters=iters, test_mode=True)  # [B,1,H,W]
    out = OnnxRunner(onnx_file, cpu_only=True)(left, right)
    if out.shape != ref.shape:
        raise ExportError(f"export: ONNX output shape {list(out.shape)} differs from PyTorch {list(ref.shape)}")
    diff = (out - ref).abs()
    if not torch.isfinite(diff).all():
        return {"max_abs_diff": float("inf"), "mean_abs_diff": float("inf")}
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
