"""`StereoDataset`: the shared reading, augmentation and sample assembly.

Subclasses only say how to get one decoded pair (`load`); this base turns it
into the sample dict of docs/ARCHITECTURE.md (section Data).
"""

from __future__ import annotations

import abc
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from model.data.augment import AugmentationConfig, StereoArrays, augment
from model.data.normalize import normalize_image

__all__ = ["SPLITS", "StereoDataset", "unique_names"]

SPLITS = ("train", "val", "test", "infer")


class StereoDataset(Dataset, abc.ABC):
    """Base dataset: `load(index)` gives a `StereoArrays`; the base augments (train only) and packs.

    Args:
        names: unique output stem per sample.
        left_paths: the left image path per sample (for reports).
        split: one of "train", "val", "test", "infer"; only "train" is augmented.
        augmentation: the knobs (ignored unless split == "train").
        max_disparity: GT at or above this (or <= 0) is invalid.
        seed: base seed of the augmentation generator.
    """

    #: whether `load` provides right-view GT (enables the horizontal flip)
    has_right_disparity = False

    def __init__(self, names: list[str], left_paths: list[str], split: str,
                 augmentation: AugmentationConfig | None, max_disparity: float, seed: int = 0) -> None:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} must be one of {SPLITS}")
        self.names = list(names)
        self.left_paths = list(left_paths)
        self.split = split
        self.augmentation = augmentation if split == "train" else None
        self.max_disparity = float(max_disparity)
        self.seed = int(seed)
        self.epoch: int | None = None  # set by `set_epoch`; keys the augmentation
        self._draws = 0  # per-process counter used until `set_epoch` is called

    def __len__(self) -> int:
        return len(self.names)

    @abc.abstractmethod
    def load(self, index: int) -> StereoArrays:
        """Decode sample `index` (images uint8 HxWx3 RGB; disp/valid None when there is no GT)."""

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        pair = self.load(index)
        if self.augmentation is not None:
            pair = augment(pair, self.augmentation, self._generator(index))
        return self._pack(index, pair)

    def set_epoch(self, epoch: int) -> None:
        """Key the augmentation on (seed, epoch, index): the same in any worker, and after a resume."""
        self.epoch = int(epoch)

    def _generator(self, index: int) -> np.random.Generator:
        if self.epoch is not None:
            return np.random.default_rng([self.seed, self.epoch, index])
        # Without epochs: a fresh draw per fetch. Worker processes get distinct torch
        # seeds (drawn from the seeded main generator), so workers never repeat each other.
        info = torch.utils.data.get_worker_info()
        worker_seed = 0 if info is None else int(info.seed) % (2**32)
        self._draws += 1
        return np.random.default_rng([self.seed, index, self._draws, worker_seed, 1])

    def _pack(self, index: int, pair: StereoArrays) -> dict:
        height, width = pair.left.shape[:2]
        has_gt = pair.disp is not None
        if has_gt:
            disp = pair.disp
            with np.errstate(invalid="ignore"):
                valid = np.isfinite(disp) & (disp > 0) & (disp < self.max_disparity)
            if pair.valid is not None:
                valid &= pair.valid
            disp = np.where(valid, disp, 0.0).astype(np.float32)
        else:
            disp = np.zeros((height, width), dtype=np.float32)
            valid = np.zeros((height, width), dtype=bool)
        return {
            "left": normalize_image(pair.left),  # [3,H,W]
            "right": normalize_image(pair.right),  # [3,H,W]
            "disp": torch.from_numpy(disp)[None],  # [1,H,W]
            "valid": torch.from_numpy(valid.astype(np.float32))[None],  # [1,H,W]
            "has_gt": has_gt,
            "name": self.names[index],
            "left_path": self.left_paths[index],
            "left_rgb": torch.from_numpy(np.ascontiguousarray(pair.left.transpose(2, 0, 1))),  # [3,H,W] uint8
        }


def unique_names(left_paths: list[str]) -> list[str]:
    """Output stems: the left image stem, or the distinguishing folder(s) when stems repeat.

    Middlebury `Adirondack/im0.png`, `ArtL/im0.png` -> "Adirondack", "ArtL";
    `A/0001/left/0006.png`, `B/0002/left/0006.png` -> "A_0001", "B_0002".
    A folder label that still collides gets the stem appended
    (`A_0001_0006`); any name still repeated gets a `_<n>` suffix.
    """
    stems = [Path(p).stem for p in left_paths]
    names = list(stems)
    groups: dict[str, list[int]] = {}
    for index, stem in enumerate(stems):
        groups.setdefault(stem, []).append(index)
    for stem, members in groups.items():
        if len(members) < 2:
            continue
        folders = [Path(os.path.abspath(left_paths[i])).parent.parts for i in members]
        depth = max(len(f) for f in folders)
        # Align folders from the end and keep the levels that differ within the group.
        padded = [("",) * (depth - len(f)) + tuple(f) for f in folders]
        differing = [level for level in range(depth) if len({p[level] for p in padded}) > 1]
        for i, parts in zip(members, padded):
            label = "_".join(parts[level] for level in differing if parts[level])
            names[i] = label or stem
    counts = Counter(names)
    names = [f"{name}_{stems[i]}" if counts[name] > 1 and name != stems[i] else name
             for i, name in enumerate(names)]  # folder labels that collide get the stem
    counts, seen = Counter(names), Counter()
    for index, name in enumerate(names):
        if counts[name] > 1:
            seen[name] += 1
            names[index] = f"{name}_{seen[name]}"
    return names
