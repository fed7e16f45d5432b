"""How fast the Synthetic generator feeds training: pairs/s through the real data loader.

    python bench/synthetic_rate.py --spec references/builtin_recipe.yaml --workers 0,1,2 \
        --consume 30 --json bench/results/<date>-<machine>/synthetic_rate.json

Builds the training data loader of `--spec` (the datamodule the training uses: Synthetic
rendering, augmentation, crop, collation, pinned memory on a GPU host) and times `--batches`
batches for each worker count after one warm-up batch. Rendering is independent per sample, so
the rate grows with the cores given to it; the line per worker count says how many cores
would keep a training step that consumes `--consume` samples/s (train_step.py's number) busy,
i.e. which side waits.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data.datamodule import StereoDataModule  # noqa: E402
from model.spec import load_spec  # noqa: E402


def rate(spec: dict, workers: int, batches: int) -> dict:
    """Samples/s of the spec's training loader with `workers` worker processes."""
    dataset = copy.deepcopy(spec["dataset"])
    dataset["train_dataset"]["workers"] = workers
    data = StereoDataModule(dataset, int(spec["train"].get("seed", 0)))
    data.setup("fit")
    loader = iter(data.train_dataloader())
    next(loader)  # workers started, first batch made
    start = time.perf_counter()
    samples = 0
    for _ in range(batches):
        samples += int(next(loader)["left"].shape[0])
    elapsed = time.perf_counter() - start
    return {"workers": workers, "samples": samples, "seconds": elapsed, "samples_per_s": samples / elapsed}


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="references/builtin_recipe.yaml")
    parser.add_argument("--workers", default="0,1,2", help="worker counts to time")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--consume", type=float, default=None, help="the training step's samples/s")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    spec = load_spec(args.spec, "train")
    aug = spec["dataset"]["train_dataset"]["augmentation"]
    sources = spec["dataset"]["train_dataset"]["data_sources"]
    print(f"{args.spec}: render {sources[0].get('image_size')}, crop {aug['crop_size']}, "
          f"batch {spec['dataset']['train_dataset']['batch_size']}, {os.cpu_count()} cores here")
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        row = rate(spec, workers, args.batches)
        rows.append(row)
        per_core = row["samples_per_s"] / max(1, workers)
        need = f"; {args.consume / per_core:.1f} worker cores keep {args.consume:g} samples/s fed" if args.consume else ""
        print(f"workers {workers:2d}: {row['samples_per_s']:6.2f} samples/s ({per_core:.2f} per worker){need}")
    out = {"spec": args.spec, "cpu_count": os.cpu_count(), "consume": args.consume, "rows": rows}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
