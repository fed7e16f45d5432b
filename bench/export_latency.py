"""ONNX Runtime CPU vs PyTorch CPU latency of the exported network, in one run.

    python bench/export_latency.py --height 480 --width 736 --repeats 10 --json runs/bench/export_latency.json
    python bench/export_latency.py --height 64 --width 96 --repeats 3      # quick smoke run

Exports the bp2-width network (random weights, or `--checkpoint`) as `depth_net export`
does (fp32, static 1 x 3 x H x W, `--iters` GRU iterations unrolled), checks the parity on
a Synthetic pair, then times PyTorch (eager, inference mode) and ONNX Runtime (CPU
provider) on the same input with the same thread count: median and mean of `--repeats`
runs after `--warmup` untimed ones. Prints a table and writes JSON (sizes, iterations,
threads, latencies, speed-up, ONNX file size, max / mean abs diff, versions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.deploy.onnx_runner import OnnxRunner  # noqa: E402
from model.export.onnx import check_onnx, compare_with_pytorch, export_onnx  # noqa: E402
from model.network import build_network  # noqa: E402


def _time(fn, warmup: int, repeats: int) -> list[float]:
    """Wall times (ms) of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _network(checkpoint: str | None, config: str):
    if checkpoint:
        from model.network.checkpoint import load_network_from_checkpoint

        return load_network_from_checkpoint(checkpoint)
    cfg = NetworkConfig() if config == "bp2" else NetworkConfig.tiny()
    torch.manual_seed(0)
    return build_network(cfg).eval(), cfg


def run(args: argparse.Namespace) -> dict:
    """Export, check and time; returns the JSON-able result."""
    torch.set_num_threads(args.threads)
    net, cfg = _network(args.checkpoint, args.config)
    iters = args.iters or cfg.valid_iters
    from model.data.synthetic import SyntheticStereo

    sample = SyntheticStereo(1, seed=0, image_size=(args.height, args.width), max_disparity=cfg.max_disparity)[0]
    left, right = sample["left"][None], sample["right"][None]  # [1,3,H,W]
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(args.onnx) if args.onnx else Path(tmp) / "depth_net.onnx"
        start = time.perf_counter()
        staged = export_onnx(net, target, height=args.height, width=args.width, batch_size=1, iters=iters,
                             opset=args.opset)
        export_s = time.perf_counter() - start
        check_onnx(staged)
        os.replace(staged, target)
        size_mb = target.stat().st_size / 1024**2
        parity = compare_with_pytorch(net, target, left, right, iters)
        runner = OnnxRunner(target, cpu_only=True, threads=args.threads)

        def torch_call():
            with torch.inference_mode():
                net(left, right, iters=iters, test_mode=True)

        pyt_ms = _time(torch_call, args.warmup, args.repeats)
        ort_ms = _time(lambda: runner(left, right), args.warmup, args.repeats)
    import onnxruntime

    return {
        "network": args.checkpoint or args.config, "height": args.height, "width": args.width, "batch": 1,
        "valid_iters": iters, "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
        "opset": args.opset, "onnx_size_mb": size_mb, "export_time_s": export_s, **parity,
        "pytorch_cpu_ms": {"median": statistics.median(pyt_ms), "mean": statistics.fmean(pyt_ms), "all": pyt_ms},
        "onnxruntime_cpu_ms": {"median": statistics.median(ort_ms), "mean": statistics.fmean(ort_ms), "all": ort_ms},
        "speedup_ort_vs_pytorch": statistics.median(pyt_ms) / statistics.median(ort_ms),
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                     "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                     "cpu_count": os.cpu_count()},
    }


def _print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{res['network']} at {res['height']} x {res['width']}, {res['valid_iters']} iterations, "
                        f"{res['threads']} threads, CPU")
    for col in ("runtime", "median ms", "mean ms", "runs"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for name, key in (("PyTorch (eager)", "pytorch_cpu_ms"), ("ONNX Runtime", "onnxruntime_cpu_ms")):
        t = res[key]
        table.add_row(name, f"{t['median']:.1f}", f"{t['mean']:.1f}", str(len(t["all"])))
    Console().print(table)
    print(f"ONNX file {res['onnx_size_mb']:.1f} MB; speed-up ORT / PyTorch x{res['speedup_ort_vs_pytorch']:.2f}; "
          f"max abs diff {res['max_abs_diff']:.2e} px, mean {res['mean_abs_diff']:.2e} px")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=480, help="export / input height (multiple of 32)")
    parser.add_argument("--width", type=int, default=736, help="export / input width (multiple of 32)")
    parser.add_argument("--iters", type=int, default=None, help="GRU iterations (default: the model's valid_iters)")
    parser.add_argument("--checkpoint", default=None, help="a .pth to export instead of random bp2 weights")
    parser.add_argument("--config", choices=("bp2", "tiny"), default="bp2", help="network without --checkpoint")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (both runtimes)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per runtime")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--onnx", default=None, help="keep the ONNX file here (default: a temporary file)")
    parser.add_argument("--json", default="runs/bench/export_latency.json", help="where to write the result")
    args = parser.parse_args(argv)
    res = run(args)
    _print_table(res)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
