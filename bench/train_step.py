"""Training-step throughput of the FFS network: as built (eager fp32) against the fast path.

    python bench/train_step.py --device cuda --json bench/results/<date>-<gpu>/train_step.json
    python bench/train_step.py --modes eager-fp32,compile-bf16 --batches 4,8 --device cuda
    python bench/train_step.py --config tiny --device cpu --modes eager-fp32 --steps 3 --warmup 1

One step = forward (train mode, `train_iters` GRU iterations) + sequence loss + backward +
gradient clip + optimizer step, on random inputs of the crop size. Every (mode, batch) runs in a
fresh subprocess (its own compile caches and memory peak); throughput is timed over `--steps`
steps after `--warmup` untimed ones (the compile happens there and is reported), synchronised
only at the ends. Modes:

* `eager-fp32`: the network as built, AdamW (the baseline; always run, at `--base-batch`);
* `eager-bf16`: bf16 autocast, fused AdamW;
* `compile-bf16`: the fast path of `model.training.fast` (`train.runtime: compile`), bf16,
  fused AdamW; `-recompute` adds activation checkpointing of the GRU iterations.

The JSON has every row plus `device`, `speedup` (best fast samples/s over eager-fp32 samples/s)
and `memory_ratio` (that row's peak memory per sample over eager-fp32's), the two numbers of
issue 15's targets (>= 3.0 and <= 0.34).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import NetworkConfig  # noqa: E402
from model.network import build_network  # noqa: E402
from model.training.fast import fused_optimizer_ok, prepare_training_network  # noqa: E402
from model.training.loss import compute_sequence_loss  # noqa: E402

MODES = ("eager-fp32", "eager-bf16", "compile-bf16", "compile-bf16-recompute", "eager-bf16-recompute")
BASELINE = "eager-fp32"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_mode(mode: str, cfg: NetworkConfig, height: int, width: int, batch: int, steps: int, warmup: int,
             device: torch.device, train_iters: int) -> dict:
    """Time one mode in this process; returns its row."""
    runtime, precision = mode.split("-")[:2]
    recompute = mode.endswith("-recompute")
    torch.manual_seed(0)
    net = build_network(cfg).to(device).train()
    fast = mode != BASELINE
    prepare_training_network(net, runtime, recompute=recompute)
    fused = fast and fused_optimizer_ok(net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, fused=True if fused else None)
    dtype = torch.bfloat16 if precision == "bf16" else None
    gen = torch.Generator(device="cpu").manual_seed(0)
    left = torch.randn(batch, 3, height, width, generator=gen).to(device)
    right = torch.randn(batch, 3, height, width, generator=gen).to(device)
    gt = (torch.rand(batch, 1, height, width, generator=gen) * min(cfg.max_disparity, width) * 0.5).to(device)

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            init_disp, preds = net(left, right, iters=train_iters, test_mode=False)
            loss, _ = compute_sequence_loss(init_disp, preds, gt, None, cfg.max_disparity)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0, foreach=True)
        opt.step()
        return loss.detach()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    start = time.perf_counter()
    first = None
    for i in range(warmup):
        step()
        _sync(device)
        if i == 0:
            first = time.perf_counter() - start
    warm_s = time.perf_counter() - start
    start = time.perf_counter()
    losses = [step() for _ in range(steps)]
    _sync(device)
    elapsed = time.perf_counter() - start
    step_s = elapsed / steps
    return {
        "mode": mode, "batch": batch, "height": height, "width": width, "train_iters": train_iters,
        "steps": steps, "warmup": warmup, "first_step_s": first, "warmup_s": warm_s,
        "step_time_s": step_s, "samples_per_s": batch / step_s,
        "peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "peak_reserved_mb": torch.cuda.max_memory_reserved(device) / 2**20 if device.type == "cuda" else None,
        "fused_adamw": fused, "losses": [float(v) for v in losses],
    }


def _child(args: argparse.Namespace, mode: str, batch: int, timeout: float) -> dict:
    """Run one (mode, batch) in a subprocess; an out-of-memory or failure becomes the row's `error`."""
    cmd = [sys.executable, __file__, "--child", mode, "--batches", str(batch), "--height", str(args.height),
           "--width", str(args.width), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--device", args.device, "--config", args.config, "--train-iters", str(args.train_iters)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return {"mode": mode, "batch": batch, "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("ROW "):
            return json.loads(line[4:])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"mode": mode, "batch": batch, "error": tail[:300]}


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=736)
    parser.add_argument("--modes", default="eager-fp32,eager-bf16,compile-bf16,compile-bf16-recompute")
    parser.add_argument("--base-batch", type=int, default=4, help="batch of the eager-fp32 baseline")
    parser.add_argument("--batches", default="4,8", help="batches of the fast modes (a failed one stops the list)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (the compile happens here)")
    parser.add_argument("--train-iters", type=int, default=22, help="GRU iterations per step")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", choices=["bp2", "tiny"], default="bp2")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per (mode, batch)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.height % 32 or args.width % 32:
        parser.error(f"--height {args.height} / --width {args.width} must be multiples of 32")
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        parser.error(f"--modes: {bad[0]!r} is not one of {list(MODES)}")
    cfg = NetworkConfig.tiny() if args.config == "tiny" else NetworkConfig().replace(qkv_layout="standard")
    device = torch.device(args.device)
    if args.child:
        row = run_mode(args.child, cfg, args.height, args.width, int(args.batches), args.steps, args.warmup,
                       device, args.train_iters)
        print("ROW " + json.dumps(row), flush=True)
        return 0

    rows: list[dict] = []
    base = _child(args, BASELINE, args.base_batch, args.timeout)
    _add_row(rows, base, args, device)
    for mode in (m for m in modes if m != BASELINE):
        for batch in (int(b) for b in args.batches.split(",")):
            row = _child(args, mode, batch, args.timeout)
            _add_row(rows, row, args, device)
            if "error" in row:
                break
    _summary(rows, args, device, final=True)
    if args.json:
        print(f"wrote {args.json}")
    return 0


