"""Time training steps (forward + loss + backward + AdamW) of the FFS network.

    python bench/train_step.py --height 320 --width 736 --batch 4 --precision bf16 \
        --iters 30 --device cuda --json runs/bench/train_step.json

Prints the median step time and samples/s, and the peak GPU memory; writes them as JSON.
A precision other than fp32 is measured against an fp32 baseline in the same run (the
speed-up is printed; `--no-baseline` skips it). `--config tiny` uses `NetworkConfig.tiny()`
(CPU smoke runs); the default is bp2.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.network import build_network  # noqa: E402
from model.training.loss import compute_sequence_loss  # noqa: E402

_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(cfg: NetworkConfig, height: int, width: int, batch: int, precision: str, iters: int,
               warmup: int, device: torch.device, train_iters: int | None = None) -> dict:
    """Run `warmup + iters` training steps on random data; returns timings and memory.

    Args:
        cfg: the network config.
        height, width: input size (multiples of 32).
        batch: samples per step.
        precision: fp32, fp16 (GradScaler) or bf16 (autocast).
        iters: timed steps; warmup: untimed steps first.
        device: where to run.
        train_iters: GRU iterations (default `cfg.train_iters`).
    """
    torch.manual_seed(0)
    net = build_network(cfg).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    left = torch.randn(batch, 3, height, width, device=device)
    right = torch.randn(batch, 3, height, width, device=device)
    gt = torch.rand(batch, 1, height, width, device=device) * min(cfg.max_disparity, width) * 0.5
    n_iters = train_iters or cfg.train_iters
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for i in range(warmup + iters):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=_DTYPES[precision], enabled=precision != "fp32"):
            init_disp, preds = net(left, right, iters=n_iters, test_mode=False)
            loss, _ = compute_sequence_loss(init_disp, preds, gt, None, cfg.max_disparity)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
            losses.append(float(loss.detach()))
    step = statistics.median(times)
    return {
        "height": height, "width": width, "batch": batch, "precision": precision, "iters": iters,
        "train_iters": n_iters, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "step_time_s": step, "step_time_mean_s": statistics.fmean(times), "samples_per_s": batch / step,
        "peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "losses": losses,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=736)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--precision", choices=sorted(_DTYPES), default="fp32")
    parser.add_argument("--iters", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--train-iters", type=int, default=None, help="GRU iterations (default: config)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", choices=["bp2", "tiny"], default="bp2")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the fp32 baseline run of a half-precision measurement")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args(argv)
    if args.height % 32 or args.width % 32:
        parser.error(f"--height {args.height} / --width {args.width} must be multiples of 32")
    cfg = NetworkConfig.tiny() if args.config == "tiny" else NetworkConfig()
    if args.config == "bp2":
        cfg = cfg.replace(qkv_layout="standard")  # what a from-scratch training uses
    device = torch.device(args.device)
    runs = ["fp32", args.precision] if args.precision != "fp32" and args.baseline else [args.precision]
    results = {}
    for precision in runs:
        result = time_steps(cfg, args.height, args.width, args.batch, precision, args.iters, args.warmup,
                            device, args.train_iters)
        result["config"] = args.config
        results[precision] = result
        mem = f", peak {result['peak_memory_mb']:.0f} MB" if result["peak_memory_mb"] is not None else ""
        print(f"{args.config} {args.height}x{args.width} batch {args.batch} {precision} on "
              f"{result['device_name']}: {result['step_time_s'] * 1000:.1f} ms/step, "
              f"{result['samples_per_s']:.2f} samples/s{mem}")
        if device.type == "cuda":
            torch.cuda.empty_cache()
    out = dict(results[args.precision])
    if args.precision != "fp32" and "fp32" in results:
        out["baseline_fp32"] = results["fp32"]
        out["speedup_vs_fp32"] = results["fp32"]["step_time_s"] / out["step_time_s"]
        print(f"{args.precision} vs fp32: x{out['speedup_vs_fp32']:.2f} step time")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
