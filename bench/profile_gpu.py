"""Where the GPU time of one FFS-bp2 inference goes: per stage and per kernel.

Stage times come from CUDA events around each top-level module (feature, cost_agg,
update_block, ...); what is left of the total is the functional part (volume building,
geometry lookups, upsampling arithmetic). Kernel times come from torch.profiler: per kernel,
and in total (the GPU busy time of one forward, and the number of kernels it launches).

`--runtime compile` profiles the Inductor-compiled forward without CUDA graphs (the profiler
sees each fused kernel) and puts its wall time beside the same compiled forward replayed as
CUDA graphs (`COMPILE_OPTIONS`, what `compile` runs in the product): busy time vs wall
time says how much is left in launch gaps and how much in the kernels themselves.

    python bench/profile_gpu.py --height 480 --width 640 --iters 8 --precision bf16 --json out.json
    python bench/profile_gpu.py --runtime compile --precision bf16 --json out.json
    python bench/profile_gpu.py --runtime compile --stages --precision bf16 --json out.json

`--stages` (with `--runtime compile`) also cuts the forward into its stages (backbone, volume,
aggregation, context, geometry pyramids, one GRU iteration, the last iteration with the
upsampling), compiles each on its own and reports its GPU busy time: where the compiled
forward's time goes, which the fused kernels' names do not say.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.evaluation.runtime import COMPILE_OPTIONS, FastForward  # noqa: E402
from model.network import build_network  # noqa: E402

#: what `compile` builds, without Inductor's CUDA graphs: the profiler sees each fused kernel
UNGRAPHED = {**COMPILE_OPTIONS, "triton.cudagraphs": False}


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


def kernel_profile(fn, left, right, count: int) -> tuple[list[dict], dict]:
    """The top `count` kernels (GPU ms per forward) and the totals: busy ms and kernels per forward."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            fn(left, right)
        torch.cuda.synchronize()
    rows, device_rows = [], []
    for ev in prof.key_averages():
        cuda_us = getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0)
        if cuda_us:
            row = {"name": ev.key[:90], "calls": ev.count / 3, "ms_per_forward": cuda_us / 3 / 1e3}
            rows.append(row)
            if getattr(ev, "device_type", None) == torch.autograd.DeviceType.CUDA:
                device_rows.append(row)  # kernels, memcpy, memset: not the ops that launched them
    rows = device_rows or rows
    rows.sort(key=lambda r: -r["ms_per_forward"])
    totals = {"busy_ms": sum(r["ms_per_forward"] for r in rows),
              "kernel_launches": sum(r["calls"] for r in rows)}
    return rows[:count], totals


def compiled_stage_times(net, fast, left: torch.Tensor, right: torch.Tensor, iters: int) -> dict[str, dict]:
    """GPU busy ms and kernel count of each forward stage, compiled on its own (no CUDA graphs).

    The stages are FastFoundationStereo.forward's calls in order (see stereo_net.py), each fed
    the previous stages' real outputs; "GRU iteration" counts (iters - 1) times per forward.
    """
    from model.network.disparity import soft_argmin

    b = left.shape[0]
    run = {}

    def stage(name: str, fn, *inputs, per_forward: int = 1):
        compiled = torch.compile(fn, dynamic=False, options=UNGRAPHED)
        with torch.inference_mode(), fast._cudnn_flags(), fast._autocast():
            for _ in range(3):
                out = compiled(*inputs)
            _, totals = kernel_profile(lambda *_: compiled(*inputs), None, None, 0)
        run[name] = {"busy_ms": totals["busy_ms"] * per_forward,
                     "kernels": totals["kernel_launches"] * per_forward, "per_forward": per_forward}
        return out

    feats = stage("feature (backbone, left+right)", lambda l, r: net.feature(torch.cat([l, r])), left, right)
    feats_l = [f[:b] for f in feats]
    fl4, fr4 = feats_l[0], feats[0][b:]
    stem_2x = stage("stem_2", net.stem_2, left)
    volume = stage("volume (gwc + concat + corr_feature_att)",
                   lambda a, c: net.corr_feature_att(net._initial_volume(a, c), a), fl4, fr4)

    def aggregate(v, f):
        agg = net.cost_agg(v, f)
        return agg, soft_argmin(net.classifier(agg))

    volume, init_disp = stage("cost_agg + classifier + soft_argmin", aggregate, volume, feats_l)
    hidden, inp, att = stage("context (cnet, cam, sam)", net._context, fl4)
    with torch.inference_mode():
        geo = net._geometry(fl4, fr4, volume)  # the loop's lookups

    def pyramids(a, c, v):
        g = net._geometry(a, c, v)
        return (*g.geo_pyramid, *g.corr_pyramid)

    stage("geometry pyramids", pyramids, fl4, fr4, volume)

    def iteration(disp, h, with_mask=False):  # geo's pyramids: free tensors, lifted to graph inputs
        h, mask, delta = net.update_block(h, inp, geo.lookup(disp), disp, att, with_mask=with_mask)
        return h, mask, disp + delta.float()

    stage("GRU iteration (lookup + update)", iteration, init_disp, hidden, per_forward=iters - 1)

    def last(disp, h):
        _, mask, disp = iteration(disp, h, with_mask=True)
        return net._upsample(disp, mask, stem_2x)

    stage("last iteration + upsample", last, init_disp, hidden)
    return run


