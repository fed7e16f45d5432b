"""The AutoML harness's own time: everything a study spends outside its trials' training.

Runs a small real study (tiny network on Synthetic pairs, SQLite storage) through
`automl.run.run_study` with a timed `fit`; the overhead is the study's wall time minus the
time inside `fit` (sampling, storage, pruning checks, trial folders, baseline, hand-off with
its evaluation). Prints per-trial overhead and its fraction of the study's wall time.

With `--workers N` (> 1) the trials run in `depth_net automl worker` processes (one per GPU
slot, `--trials-per-gpu K`); then only trials/hour is reported (fit runs in the workers).

Usage: .venv/bin/python bench/automl_overhead.py [--trials 4] [--epochs 2] [--size 64 96]
       [--workers 1] [--trials-per-gpu 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _spec(root: Path, trials: int, epochs: int, size: list[int], workers: int, per_gpu: int, repeat: int,
          config: str = "tiny") -> dict:
    from model.config import NetworkConfig
    from model.spec import load_spec

    import yaml

    model = (NetworkConfig() if config == "bp2" else NetworkConfig.tiny()).to_dict()
    model["stereo_backbone"]["edgenext_pretrained_path"] = None
    max_disp = int(model["max_disparity"])
    synthetic = {"dataset_name": "Synthetic", "num_samples": 2, "image_size": size}
    no_aug = {"crop_size": size, "min_scale": 0.0, "max_scale": 0.0, "stretch_prob": 0.0, "yjitter_prob": 0.0,
              "color_aug_prob": 0.0, "eraser_aug_prob": 0.0}
    spec = {
        "results_dir": str(root),
        "model": model,
        "dataset": {
            "max_disparity": max_disp,
            "train_dataset": {"data_sources": [{**synthetic, "seed": 0}] * repeat, "batch_size": 2, "workers": 0,
                              "augmentation": no_aug},
            "val_dataset": {"data_sources": [{**synthetic, "seed": 7}], "batch_size": 1, "workers": 0},
        },
        "train": {"num_epochs": epochs, "seed": 3, "log_every_n_steps": 1, "optim": {"lr": 1e-3}},
        "evaluate": {"vis": False},
        "automl": {"study_name": "overhead", "n_trials": trials, "max_epochs": epochs, "seed": 0,
                   "pruner": "none", "n_workers": workers, "trials_per_gpu": per_gpu},
    }
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_spec(path, "automl")


def measure(trials: int, epochs: int, size: list[int], workers: int, per_gpu: int, repeat: int,
            config: str = "tiny") -> dict:
    """Run one study; returns wall time, time in fit, overhead per trial and trials/hour."""
    from automl.run import run_study
    from model.status import StatusLogger
    from model.training.runner import fit

    inside = []

    def timed_fit(spec: dict, status, callbacks=()) -> dict:
        start = time.perf_counter()
        try:
            return fit(spec, status, callbacks=callbacks)
        finally:
            inside.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(Path(tmp), trials, epochs, size, workers, per_gpu, repeat, config)
        start = time.perf_counter()
        run_study(spec, StatusLogger(Path(tmp) / "status.json"), fit=timed_fit if workers <= 1 else None)
        wall = time.perf_counter() - start
    result = {"config": config, "size": size, "trials": trials, "epochs": epochs, "workers": workers,
              "trials_per_gpu": per_gpu,
              "wall_s": round(wall, 2), "trials_per_hour": round(3600.0 * trials / wall, 1)}
    if inside:
        overhead = wall - sum(inside)
        result.update({"fit_s": round(sum(inside), 2), "overhead_s": round(overhead, 2),
                       "overhead_per_trial_s": round(overhead / trials, 3),
                       "overhead_fraction": round(overhead / wall, 4)})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, nargs=2, default=[64, 96])
    parser.add_argument("--repeat", type=int, default=4, help="train pairs x2 per epoch (more = longer epochs)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--trials-per-gpu", type=int, default=1)
    parser.add_argument("--config", choices=["tiny", "bp2"], default="tiny", help="network widths of the trials")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = measure(args.trials, args.epochs, args.size, args.workers, args.trials_per_gpu, args.repeat,
                     args.config)
    print(json.dumps(result))
    if "overhead_fraction" in result:
        print(f"harness overhead: {result['overhead_per_trial_s']:.2f} s per trial, "
              f"{100 * result['overhead_fraction']:.1f} % of the study's {result['wall_s']:.1f} s wall time")
    print(f"{result['trials_per_hour']:.0f} trials/hour ({args.workers} worker(s), trials_per_gpu {args.trials_per_gpu})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
