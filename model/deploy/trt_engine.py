"""TensorRT engine building from an ONNX file (TensorRT Python API).

Pure parts (unit-tested without a GPU): `tensorrt_missing` says what is absent,
`profile_shapes` turns the ONNX input shape and the spec's `gen_trt_engine.tensorrt`
section into one optimisation profile, `builder_settings` resolves precision,
workspace (MiB, as in TAO -> bytes) and the timing cache. `build_engine` does the build and
writes the engine (and the updated timing cache) atomically.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Callable, Sequence

from model.errors import ExportError, RunFailed, SpecError
from model.onnx_graph import INPUT_NAMES  # the engine's inputs are the exported graph's

__all__ = ["INSTALL_HINT", "tensorrt_missing", "require_tensorrt", "profile_shapes", "builder_settings",
           "build_engine", "INPUT_NAMES"]

INSTALL_HINT = "pip install 'depth-net[tensorrt]'"
MIB = 1 << 20
_KEY = "gen_trt_engine.tensorrt"
#: where to go without TensorRT: the exported ONNX file runs anywhere with ONNX Runtime
ONNX_INSTEAD = ("without it, the ONNX file runs with ONNX Runtime on any machine: set inference.onnx_file "
                "(or evaluate.onnx_file) to it")


def tensorrt_missing(cuda_available: bool | None = None, tensorrt_found: bool | None = None) -> str | None:
    """None when TensorRT can build here, else a one-line reason naming what is missing and the fix.

    Args:
        cuda_available: override the CUDA probe (tests); None asks torch.
        tensorrt_found: override the `tensorrt` import probe (tests); None looks for the module.
    """
    if tensorrt_found is None:
        tensorrt_found = importlib.util.find_spec("tensorrt") is not None
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not tensorrt_found:
        return (f"TensorRT is not installed (the Python module `tensorrt` cannot be imported); it needs an "
                f"NVIDIA GPU: install the extra there ({INSTALL_HINT}); {ONNX_INSTEAD}")
    if not cuda_available:
        return ("no CUDA GPU is visible (torch.cuda.is_available() is False); TensorRT engines are built "
                f"and run on an NVIDIA GPU with its driver installed; {ONNX_INSTEAD}")
    return None


def require_tensorrt(where: str) -> None:
    """Raise ExportError (exit 2) naming what is missing when TensorRT cannot run here."""
    reason = tensorrt_missing()
    if reason:
        raise ExportError(f"{where}: {reason}")


def _level(section: dict, level: str, dim: str) -> int | None:
    return section.get(f"{level}_{dim}")


def _dim_range(onnx_dim: int | None, section: dict, dim: str) -> tuple[int, int, int]:
    """(min, opt, max) of one axis: a static ONNX axis is fixed; a dynamic one comes from the spec."""
    values = [_level(section, lv, dim) for lv in ("min", "opt", "max")]
    if onnx_dim is not None:
        for lv, v in zip(("min", "opt", "max"), values):
            if v is not None and v != onnx_dim and not (dim == "batch_size" and v == 1):
                raise SpecError(f"{_KEY}.{lv}_{dim}: {v}, but the ONNX {dim.split('_')[0]} is static {onnx_dim}; "
                                f"leave it {'1' if dim == 'batch_size' else 'null'} or export with a dynamic axis")
        return onnx_dim, onnx_dim, onnx_dim
    if any(v is None for v in values):
        raise SpecError(f"{_KEY}.min/opt/max_{dim}: the ONNX {dim.split('_')[0]} is dynamic; set all three "
                        f"(got {values[0]}, {values[1]}, {values[2]})")
    lo, opt, hi = values
    if not lo <= opt <= hi:
        raise SpecError(f"{_KEY}.min/opt/max_{dim}: need min <= opt <= max, got {lo}, {opt}, {hi}")
    if dim != "batch_size" and any(v % 32 for v in values):
        raise SpecError(f"{_KEY}.min/opt/max_{dim}: {lo}, {opt}, {hi}: each must be a multiple of 32 "
                        f"(the network's stride)")
    return lo, opt, hi


def profile_shapes(onnx_shape: Sequence[int | None], section: dict,
                   names: Sequence[str] = INPUT_NAMES) -> dict[str, tuple[tuple[int, ...], ...]]:
    """The optimisation profile {input name: (min, opt, max) shapes} for a [B,3,H,W] ONNX input.

    Args:
        onnx_shape: the ONNX input shape, None for each dynamic axis.
        section: `gen_trt_engine.tensorrt` (min/opt/max_batch_size, _height, _width).
        names: the input names (both get the same profile).
    Raises:
        SpecError: a dynamic axis without a complete range, a range out of order, a size that is
        not a multiple of 32, or a value that contradicts a static ONNX axis.
    """
    if len(onnx_shape) != 4 or onnx_shape[1] != 3:
        raise ExportError(f"the ONNX input shape {list(onnx_shape)} is not [B, 3, H, W]")
    b = _dim_range(onnx_shape[0], section, "batch_size")
    h = _dim_range(onnx_shape[2], section, "height")
    w = _dim_range(onnx_shape[3], section, "width")
    shapes = tuple((b[i], 3, h[i], w[i]) for i in range(3))
    return {name: shapes for name in names}


def builder_settings(section: dict) -> dict:
    """Resolved builder settings from the `gen_trt_engine` spec section.

    Returns:
        {"fp16": bool, "workspace_bytes": int (tensorrt.workspace_size MiB * 2**20, TAO's unit),
         "timing_cache": Path | None, "gpu_id": int, "verbose": bool}.
    """
    trt_cfg = section.get("tensorrt") or {}
    mib = float(trt_cfg.get("workspace_size", 4096))
    if mib <= 0:
        raise SpecError(f"{_KEY}.workspace_size: {mib} must be > 0 (MiB)")
    cache = section.get("timing_cache")
    return {"fp16": str(trt_cfg.get("data_type", "FP16")).upper() == "FP16", "workspace_bytes": int(mib * MIB),
            "timing_cache": Path(cache) if cache else None, "gpu_id": int(section.get("gpu_id") or 0),
            "verbose": bool(section.get("verbose"))}


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build_engine(onnx_file: Path, engine_file: Path, profile: dict, settings: dict,
                 log: Callable[[str], None] = print) -> Path:
    """Parse the ONNX, build a serialized engine with one profile, write it (and the timing cache).

    Raises:
        ExportError: TensorRT is missing, cannot parse the ONNX, or FP16 is asked of a TensorRT
        without precision flags; RunFailed: the build itself failed.
    """
    require_tensorrt("gen_trt_engine")
    import tensorrt as trt
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(settings.get("gpu_id", 0))  # TensorRT builds on the current CUDA device
    logger = trt.Logger(trt.Logger.VERBOSE if settings.get("verbose") else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"gen_trt_engine.onnx_file: {onnx_file}: TensorRT cannot parse it: {errors}"[:600])
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings["workspace_bytes"])
    if settings["fp16"]:
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise ExportError(f"gen_trt_engine.tensorrt.data_type: FP16 needs TensorRT 10.x (this is "
                              f"{trt.__version__}, strongly typed only); use FP32 or install tensorrt<11")
        config.set_flag(trt.BuilderFlag.FP16)
    opt_profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile.items():
        opt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(opt_profile)
    cache_path = settings.get("timing_cache")
    if cache_path is not None:
        blob = cache_path.read_bytes() if cache_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=True)
        log(f"timing cache: {cache_path} ({'read' if blob else 'new'})")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RunFailed(f"gen_trt_engine: TensorRT failed to build an engine from {onnx_file} (see its log above)")
    engine_file.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(engine_file, bytes(serialized))
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(cache_path, bytes(config.get_timing_cache().serialize()))
    return engine_file
