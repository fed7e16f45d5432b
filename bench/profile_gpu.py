"""Where the GPU time of one FFS-bp2 inference goes: per stage and per kernel.

Stage times come from CUDA events around each top-level module (feature, cost_agg,
update_block, ...); what is left of the total is the functional part (volume building,
geometry lookups, upsampling arithmetic). Kernel times come from torch.profiler.

    python bench/profile_gpu.py --height 480 --width 640 --iters 8 --precision bf16 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.evaluation.runtime import FastForward  # noqa: E402
from model.network import build_network  # noqa: E402


def stage_times(net, fast, left, right, repeats: int) -> dict[str, float]:
    """Mean GPU ms per forward spent inside each top-level child module."""
    events: dict[str, list] = defaultdict(list)
    handles = []
    for name, child in net.named_children():
        def pre(_m, _i, name=name):
            start = torch.cuda.Event(enable_timing=True)
            start.record()
            events[name].append([start, None])

        def post(_m, _i, _o, name=name):
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            events[name][-1][1] = end
        handles += [child.register_forward_pre_hook(pre), child.register_forward_hook(post)]
    total_start, total_end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    total_start.record()
    for _ in range(repeats):
        fast(left, right)
    total_end.record()
    torch.cuda.synchronize()
    for h in handles:
        h.remove()
    out = {name: sum(s.elapsed_time(e) for s, e in pairs) / repeats for name, pairs in events.items()}
    out["total"] = total_start.elapsed_time(total_end) / repeats
    out["outside_modules"] = out["total"] - sum(v for k, v in out.items() if k != "total")
    return out


def top_kernels(fast, left, right, count: int) -> list[dict]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            fast(left, right)
        torch.cuda.synchronize()
    rows = []
    for ev in prof.key_averages():
        cuda_us = getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0)
        if cuda_us:
            rows.append({"name": ev.key[:90], "calls": ev.count // 3, "ms_per_forward": cuda_us / 3 / 1e3})
    rows.sort(key=lambda r: -r["ms_per_forward"])
    return rows[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: bench/profile_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    net = build_network(NetworkConfig()).cuda().eval()
    fast = FastForward(net, "eager", args.precision, iters=args.iters, key="bench")
    left = torch.randn(1, 3, args.height, args.width, device="cuda")
    right = torch.randn_like(left)
    for _ in range(3):
        fast(left, right)
    stages = stage_times(fast.net, fast, left, right, repeats=10)  # the rewritten copy is what runs
    kernels = top_kernels(fast, left, right, args.top)
    print(f"GPU ms per forward by stage ({args.height}x{args.width}, {args.iters} iters, {args.precision}, eager):")
    for name, ms in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {ms:8.2f}")
    print("top kernels (GPU ms per forward):")
    for r in kernels:
        print(f"  {r['ms_per_forward']:7.2f} ms {r['calls']:5d} calls  {r['name']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"stages_ms": stages, "kernels": kernels, "args": vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
