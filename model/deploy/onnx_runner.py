"""Running an exported ONNX model with ONNX Runtime.

The CPU provider is always there; CUDA and TensorRT execution providers are used
first when the installed onnxruntime has them. The runner is shape-agnostic: it
runs whatever batch / size it is given; `DeployPredictor` fits inputs to it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from model.errors import DataError
from model.onnx_graph import INPUT_NAMES, OUTPUT_NAME

__all__ = ["OnnxRunner", "onnx_input_shape", "check_onnx_signature", "read_onnx_metadata", "ort_providers"]

_PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def ort_providers(available: Sequence[str] | None = None, cpu_only: bool = False) -> list[str]:
    """The execution providers to ask for, best first (TensorRT, CUDA, CPU), among those installed."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    if cpu_only:
        return ["CPUExecutionProvider"]
    return [p for p in _PREFERRED if p in available] or ["CPUExecutionProvider"]


def _load_graph(path: Path, where: str):
    """The parsed ONNX model (read only). Checks and the runner ask for the shape, the signature
    and the metadata of the same file, at check time and again at run time: it is parsed once
    while the file is unchanged (a bp2 export is ~80 MB of protobuf)."""
    try:
        stat = path.stat()
        return _parse(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except Exception as err:  # onnx raises DecodeError / OSError / ValueError
        raise DataError(f"{where}: {path}: not a readable ONNX file ({type(err).__name__})") from None


@functools.lru_cache(maxsize=1)
def _parse(path: str, mtime_ns: int, size: int):
    import onnx

    return onnx.load(path, load_external_data=False)


def onnx_input_shape(path: str | Path, where: str = "onnx_file") -> list[int | None]:
    """The first input's shape, None for a dynamic (named or unset) axis."""
    graph = _load_graph(Path(path), where).graph
    if not graph.input:
        raise DataError(f"{where}: {path}: the ONNX graph has no inputs")
    dims = graph.input[0].type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]


def check_onnx_signature(path: str | Path, where: str = "onnx_file") -> None:
    """A depth_net graph: inputs `left_image`, `right_image` [B,3,H,W], output `disparity`; DataError if not."""
    graph = _load_graph(Path(path), where).graph
    inputs = [i.name for i in graph.input]
    outputs = [o.name for o in graph.output]
    if inputs[:2] != list(INPUT_NAMES) or OUTPUT_NAME not in outputs:
        raise DataError(f"{where}: {path}: inputs {inputs} -> outputs {outputs}; expected {', '.join(INPUT_NAMES)} "
                        f"-> {OUTPUT_NAME} (a depth_net export)")
    for value in graph.input[:2]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != 3):
            shape = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
            raise DataError(f"{where}: {path}: input {value.name} has shape {shape}; expected [B, 3, H, W]")


def read_onnx_metadata(path: str | Path, where: str = "onnx_file") -> dict:
    """The `depth_net` metadata written by export (valid_iters, sizes, model config), {} if absent."""
    props = {p.key: p.value for p in _load_graph(Path(path), where).metadata_props}
    try:
        return json.loads(props.get("depth_net", "{}"))
    except json.JSONDecodeError:
        return {}


class OnnxRunner:
    """An ONNX Runtime session over `left_image`, `right_image` -> `disparity`.

    Args:
        path: the .onnx file.
        cpu_only: use only the CPU provider (parity checks, benchmarks).
        threads: intra-op threads (None: ONNX Runtime's default).
    Attributes:
        shape: input shape [B, 3, H, W], None where dynamic; providers: those the session uses.
    """

    def __init__(self, path: str | Path, cpu_only: bool = False, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        check_onnx_signature(self.path)
        self.shape = onnx_input_shape(self.path)
        self.metadata = read_onnx_metadata(self.path)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the TRT / CUDA providers are chatty
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=ort_providers(cpu_only=cpu_only))
        except Exception as err:  # onnxruntime raises its own Fail / InvalidGraph types
            raise DataError(f"onnx_file: {self.path}: ONNX Runtime cannot load it ({str(err).splitlines()[0]})"[:500]) \
                from None
        self.providers = self.session.get_providers()

    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] float32 pair (sizes the model accepts) -> disparity [B,1,H,W] float32 CPU tensor."""
        feeds = {name: image.detach().float().cpu().contiguous().numpy()
                 for name, image in zip(INPUT_NAMES, (left, right))}
        (disp,) = self.session.run([OUTPUT_NAME], feeds)
        return torch.from_numpy(np.ascontiguousarray(disp))
