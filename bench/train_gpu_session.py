"""Train the bp2-width network from scratch on Synthetic for N minutes; measure speed and accuracy.

    python bench/train_gpu_session.py --minutes 8 --precision bf16 --batch 4 \
        --eval Middlebury=../shared/data/real/middlebury2014Q.txt \
        --eval Kitti=../shared/data/real/kitti2015.txt --out runs/gpu_session_bf16

Goes through the product path (`model.training.runner.fit` with a Lightning Timer), crop
320 x 736 by default. Records steps/s, samples/s, the median step time, the peak GPU memory,
the loss curve, and per-dataset val metrics (epe, bp1..) of the initial weights (before) and
of the final checkpoint (after). Writes `<out>/session.json` and prints a summary.

A session longer than one command may run (the GPU machine's 10-minute cap) is split:
`--minutes 5 --out X`, then `--resume --minutes 10 --out X` on the same machine. The second call
auto-resumes from `X/train/dn_model_latest.pth`; the Lightning Timer's elapsed time is restored
from it, so `--minutes` is the session's total. Steps, time and the loss curve are summed, and
"before" stays the first call's evaluation of the initial weights.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import Timer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.config import NetworkConfig  # noqa: E402
from model.data.datasets import build_dataset  # noqa: E402
from model.evaluation.evaluator import evaluate_dataset  # noqa: E402
from model.evaluation.predictor import TorchPredictor  # noqa: E402
from model.network import build_network  # noqa: E402
from model.network.checkpoint import load_network_from_checkpoint  # noqa: E402
from model.spec import load_spec  # noqa: E402
from model.status import StatusLogger  # noqa: E402
from model.training.runner import fit  # noqa: E402


class _StepRecorder(pl.Callback):
    """Wall time of every optimizer step (device-synchronised) and the loss curve."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.curve: list[tuple[int, float]] = []
        self._t0 = 0.0
        self.started = 0.0

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._sync()
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._sync()
        self.times.append(time.perf_counter() - self._t0)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.curve.append((trainer.global_step, float(loss.detach())))


def _spec(args: argparse.Namespace, out: Path) -> dict:
    base = NetworkConfig.tiny() if args.config == "tiny" else NetworkConfig()
    model = base.replace(qkv_layout="standard").to_dict()  # from scratch: standard attention
    crop = [args.height, args.width]
    size = [args.height + 64, args.width + 96]  # rendered larger than the crop: random crops
    return {
        "results_dir": str(out),
        "model": model,
        "dataset": {
            "max_disparity": model["max_disparity"],
            "train_dataset": {
                "data_sources": [{"dataset_name": "Synthetic", "num_samples": args.num_samples, "seed": args.seed,
                                  "image_size": size}],
                "batch_size": args.batch, "workers": args.workers,
                "augmentation": {"crop_size": crop, "h_flip_prob": 0.0},
            },
            "val_dataset": {"data_sources": []},
        },
        "train": {"num_epochs": 1000, "seed": args.seed, "precision": args.precision, "log_every_n_steps": 10,
                  "checkpoint_interval": 1000, "automl_policy": "off",
                  "optim": {"optimizer": "AdamW", "lr": args.lr, "lr_scheduler": "MultiStepLR",
                            "lr_steps": [10**6], "warmup_steps": args.warmup}},
    }


