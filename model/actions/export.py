"""`depth_net export`: `export.checkpoint` -> one fp32 ONNX file, checked against PyTorch.

Steps: load the network (a train results folder names its dn_model_latest.pth) ->
trace at `input_height` x `input_width` (static, dynamic batch with batch_size -1,
dynamic H/W with dynamic_hw) with `valid_iters` unrolled -> onnx.checker -> ONNX
Runtime vs PyTorch (both CPU fp32) on a Synthetic pair at the export size. The kpi
holds max_abs_diff / mean_abs_diff (px), onnx_size_mb and export_time_s. A max
difference above `export.max_abs_diff_tolerance` fails the run (exit 1) and the file
is kept only as `<name>.failed.onnx`; the output path is written only on success.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from model.errors import RunFailed, SpecError
from model.evaluation.predictor import load_network, other_network_note
from model.export.onnx import check_export_size, check_onnx, check_opset, compare_with_pytorch, export_onnx
from model.status import StatusLogger, check_can_write, results_dir_for

__all__ = ["check", "run", "onnx_path"]


def onnx_path(spec: dict) -> Path:
    """`export.onnx_file`, or `<export results dir>/depth_net.onnx`."""
    value = spec["export"].get("onnx_file")
    return Path(value) if value else results_dir_for(spec, "export") / "depth_net.onnx"


def export_device(section: dict) -> tuple[torch.device, str | None]:
    """(trace device, note): `cuda:<gpu_id>` unless `on_cpu` or no GPU is visible (then a one-line note).

    The ONNX file is the same either way (the graph is fp32 and traced from the same weights).
    """
    if section["on_cpu"]:
        return torch.device("cpu"), None
    if not torch.cuda.is_available():
        return torch.device("cpu"), ("note: export.on_cpu: false, but no CUDA GPU is visible; tracing on the CPU "
                                     "(the ONNX file is the same)")
    count = torch.cuda.device_count()
    if section["gpu_id"] >= count:
        raise SpecError(f"export.gpu_id: GPU {section['gpu_id']} does not exist; this machine has {count} "
                        f"(use 0..{count - 1}, or export.on_cpu=true)")
    return torch.device(f"cuda:{section['gpu_id']}"), None


def check(spec: dict) -> None:
    """Sizes, opset, device, output path and checkpoint, before anything is written."""
    section = spec["export"]
    export_device(section)
    check_export_size(section["input_height"], section["input_width"])
    check_opset(section["opset_version"])
    out = onnx_path(spec)
    if out.suffix != ".onnx":
        raise SpecError(f"export.onnx_file: {out} must end with .onnx")
    if out.is_dir():
        raise SpecError(f"export.onnx_file: {out} is a folder; name the .onnx file to write")
    if section.get("onnx_file"):  # the default lies in the results dir, which the CLI has checked
        check_can_write(out, "export.onnx_file", out.parent)
    _, cfg = load_network(spec, "export")
    note = other_network_note(spec, cfg, f"export.checkpoint: {section['checkpoint']}")
    spec["model"] = cfg.to_dict()
    if note:
        print(note)


def _sample_pair(height: int, width: int, batch: int, max_disparity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured Synthetic pair (more telling than noise): [batch,3,H,W] each."""
    from model.data.synthetic import SyntheticStereo

    data = SyntheticStereo(num_samples=batch, seed=0, image_size=(height, width), max_disparity=max_disparity)
    samples = [data[i] for i in range(batch)]
    return torch.stack([s["left"] for s in samples]), torch.stack([s["right"] for s in samples])


def run(spec: dict, status: StatusLogger) -> dict:
    """Export and check; returns {"kpi": {max_abs_diff, mean_abs_diff, onnx_size_mb, export_time_s}, ...}."""
    section = spec["export"]
    net, cfg = load_network(spec, "export")
    if cfg.mixed_precision:  # the export is always fp32: no autocast regions in the graph
        net.cfg = cfg.replace(mixed_precision=False)
    iters = int(section["valid_iters"] or cfg.valid_iters)
    height, width, batch_size = section["input_height"], section["input_width"], section["batch_size"]
    device, note = export_device(section)
    if note:
        print(note)
    out = onnx_path(spec)
    shape = ("dynamic" if batch_size == -1 else str(batch_size)) + (" x 3 x H x W (dynamic H/W)" if section[
        "dynamic_hw"] else f" x 3 x {height} x {width}")
    status.write("RUNNING", f"exporting {shape}, {iters} iterations, opset {section['opset_version']} on {device}")
    start = time.perf_counter()
    meta = {"checkpoint": str(section["checkpoint"]), "model": cfg.to_dict()}
    tmp = export_onnx(net, out, height=height, width=width, batch_size=batch_size,
                      dynamic_hw=section["dynamic_hw"], opset=section["opset_version"], iters=iters,
                      device=device, metadata=meta, verbose=section["verbose"])
    try:
        export_time = time.perf_counter() - start
        check_onnx(tmp)
        left, right = _sample_pair(height, width, max(batch_size, 1), cfg.max_disparity)
        diffs = compare_with_pytorch(net, tmp, left, right, iters)
        kpi = {**diffs, "onnx_size_mb": tmp.stat().st_size / 1024**2, "export_time_s": export_time}
        text = (f"ONNX Runtime vs PyTorch at {height} x {width}: max abs diff {diffs['max_abs_diff']:.3g} px, "
                f"mean abs diff {diffs['mean_abs_diff']:.3g} px ({kpi['onnx_size_mb']:.1f} MB)")
        print(text)
        status.write("RUNNING", text, kpi=kpi)
        tolerance = section["max_abs_diff_tolerance"]
        if not diffs["max_abs_diff"] <= tolerance:
            failed = out.with_name(out.stem + ".failed.onnx")
            os.replace(tmp, failed)
            raise RunFailed(f"export: max abs diff {diffs['max_abs_diff']:.4g} px > export.max_abs_diff_tolerance "
                            f"{tolerance}; the model is kept as {failed} (not {out.name})")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    print(f"export: wrote {out}")
    return {"kpi": kpi, "outputs": [str(out)]}
