"""Forward latency of the bp2 FFS network.

CPU (default): 320 x 736, 8 iterations, batch 1, fp32; prints the median latency and the parameter count.
`--device cuda`: a table for fp32 and bf16 autocast at 480 x 640 and 320 x 736 with 4 and 8 iterations
(median latency, peak memory from torch.cuda.max_memory_allocated); `--json PATH` writes the rows.

    .venv/bin/python bench/network_cpu.py
    .venv/bin/python bench/network_cpu.py --device cuda --json runs/bench_network.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.network import build_network  # noqa: E402
from model.network.checkpoint import load_network_weights  # noqa: E402


def _time_forward(net, size: tuple[int, int], iters: int, device: torch.device, dtype: str,
                  warmup: int, repeats: int) -> dict:
    h, w = size
    left = torch.randn(1, 3, h, w, device=device)
    right = torch.randn(1, 3, h, w, device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext()
    cuda = device.type == "cuda"
    times = []
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), amp:
        for i in range(warmup + repeats):
            start = time.perf_counter()
            net(left, right, iters=iters)
            if cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    row = {"height": h, "width": w, "iters": iters, "dtype": dtype, "median_ms": statistics.median(times),
           "min_ms": min(times), "repeats": repeats}
    if cuda:
        row["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default: cpu 2, cuda 30)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed runs (default: cpu 0, cuda 10)")
    parser.add_argument("--weights", default=None, help="optional checkpoint to load (random bp2 weights otherwise)")
    parser.add_argument("--json", default=None, help="write the result rows to this JSON file")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    cuda = device.type == "cuda"
    repeats = args.repeats or (30 if cuda else 2)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 0)
    torch.manual_seed(0)
    cfg = NetworkConfig()
    net = build_network(cfg)
    if args.weights:
        load_network_weights(net, args.weights)
    net = net.to(device).eval()
    params = sum(p.numel() for p in net.parameters())

    if cuda:
        torch.backends.cudnn.benchmark = True
        cases = [(size, iters, dtype) for dtype in ("fp32", "bf16") for size in ((480, 640), (320, 736))
                 for iters in (4, 8)]
        device_name = torch.cuda.get_device_name(device)
    else:
        cases = [((320, 736), 8, "fp32")]
        device_name = f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
    rows = [_time_forward(net, size, iters, device, dtype, warmup, repeats) for size, iters, dtype in cases]
    if not cuda:
        # Same run, same input: the network as built vs the inference path evaluate/inference use
        # (BN folded into convs, model/evaluation/runtime.py), so a CPU slow-down shows here.
        from model.evaluation.runtime import FastForward

        fast = FastForward(net, "eager", "fp32")
        for size, iters, dtype in cases:
            row = _time_forward(lambda l, r, iters: fast(l, r), size, iters, device, dtype, warmup, repeats)
            row["dtype"] = "fp32 (inference path)"
            rows.append(row)

    print(f"FFS bp2 forward, batch 1, {device_name}, torch {torch.__version__}")
    print(f"parameters: {params:,}")
    header = f"{'size':>9} {'iters':>5} {'dtype':>5} {'median ms':>10} {'min ms':>8}" + (" {:>8}".format("peak MB") if cuda else "")
    print(header)
    for r in rows:
        line = f"{r['height']}x{r['width']:<5} {r['iters']:>5} {r['dtype']:>5} {r['median_ms']:>10.1f} {r['min_ms']:>8.1f}"
        print(line + (f" {r['peak_mb']:>8.0f}" if cuda else ""))
    if args.json:
        out = {"device": device_name, "torch": torch.__version__, "parameters": params, "rows": rows}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