def _evaluate(net: torch.nn.Module, sources: list[tuple[str, str]], max_disparity: int) -> dict:
    """{name: {epe, bp1, ..., num_images}} of `net` on each annotation file (valid_iters)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    predictor = TorchPredictor(net, device)
    out = {}
    for name, path in sources:
        dataset = build_dataset({"dataset_name": name, "data_file": path}, split="val", augmentation=None,
                                max_disparity=max_disparity)
        summary, _ = evaluate_dataset(predictor, dataset, max_disparity)
        out[f"{name}:{Path(path).name}"] = summary
    net.cpu()
    return out


def _merge(previous: dict, report: dict, batch: int) -> dict:
    """Sum a resumed call into the session so far (steps, time, curve, peak memory)."""
    steps = previous["steps"] + report["steps"]
    train_s = previous["train_seconds"] + report["train_seconds"]
    curve = [tuple(p) for p in previous["loss_curve"]] + list(report["loss_curve"])
    peaks = [m for m in (previous.get("peak_memory_mb"), report["peak_memory_mb"]) if m is not None]
    merged = dict(report, steps=steps, train_seconds=train_s, steps_per_s=steps / train_s,
                  samples_per_s=steps * batch / train_s, loss_curve=curve,
                  loss_first_50_mean=previous["loss_first_50_mean"],
                  peak_memory_mb=max(peaks) if peaks else None,
                  calls=previous.get("calls", 1) + 1)
    return merged


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="training time (the Timer stops it)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="bf16")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--height", type=int, default=320)
    parser.add_argument("--width", type=int, default=736)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--num-samples", type=int, default=20000, help="Synthetic pairs per epoch")
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval", action="append", default=[], metavar="DATASET=FILE",
                        help="real annotation file to score before and after (repeatable)")
    parser.add_argument("--out", default="runs/gpu_session")
    parser.add_argument("--config", choices=["bp2", "tiny"], default="bp2", help="tiny: CPU smoke runs")
    parser.add_argument("--resume", action="store_true",
                        help="continue the session in --out (--minutes is then the total)")
    args = parser.parse_args(argv)
    sources = [tuple(item.split("=", 1)) for item in args.eval]
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / "session_spec.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(args, out)), encoding="utf-8")
    spec = load_spec(spec_path, "train")
    max_disp = spec["dataset"]["max_disparity"]

    # The initial weights, saved and handed to fit as pretrained_model_path: "before" is exactly
    # the network the training starts from.
    init_path = out / "init_weights.pth"
    previous = None
    if args.resume:
        if not (out / "session.json").is_file() or not (out / "train" / "dn_model_latest.pth").is_file():
            print(f"error: --resume: no session to continue in {out}", file=sys.stderr)
            return 2
        previous = json.loads((out / "session.json").read_text(encoding="utf-8"))
        before = previous["eval_before"]
    else:
        torch.manual_seed(args.seed)
        net = build_network(NetworkConfig.from_dict(spec["model"]))
        torch.save(net.state_dict(), init_path)
        before = _evaluate(net, sources, max_disp)
    spec["train"]["pretrained_model_path"] = str(init_path)
    print("before:", json.dumps(before))

    recorder = _StepRecorder()
    timer = Timer(duration={"seconds": int(args.minutes * 60)}, interval="step")
    started = time.perf_counter()
    result = fit(spec, StatusLogger(out / "train" / "status.json"), callbacks=[timer, recorder])
    train_s = time.perf_counter() - recorder.started if recorder.started else time.perf_counter() - started
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None

    trained, _ = load_network_from_checkpoint(result["latest_checkpoint"])
    after = _evaluate(trained, sources, max_disp)
    steps = len(recorder.times)
    median = statistics.median(recorder.times[5:] or recorder.times)
    stride = max(1, len(recorder.curve) // 500)
    report = {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "precision": args.precision, "batch": args.batch, "crop": [args.height, args.width],
        "train_iters": spec["model"]["train_iters"], "minutes": args.minutes, "steps": steps,
        "train_seconds": train_s, "steps_per_s": steps / train_s, "samples_per_s": steps * args.batch / train_s,
        "median_step_s": median, "samples_per_s_median_step": args.batch / median,
        "peak_memory_mb": peak_mb, "loss_first_50_mean": statistics.fmean(l for _, l in recorder.curve[:50]),
        "loss_last_50_mean": statistics.fmean(l for _, l in recorder.curve[-50:]),
        "loss_curve": recorder.curve[::stride], "eval_before": before, "eval_after": after,
        "latest_checkpoint": result["latest_checkpoint"], "train_kpi": result["kpi"],
    }
    if previous is not None:
        report = _merge(previous, report, args.batch)
        steps, train_s, peak_mb = report["steps"], report["train_seconds"], report["peak_memory_mb"]
    (out / "session.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"{report['device']} {args.precision} batch {args.batch} crop {args.height}x{args.width}: "
          f"{steps} steps in {train_s:.0f} s = {report['steps_per_s']:.3f} steps/s, "
          f"{report['samples_per_s']:.2f} samples/s (median step {median * 1000:.0f} ms), "
          f"peak {peak_mb or 0:.0f} MB; loss {report['loss_first_50_mean']:.2f} -> {report['loss_last_50_mean']:.2f}")
    for key in after:
        print(f"  {key}: epe {before[key]['epe']:.2f} -> {after[key]['epe']:.2f}, "
              f"bp2 {before[key]['bp2']:.3f} -> {after[key]['bp2']:.3f}")
    print(f"wrote {out / 'session.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
