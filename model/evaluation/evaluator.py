"""Running a predictor over a dataset split: batching, progress, per-image metrics.

Images of different sizes can share a loader: consecutive samples of equal size
are stacked into one batch, others run separately, so `batch_size > 1` never
mixes shapes. Metrics are per image (see metrics.py).
"""

from __future__ import annotations

import sys
from typing import Callable, Iterator

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from model.errors import SpecError
from model.evaluation.metrics import METRIC_NAMES, compute_per_image, mean_over_images

__all__ = ["build_split_dataset", "preflight", "iterate_predictions", "evaluate_dataset", "unique_stem"]

Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def build_split_dataset(spec: dict, split: str, fallback: str | None = None) -> tuple[Dataset, str]:
    """The concatenated data sources of `dataset.<split>_dataset` (or `<fallback>_dataset` when empty).

    Returns:
        (dataset, the dotted key it came from).
    Raises:
        SpecError: no data sources; DataError: an annotation file or listed file is bad.
    """
    from model.data.datasets import build_dataset

    data = spec["dataset"]
    chosen = split
    if not data[f"{split}_dataset"]["data_sources"] and fallback and data[f"{fallback}_dataset"]["data_sources"]:
        chosen = fallback
    key = f"dataset.{chosen}_dataset"
    sources = data[f"{chosen}_dataset"]["data_sources"]
    if not sources:
        also = f" (or dataset.{fallback}_dataset.data_sources)" if fallback else ""
        raise SpecError(f"{key}.data_sources: empty; list at least one {{dataset_name, data_file}}{also}")
    parts = [build_dataset(src, split=split, augmentation=None, max_disparity=int(data["max_disparity"]),
                           where=f"{key}.data_sources[{i}]") for i, src in enumerate(sources)]
    for i, part in enumerate(parts):
        if len(part) == 0:
            raise SpecError(f"{key}.data_sources[{i}]: {sources[i].get('data_file')} lists no samples")
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), key


def preflight(dataset: Dataset) -> None:
    """Read the headers of every sample (existence, sizes) and decode the first sample of every
    source, so a bad file anywhere in an annotation file fails before any output is written."""
    parts = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    for part in parts:
        if hasattr(part, "check_files"):
            part.check_files()
        part[0]


def _collate(samples: list[dict]) -> list[dict]:
    return samples


def _progress(total: int, what: str) -> Progress:
    console = Console(file=sys.stderr)
    return Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal, transient=False)


def iterate_predictions(predictor: Predictor, dataset: Dataset, batch_size: int = 1, workers: int = 0,
                        what: str = "predicting") -> Iterator[tuple[dict, torch.Tensor]]:
    """Yield (sample, disparity [1,H,W] float32 CPU) for every sample, in order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=_collate)
    batches = iter(loader)
    try:
        with _progress(len(dataset), what) as bar:
            task = bar.add_task(what, total=len(dataset))
            for samples in batches:
                for group in _same_size_groups(samples):
                    left = torch.stack([s["left"] for s in group])  # [B,3,H,W]
                    right = torch.stack([s["right"] for s in group])
                    disp = predictor(left, right)  # [B,1,H,W]
                    for sample, pred in zip(group, disp):
                        yield sample, pred
                    bar.advance(task, len(group))
    finally:
        # Stop the workers now (a bad sample, Ctrl-C): left to garbage collection, the iterator's
        # queues close before it can tell its workers to stop, and each exit waits 5 s per worker.
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def _same_size_groups(samples: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = []
    for sample in samples:
        if groups and groups[-1][0]["left"].shape == sample["left"].shape:
            groups[-1].append(sample)
        else:
            groups.append([sample])
    return groups


def unique_stem(name: str, used: set[str]) -> str:
    """`name`, or `name_1`, `name_2`... when already used (outputs never overwrite each other)."""
    stem, n = name, 0
    while stem in used:
        n += 1
        stem = f"{name}_{n}"
    used.add(stem)
    return stem


def evaluate_dataset(predictor: Predictor, dataset: Dataset, max_disparity: float, batch_size: int = 1,
                     workers: int = 0, on_sample: Callable[[dict, torch.Tensor, dict], None] | None = None
                     ) -> tuple[dict[str, float], list[dict]]:
    """Per-image metrics of a predictor over a dataset, and their mean over images.

    Args:
        predictor: `(left, right) -> disparity`.
        dataset: samples with `disp` / `valid` GT.
        max_disparity: GT at or above it is not scored.
        batch_size, workers: DataLoader settings.
        on_sample: called with (sample, prediction, metrics row) for every sample (pictures).
    Returns:
        (summary {epe, bp1, ..., num_images, num_skipped}, rows [{name, left_path, n_valid, epe, ...}]).
    Raises:
        RunFailed: no image has a valid GT pixel.
    """
    rows: list[dict] = []
    used: set[str] = set()
    for sample, pred in iterate_predictions(predictor, dataset, batch_size, workers, "evaluating"):
        per = compute_per_image(pred[None], sample["disp"][None], max_disparity, sample["valid"][None])
        row = {"name": unique_stem(sample["name"], used), "left_path": sample["left_path"],
               "n_valid": int(per["n_valid"][0])}
        row.update({m: float(per[m][0]) for m in METRIC_NAMES})
        rows.append(row)
        if on_sample is not None:
            on_sample(sample, pred, row)
    return mean_over_images(rows), rows
