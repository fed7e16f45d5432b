"""LightningDataModule over the spec's `dataset` section (train and val splits)."""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, Sampler, default_collate

from model.errors import SpecError

__all__ = ["StereoDataModule", "EpochShuffleSampler", "build_split", "pad_collate"]


def build_split(dataset_spec: dict, split: str, seed: int = 0) -> Dataset | None:
    """The concatenated data sources of `dataset.<split>_dataset`, or None when it has none.

    Args:
        dataset_spec: the spec's `dataset` section.
        split: "train" or "val" (augmentation applies to "train" only).
        seed: base seed of the training augmentation.
    """
    from model.data.datasets import build_dataset

    section = dataset_spec.get(f"{split}_dataset") or {}
    sources = section.get("data_sources") or []
    if not sources:
        return None
    augmentation = section.get("augmentation") if split == "train" else None
    max_disparity = int(dataset_spec.get("max_disparity", 416))
    parts = [build_dataset(src, split=split, augmentation=augmentation, max_disparity=max_disparity, seed=seed,
                           where=f"dataset.{split}_dataset.data_sources[{i}]")
             for i, src in enumerate(sources)]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def pad_collate(samples: list[dict]) -> dict:
    """Collate samples; when their sizes differ, pad each to the batch's largest H and W.

    Validation images (Middlebury, mixed sources) rarely share one size, and stacking them
    failed for `batch_size > 1`. Padding goes right / bottom: images replicate their edge (as
    the network's own /32 padding does), `disp` / `valid` / `left_rgb` are zero, so padded
    pixels are never scored and each image's metrics cover exactly its own pixels (the
    prediction near a padded edge may differ slightly from a batch of one). Equal sizes are
    stacked unchanged.
    """
    height = max(s["left"].shape[-2] for s in samples)
    width = max(s["left"].shape[-1] for s in samples)
    if all(s["left"].shape[-2:] == (height, width) for s in samples):
        return default_collate(samples)
    padded = []
    for sample in samples:
        pad = (0, width - sample["left"].shape[-1], 0, height - sample["left"].shape[-2])
        out = dict(sample)
        for key in ("left", "right"):
            out[key] = F.pad(sample[key][None], pad, mode="replicate")[0]
        for key in ("disp", "valid", "left_rgb"):
            out[key] = F.pad(sample[key], pad)
        padded.append(out)
    return default_collate(padded)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _set_dataset_epoch(dataset: Dataset, epoch: int) -> None:
    """Tell datasets that key their augmentation on the epoch (an optional `set_epoch`)."""
    parts = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    for part in parts:
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch drawn from `(seed, epoch)` alone.

    `set_epoch` (Lightning calls it before each epoch) also reseeds the loader's generator, from
    which worker seeds are drawn, so a run resumed at epoch E loads exactly the same batches
    (order and augmentation) as one that never stopped.
    """

    def __init__(self, dataset: Dataset, seed: int, generator: torch.Generator) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.generator = generator
        self.epoch = 0
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.generator.manual_seed(_epoch_seed(self.seed, self.epoch))
        _set_dataset_epoch(self.dataset, self.epoch)

    def __iter__(self):
        gen = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(len(self.dataset), generator=gen).tolist())

    def __len__(self) -> int:
        return len(self.dataset)


class _Indexed(Dataset):
    """The val set with each sample's position in it as `index` (which rank counts it)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return {**self.dataset[index], "index": index}


class _EpochDistributedSampler(DistributedSampler):
    """DistributedSampler whose `set_epoch` also reseeds the loader generator (see above)."""

    def __init__(self, dataset: Dataset, generator: torch.Generator, **kwargs) -> None:
        super().__init__(dataset, **kwargs)
        self.generator = generator
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.generator.manual_seed(_epoch_seed(self.seed + self.rank, epoch))
        _set_dataset_epoch(self.dataset, epoch)