def _add_row(rows: list[dict], row: dict, args: argparse.Namespace, device: torch.device) -> None:
    """Keep a finished row: print it and rewrite the JSON, so a run cut short keeps what it measured."""
    rows.append(row)
    if "error" in row:
        print(f"{row['mode']:>24} b{row['batch']:<3} failed: {row['error']}", flush=True)
    else:
        mem = f"{row['peak_memory_mb']:8.0f} MB" if row["peak_memory_mb"] is not None else ""
        print(f"{row['mode']:>24} b{row['batch']:<3} {row['step_time_s'] * 1000:8.1f} ms/step "
              f"{row['samples_per_s']:7.2f} samples/s {mem}  first step {row['first_step_s']:.1f} s", flush=True)
    _summary(rows, args, device, final=False)


def _summary(rows: list[dict], args: argparse.Namespace, device: torch.device, final: bool) -> None:
    """Write the JSON of the rows so far (`complete` false until every mode ran); print the verdict when final."""
    base = rows[0]
    out = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
           "torch": torch.__version__, "config": args.config, "crop": [args.height, args.width],
           "train_iters": args.train_iters, "rows": rows}
    fast = [r for r in rows if "error" not in r and r["mode"] != BASELINE]
    if "error" not in base and fast:
        best = max(fast, key=lambda r: r["samples_per_s"])
        out["best"] = {"mode": best["mode"], "batch": best["batch"]}
        out["speedup"] = best["samples_per_s"] / base["samples_per_s"]
        if base["peak_memory_mb"] and best["peak_memory_mb"]:
            per_sample = lambda r: r["peak_memory_mb"] / r["batch"]  # noqa: E731
            out["memory_ratio"] = per_sample(best) / per_sample(base)
            lean = min(fast, key=per_sample)
            out["leanest"] = {"mode": lean["mode"], "batch": lean["batch"],
                              "memory_ratio": per_sample(lean) / per_sample(base),
                              "speedup": lean["samples_per_s"] / base["samples_per_s"]}
        if final:
            print(f"best: {best['mode']} batch {best['batch']}: speedup x{out['speedup']:.2f} over {BASELINE} "
                  f"batch {base['batch']}" + (f", memory per sample x{out['memory_ratio']:.2f}"
                                              if "memory_ratio" in out else ""))
    out["complete"] = final
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(out, indent=1), encoding="utf-8")
        os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
