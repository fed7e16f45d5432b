"""`depth_net gen_trt_engine`: a TensorRT engine from `gen_trt_engine.onnx_file`.

Needs TensorRT (`pip install 'depth-net[tensorrt]'`) and a CUDA GPU; without them
the action stops before writing anything (exit 2) and says which is missing. The
optimisation profile comes from the ONNX input shape and `gen_trt_engine.tensorrt`
(min/opt/max batch; min/opt/max height/width for a dynamic-H/W ONNX);
`tensorrt.workspace_size` is the builder's workspace memory limit in MiB (TAO's unit);
`gpu_id` picks the GPU, `verbose` turns on TensorRT's verbose log;
`timing_cache` is read when present and updated. Next to the engine,
`<engine>.json` records the profile, the precision and the ONNX export metadata
(valid_iters, sizes), which deploy evaluate / the drift report read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from model.deploy.onnx_runner import check_onnx_signature, onnx_input_shape, read_onnx_metadata
from model.model_files import resolve_model_file
from model.deploy.trt_engine import build_engine, builder_settings, profile_shapes, require_tensorrt
from model.errors import DataError, SpecError
from model.status import StatusLogger, results_dir_for

__all__ = ["check", "run", "engine_path"]


def engine_path(spec: dict) -> Path:
    """`gen_trt_engine.trt_engine`, or `<gen_trt_engine results dir>/depth_net.engine`."""
    value = spec["gen_trt_engine"].get("trt_engine")
    return Path(value) if value else results_dir_for(spec, "gen_trt_engine") / "depth_net.engine"


def _onnx_file(spec: dict) -> Path:
    section = spec["gen_trt_engine"]
    if not section.get("onnx_file"):
        raise DataError("gen_trt_engine.onnx_file: required; set it to a .onnx file or the export results folder "
                        "(e.g. gen_trt_engine.onnx_file=runs/exp/export)")
    path, note = resolve_model_file(section["onnx_file"], "onnx_file", "gen_trt_engine")
    if note:
        print(note)
        section["onnx_file"] = str(path)
    return path


def check(spec: dict) -> None:
    """The ONNX file found, the profile valid, TensorRT and a GPU present; nothing is written before.

    The spec's own problems come first: on a machine without TensorRT a missing or wrong ONNX
    file is still named (and fixed before the spec moves to the GPU machine).
    """
    onnx_file = _onnx_file(spec)
    check_onnx_signature(onnx_file, "gen_trt_engine.onnx_file")
    profile_shapes(onnx_input_shape(onnx_file, "gen_trt_engine.onnx_file"), spec["gen_trt_engine"]["tensorrt"])
    builder_settings(spec["gen_trt_engine"])
    if engine_path(spec).is_dir():
        raise SpecError(f"gen_trt_engine.trt_engine: {engine_path(spec)} is a folder; name the engine file")
    require_tensorrt("gen_trt_engine")
    import torch

    gpu, count = spec["gen_trt_engine"]["gpu_id"], torch.cuda.device_count()
    if gpu >= count:
        raise SpecError(f"gen_trt_engine.gpu_id: GPU {gpu} does not exist; this machine has {count} "
                        f"(use 0..{count - 1})")


def run(spec: dict, status: StatusLogger) -> dict:
    """Build the engine; returns {"kpi": {engine_size_mb, build_time_s}, "outputs": [engine, sidecar]}."""
    import tensorrt as trt

    section = spec["gen_trt_engine"]
    onnx_file = _onnx_file(spec)
    profile = profile_shapes(onnx_input_shape(onnx_file, "gen_trt_engine.onnx_file"), section["tensorrt"])
    settings = builder_settings(section)
    out = engine_path(spec)
    lo, opt, hi = profile["left_image"]
    status.write("RUNNING", f"building a {section['tensorrt']['data_type']} engine from {onnx_file}: "
                            f"profile min {lo} opt {opt} max {hi}, workspace {section['tensorrt']['workspace_size']} MiB")
    start = time.perf_counter()
    build_engine(onnx_file, out, profile, settings, log=lambda m: status.write("RUNNING", m))
    build_time = time.perf_counter() - start
    side = out.with_name(out.name + ".json")
    side.write_text(json.dumps({
        "onnx_file": str(onnx_file), "onnx_metadata": read_onnx_metadata(onnx_file),
        "profile": {k: [list(s) for s in v] for k, v in profile.items()},
        "data_type": section["tensorrt"]["data_type"], "workspace_size_mib": section["tensorrt"]["workspace_size"],
        "tensorrt_version": trt.__version__}, indent=2), encoding="utf-8")
    kpi = {"engine_size_mb": out.stat().st_size / 1024**2, "build_time_s": build_time}
    print(f"gen_trt_engine: wrote {out} ({kpi['engine_size_mb']:.1f} MB) in {build_time:.0f} s")
    return {"kpi": kpi, "outputs": [str(out), str(side)]}