class _WorkerSeeder:
    """worker_init_fn: seeds torch / numpy / random of a worker from (seed, epoch, rank, worker)."""

    def __init__(self, seed: int, rank: int, sampler: Sampler) -> None:
        self.seed, self.rank, self.sampler = seed, rank, sampler

    def __call__(self, worker_id: int) -> None:
        epoch = int(getattr(self.sampler, "epoch", 0))
        mix = np.random.SeedSequence([self.seed, epoch, self.rank, worker_id]).generate_state(1)[0]
        torch.manual_seed(int(mix))
        np.random.seed(int(mix))
        random.seed(int(mix))


class StereoDataModule(pl.LightningDataModule):
    """Train / val loaders from the spec: batch size, workers, pinned memory, seeded shuffling.

    Args:
        dataset_spec: the spec's `dataset` section.
        seed: `train.seed` (shuffling and worker seeds derive from it and the epoch).
    """

    def __init__(self, dataset_spec: dict, seed: int = 0) -> None:
        super().__init__()
        self.dataset_spec = dataset_spec
        self.seed = int(seed)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = build_split(self.dataset_spec, "train", self.seed)
            if self.train_set is None:
                raise SpecError("dataset.train_dataset.data_sources: empty; training needs at least one "
                                "data source ({dataset_name, data_file} or {dataset_name: Synthetic})")
            if len(self.train_set) == 0:
                raise SpecError("dataset.train_dataset.data_sources: the sources hold no samples")
        if self.val_set is None:
            self.val_set = build_split(self.dataset_spec, "val", self.seed)

    def _loader(self, dataset: Dataset, split: str, sampler: Sampler, drop_last: bool,
                generator: torch.Generator) -> DataLoader:
        section = self.dataset_spec.get(f"{split}_dataset") or {}
        workers = int(section.get("workers", 0))
        rank = self.trainer.global_rank if self.trainer is not None else 0
        return DataLoader(
            dataset,
            batch_size=int(section.get("batch_size", 1)),
            sampler=sampler,
            num_workers=workers,
            # TAO's pin_memory: null means "when a GPU is there"; pinning without one does nothing
            pin_memory=torch.cuda.is_available() and section.get("pin_memory") is not False,
            drop_last=drop_last,
            worker_init_fn=_WorkerSeeder(self.seed, rank, sampler) if workers > 0 else None,
            # a private generator: creating the loader iterator must not draw from torch's global RNG
            generator=generator,
            persistent_workers=False,
            collate_fn=pad_collate,
        )

    def _distributed(self) -> bool:
        return self.trainer is not None and self.trainer.world_size > 1

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() first"
        world = self.trainer.world_size if self._distributed() else 1
        n = -(-len(self.train_set) // world)  # samples per rank
        batch = int((self.dataset_spec.get("train_dataset") or {}).get("batch_size", 1))
        generator = torch.Generator()
        if self._distributed():
            sampler: Sampler = _EpochDistributedSampler(
                self.train_set, generator, num_replicas=self.trainer.world_size,
                rank=self.trainer.global_rank, shuffle=True, seed=self.seed)
        else:
            sampler = EpochShuffleSampler(self.train_set, self.seed, generator)
        # drop a ragged last batch (tiny batches upset BatchNorm), unless that would drop everything
        return self._loader(self.train_set, "train", sampler, drop_last=n > batch, generator=generator)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        dataset: Dataset = self.val_set
        if self._distributed():
            # DistributedSampler evens the ranks out by repeating images (a rank without any
            # would skip validation and leave the others waiting in the epoch-end reduction);
            # image i is counted only on rank i % world, where the unpadded order puts it
            # (StereoSystem.validation_step), and the sums are reduced over ranks
            dataset = _Indexed(self.val_set)
            sampler: Sampler = DistributedSampler(dataset, num_replicas=self.trainer.world_size,
                                                  rank=self.trainer.global_rank, shuffle=False)
        else:
            sampler = torch.utils.data.SequentialSampler(dataset)
        generator = torch.Generator().manual_seed(self.seed)
        return self._loader(dataset, "val", sampler, drop_last=False, generator=generator)
