"""FFS-bp2 inference speed on one GPU: eager fp32 as built (the baseline) against every fast mode.

For each mode (runtime x precision), size and iteration count it measures, in one run:
batch-1 latency (median and p90 of --repeats runs after warm-up, and the first call, which
includes capture / compilation), batch-4 frames/s, peak GPU memory, and the drift of the
disparity against eager fp32 (max and mean |d - d_fp32| on a synthetic scene, golden weights).
With --golden it also checks golden case A parity of every mode (fp32 modes within 1e-3 px; a
compile mode compiles once more for its 128 x 160) and, with --real, the EPE on the shared real
samples per mode (half precisions must stay within 1 % of fp32). Compile modes run at the sizes
of --compile-only (each size compiles for about a minute, batch 4 once more). Prints a table,
writes JSON (--json). Ten minutes per device call: split the modes over calls.

    python bench/network_gpu.py --golden ../shared/data/golden --real ../shared/data/real --json out.json
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.data.synthetic import SyntheticStereo  # noqa: E402
from model.evaluation.runtime import FastForward  # noqa: E402
from model.network import build_network  # noqa: E402
from model.network.checkpoint import load_network_weights  # noqa: E402

# runtime-precision[-flags]: "raw" = the network as built (no BN folding / weight pre-cast), the
# baseline; "cl" = channels-last weights and activations; "nopad" = the cost volume and the GRU
# keep their odd channel counts (channels-last half precision pads them to multiples of 8 by
# default); "no2d" = compile keeps cuDNN's 3D convs (not 2D convs + shifted sums, Conv3dAsConv2d);
# "bench" / "nobench" = cuDNN's algorithm search on / off (default: on for compile and cudagraph).
BASELINE = "eager-fp32-raw"
MODES = [BASELINE, "eager-fp32", "eager-bf16", "eager-fp16", "cudagraph-fp32", "cudagraph-bf16", "cudagraph-fp16",
         "compile-fp32", "compile-bf16-cl", "compile-fp16-cl"]  # what `runtime: X, precision: Y` runs


def _fast(net, mode: str, iters: int | None) -> FastForward:
    """The network (kept on the CPU) copied to the GPU and prepared for `mode`: one copy on the GPU."""
    runtime, precision, *flags = mode.split("-")
    return FastForward(copy.deepcopy(net).cuda(), runtime, precision, iters=iters, key="bench",
                       optimize="raw" not in flags, channels_last="cl" in flags,
                       pad_channels=False if "nopad" in flags else None,
                       convs_2d=False if "no2d" in flags else None, inplace=True,
                       cudnn_benchmark=True if "bench" in flags else False if "nobench" in flags else None)


def _load_net(golden: Path | None) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network(NetworkConfig())
    if golden is not None:
        raw = torch.load(golden / "ffs_bp2_random_weights_fp16.pt", map_location="cpu", weights_only=True)
        load_network_weights(net, {k: v.float() if v.is_floating_point() else v for k, v in raw.items()})
    return net.eval()  # stays on the CPU; each mode copies it to the GPU


def _scene(h: int, w: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = SyntheticStereo(num_samples=batch, seed=7, image_size=(h, w), max_disparity=192)
    samples = [data[i] for i in range(batch)]
    left = torch.stack([s["left"] for s in samples]).cuda()
    right = torch.stack([s["right"] for s in samples]).cuda()
    return left, right


def _time(fn, left, right, repeats: int, warmup: int) -> tuple[float, list[float]]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn(left, right)
    torch.cuda.synchronize()
    first_ms = (time.perf_counter() - start) * 1e3
    for _ in range(warmup):
        fn(left, right)
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(left, right)
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return first_ms, times


def _measure(net, mode: str, h: int, w: int, iters: int, args, reference: dict) -> dict:
    # Memory is counted as what the caching allocator holds (reserved), not what tensors hold
    # (allocated): a CUDA graph's activations live in its private pool, allocated once at
    # capture, and replays never pass through the allocator, so max_memory_allocated() would
    # see only the weights and the output. The CUDA context (~500 MB, driver-owned) is not included.
    # What the row adds is measured against the smaller of what was reserved before it and what
    # stays reserved after its teardown: memory of earlier rows that is released during this one
    # (a graph pool freed late) must not make the row look smaller, nor a pool this row leaves
    # behind make it look free.
    gc.collect()
    torch.cuda.empty_cache()
    before_mb = torch.cuda.memory_reserved() / 2**20
    torch.cuda.reset_peak_memory_stats()
    fast = _fast(net, mode, iters)
    left1, right1 = _scene(h, w, 1)
    first_ms, _ = _time(fast, left1, right1, 0, args.warmup)
    first_peak_mb = torch.cuda.max_memory_reserved() / 2**20  # with cuDNN's algorithm search
    torch.cuda.empty_cache()  # drop the search's workspaces; graph pools stay while their graph lives
    torch.cuda.reset_peak_memory_stats()  # steady state: weights + graph pool or activations + workspace
    _, times = _time(fast, left1, right1, args.repeats, 0)
    peak_mb = torch.cuda.max_memory_reserved() / 2**20
    peak_alloc_mb = torch.cuda.max_memory_allocated() / 2**20
    times.sort()
    row = {"mode": mode, "height": h, "width": w, "iters": iters, "first_call_ms": first_ms,
           "median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
           "peak_allocated_mb": peak_alloc_mb}
    disp = fast(left1, right1)
    key = (h, w, iters)
    if mode == BASELINE:
        reference[key] = disp
    if key in reference:
        diff = (disp - reference[key]).abs()
        row["max_abs_diff_px"], row["mean_abs_diff_px"] = diff.max().item(), diff.mean().item()
    if args.batch4:
        left4, right4 = _scene(h, w, 4)
        _, times4 = _time(fast, left4, right4, max(5, args.repeats // 5), 2)
        row["batch4_fps"] = 4 * 1e3 / statistics.median(times4)
    del fast, disp
    if mode.startswith("compile"):
        # Inductor's CUDA graph trees keep one memory pool per device for every compiled function
        # and Dynamo keeps each compiled frame: without a reset the next row's memory counts
        # this row's pool, and its compilation could hit Dynamo's recompile limit.
        torch._dynamo.reset()
        from torch._inductor.cudagraph_trees import reset_cudagraph_trees

        reset_cudagraph_trees()
    gc.collect()
    torch.cuda.empty_cache()
    floor_mb = min(before_mb, torch.cuda.memory_reserved() / 2**20)
    row["peak_mb"], row["first_call_peak_mb"] = peak_mb - floor_mb, first_peak_mb - floor_mb
    return row


def _golden_parity(net, golden: Path, modes: list[str]) -> dict:
    case = torch.load(golden / "golden_A.pt", weights_only=True)
    out = {}
    for mode in modes:
        fast = _fast(net, mode, int(case["iters"]))
        disp = fast(case["left"].cuda(), case["right"].cuda()).cpu()
        out[mode] = (disp - case["disparity"]).abs().max().item()
    return out


REAL_SOURCES = {"middlebury2014Q.txt": "Middlebury", "kitti2015.txt": "Kitti", "kitti2012.txt": "Kitti"}


def _real_epe(net, real: Path, modes: list[str], files: list[str]) -> dict:
    from model.data.datasets import build_dataset
    from model.evaluation.metrics import compute_metrics
    from model.network.padding import InputPadder

    samples = []
    for fname in files:
        name = REAL_SOURCES[fname]
        ds = build_dataset({"dataset_name": name, "data_file": str(real / fname)}, split="test",
                           augmentation=None, max_disparity=192)
        samples += [ds[i] for i in range(len(ds))]
    out = {}
    for mode in modes:
        fast = _fast(net, mode, None)
        epes = []
        for s in samples:
            left, right = s["left"][None].cuda(), s["right"][None].cuda()
            padder = InputPadder(left.shape, divis_by=32)
            disp = padder.unpad(fast(*padder.pad(left, right))).cpu()
            m = compute_metrics(disp, s["disp"][None], 192, mask=s["valid"][None])
            epes.append(float(m["epe"]))
        out[mode] = statistics.mean(epes)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--sizes", default="480x640,320x736,480x736")
    parser.add_argument("--iters", default="4,8")
    parser.add_argument("--compile-only", default="480x640x8", help="size x iters where compile modes run")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-batch4", dest="batch4", action="store_false")
    parser.add_argument("--golden", type=Path, default=None, help="golden folder: weights + case A parity")
    parser.add_argument("--real", type=Path, default=None, help="shared real samples folder: EPE per mode")
    parser.add_argument("--real-files", default=",".join(REAL_SOURCES),
                        help="annotation files of --real to score (a compile mode compiles per image size)")
    parser.add_argument("--real-modes", default=None,
                        help="modes scored with --real (default: every non-compile mode; a compile mode "
                             "compiles once per image size)")
    parser.add_argument("--golden-modes", default=None,
                        help="modes checked with --golden (default: every mode of --modes; one compile each)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    files = [f for f in args.real_files.split(",") if f]
    unknown = sorted(set(files) - set(REAL_SOURCES))
    if unknown:
        print(f"error: --real-files: {unknown} not among {list(REAL_SOURCES)}", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("error: bench/network_gpu.py needs a CUDA GPU", file=sys.stderr)
        return 2
    torch.backends.cudnn.benchmark = True
    modes = [m for m in args.modes.split(",") if m]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    iter_list = [int(v) for v in args.iters.split(",")]
    net = _load_net(args.golden)
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": []}
    plain = ([m for m in args.real_modes.split(",") if m] if args.real_modes is not None
             else [m for m in modes if not m.startswith("compile")])
    if args.golden is not None:
        checked = [m for m in args.golden_modes.split(",") if m] if args.golden_modes is not None else modes
        result["golden_A_max_abs_diff_px"] = _golden_parity(net, args.golden, checked)
        print("golden_A_max_abs_diff_px", json.dumps(result["golden_A_max_abs_diff_px"]), flush=True)
    if args.real is not None:
        result["real_files"] = files
        result["real_epe"] = _real_epe(net, args.real, plain, files)
        print("real_epe", json.dumps(result["real_epe"]), flush=True)
    reference: dict = {}
    # compile modes last: their first call compiles for a minute, the table should not wait on it
    order = [m for m in modes if not m.startswith("compile")] + [m for m in modes if m.startswith("compile")]
    for mode in order:
        for (h, w) in sizes:
            for iters in iter_list:
                if mode.startswith("compile") and f"{h}x{w}x{iters}" not in args.compile_only.split(","):
                    continue
                row = _measure(net, mode, h, w, iters, args, reference)
                result["rows"].append(row)
                print(json.dumps(row), flush=True)
                if args.json:  # written as it goes: a run cut short still leaves its rows
                    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.json).write_text(json.dumps(result, indent=2))
    _print_table(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


def _print_table(result: dict) -> None:
    base = {(r["height"], r["width"], r["iters"]): r["median_ms"] for r in result["rows"] if r["mode"] == BASELINE}
    print(f"\nFFS bp2 inference, {result['device']}, torch {result['torch']}")
    print(f"{'mode':<15} {'size':>8} {'it':>2} {'med ms':>7} {'p90 ms':>7} {'first ms':>9} {'x eager':>7} "
          f"{'b4 fps':>7} {'peak MB':>8} {'max|d|':>8} {'mean|d|':>8}")
    for r in result["rows"]:
        b = base.get((r["height"], r["width"], r["iters"]))
        print(f"{r['mode']:<15} {r['height']}x{r['width']:<4} {r['iters']:>2} {r['median_ms']:>7.2f} "
              f"{r['p90_ms']:>7.2f} {r['first_call_ms']:>9.0f} {(b / r['median_ms'] if b else 0):>7.1f} "
              f"{r.get('batch4_fps', 0):>7.1f} {r['peak_mb']:>8.0f} {r.get('max_abs_diff_px', 0):>8.4f} "
              f"{r.get('mean_abs_diff_px', 0):>8.5f}")
    for key in ("golden_A_max_abs_diff_px", "real_epe"):
        if key in result:
            print(key, json.dumps(result[key]))


if __name__ == "__main__":
    raise SystemExit(main())