def wall_ms(fn, left, right, repeats: int = 30) -> float:
    """Median wall ms of one forward (synchronised)."""
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn(left, right)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--runtime", default="eager", choices=["eager", "compile"],
                        help="compile: Inductor kernels profiled without CUDA graphs, wall time with and without")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--stages", action="store_true",
                        help="with --runtime compile: GPU busy time of each forward stage, compiled alone")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: bench/profile_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    net = build_network(NetworkConfig()).cuda().eval()
    fast = FastForward(net, "eager", args.precision, iters=args.iters, key="bench", inplace=True,
                       channels_last=args.channels_last)
    left = torch.randn(1, 3, args.height, args.width, device="cuda")
    right = torch.randn_like(left)
    result: dict = {"args": vars(args), "device": torch.cuda.get_device_name(), "torch": torch.__version__}
    if args.runtime == "eager":
        for _ in range(3):
            fast(left, right)
        result["stages_ms"] = stage_times(fast.net, fast, left, right, repeats=10)  # the rewritten copy runs
        result["wall_ms"] = {"eager": wall_ms(fast, left, right)}
        fn = fast
    else:
        # the same rewritten network, compiled twice: kernels visible to the profiler, and as run
        def forward_plain(left, right):  # two code objects: two Dynamo caches, no backend clash
            return fast._forward(left, right)

        def forward_graphed(left, right):
            return fast._forward(left, right)

        plain = torch.compile(forward_plain, dynamic=False, options=UNGRAPHED)
        graphed = torch.compile(forward_graphed, dynamic=False, options=COMPILE_OPTIONS)
        with torch.inference_mode():
            for _ in range(3):
                plain(left, right)
                graphed(left, right)
        fn = torch.inference_mode()(plain)
        result["wall_ms"] = {"compile": wall_ms(fn, left, right),
                             "compile+cudagraphs": wall_ms(torch.inference_mode()(graphed), left, right)}
        if args.stages:
            result["compiled_stages"] = compiled_stage_times(fast.net, fast, left, right, args.iters)
    kernels, totals = kernel_profile(fn, left, right, args.top)
    result.update(kernels=kernels, **totals)
    title = f"{args.height}x{args.width}, {args.iters} iters, {args.precision}, {args.runtime}"
    if "stages_ms" in result:
        print(f"GPU ms per forward by stage ({title}):")
        for name, ms in sorted(result["stages_ms"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<20} {ms:8.2f}")
    if "compiled_stages" in result:
        print(f"GPU busy ms per forward by stage, each compiled alone ({title}):")
        for name, row in result["compiled_stages"].items():
            print(f"  {name:<42} {row['busy_ms']:7.2f} ms {row['kernels']:6.0f} kernels")
        print(f"  {'sum':<42} {sum(r['busy_ms'] for r in result['compiled_stages'].values()):7.2f} ms")
    print(f"wall ms per forward ({title}): " + ", ".join(f"{k} {v:.2f}" for k, v in result["wall_ms"].items()))
    print(f"GPU busy {result['busy_ms']:.2f} ms in {result['kernel_launches']:.0f} kernels per forward "
          f"(mean {1e3 * result['busy_ms'] / max(result['kernel_launches'], 1):.1f} us per kernel)")
    print("top kernels (GPU ms per forward):")
    for r in kernels:
        print(f"  {r['ms_per_forward']:7.2f} ms {r['calls']:6.0f} calls  {r['name']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
