"""Dataset classes by name and `build_dataset`, the one factory in front of them.

Each file-based class only says how its disparity files decode; reading,
checking, augmentation and packing live in `StereoDataset` / `AnnotatedStereoDataset`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model._paths import missing_file, path_problem
from model.data import io
from model.data.annotations import read_annotation_lines
from model.data.augment import AugmentationConfig, StereoArrays
from model.data.base import SPLITS, StereoDataset, unique_names
from model.data.headers import file_size
from model.data.synthetic import SyntheticStereo
from model.errors import DataError, SpecError

__all__ = [
    "AnnotatedStereoDataset", "Middlebury", "Eth3d", "Kitti", "Crestereo", "FSD",
    "IsaacRealDataset", "GenericDataset", "StereoDataset", "SyntheticStereo",
    "DATASET_NAMES", "build_dataset",
]

_SYNTHETIC_DEFAULTS = {"num_samples": 8, "seed": 0, "image_size": [64, 96]}  # as the schema


@dataclass(frozen=True)
class _Record:
    where: str  # "<annotation file>:<line>"
    left: str
    right: str
    disp: str | None
    mask: str | None


class AnnotatedStereoDataset(StereoDataset):
    """Samples listed in an annotation file (`left right [disparity [mask]]`).

    Every path is checked at construction, so a missing file is reported with its
    annotation line instead of failing inside a DataLoader worker.
    """

    def __init__(self, data_file: str | Path, split: str, augmentation: AugmentationConfig | None,
                 max_disparity: float, seed: int = 0) -> None:
        records = []
        for line, columns in read_annotation_lines(data_file, 2, 4):
            where = f"{data_file}:{line}"
            for path in columns:
                problem = path_problem(path)
                if problem:
                    raise DataError(f"{where}: {path!r} {problem}")
                if not Path(path).is_file():
                    raise DataError(f"{where}: {path}: {missing_file(path)}")
            if split == "train" and len(columns) < 3:
                raise DataError(f"{where}: training needs a disparity column (got {len(columns)} columns)")
            padded = columns + [None] * (4 - len(columns))
            records.append(_Record(where, *padded))
        self.records = records
        lefts = [r.left for r in records]
        super().__init__(unique_names(lefts), lefts, split, augmentation, max_disparity, seed)

    def check_files(self) -> None:
        """Read every sample's headers (images, disparity, mask) and compare their sizes: a bad
        sample anywhere in the file fails before anything is written, at a few bytes a file."""
        for record in self.records:
            try:
                self._check_record(record)
            except DataError as exc:
                message = str(exc)
                raise DataError(message if message.startswith(record.where) else f"{record.where}: {message}") from None

    @staticmethod
    def _check_record(record: _Record) -> None:
        left = _size_or_decode(record.left)
        right = _size_or_decode(record.right)
        if left and right and left != right:
            raise DataError(f"left/right sizes differ: {record.left} is {left[0]}x{left[1]}, {record.right} is "
                            f"{right[0]}x{right[1]}")
        for path in (record.disp, record.mask):
            size = file_size(path) if path is not None else None
            if left and size and size != left:
                raise DataError(f"{path} is {size[0]}x{size[1]}, but the left image {record.left} is "
                                f"{left[0]}x{left[1]}")

    @abc.abstractmethod
    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """Decode one disparity file into (disp float32 HxW, valid bool HxW)."""

    def load(self, index: int) -> StereoArrays:
        record = self.records[index]
        try:
            return self._decode(record)
        except DataError as exc:  # a corrupt file: name its annotation line as well
            message = str(exc)
            if message.startswith(record.where):
                raise
            raise DataError(f"{record.where}: {message}") from None

    def _decode(self, record: _Record) -> StereoArrays:
        left, right = io.read_image(record.left), io.read_image(record.right)
        if left.shape != right.shape:
            raise DataError(f"{record.where}: left/right sizes differ: {record.left} is "
                            f"{_size(left)}, {record.right} is {_size(right)}")
        if record.disp is None:
            return StereoArrays(left, right)
        disp, valid = self.read_disparity(record.disp)
        _check_size(record, record.disp, disp, left)
        if record.mask is not None:
            mask = io.read_mask(record.mask)
            _check_size(record, record.mask, mask, left)
            valid = valid & mask
        return StereoArrays(left, right, disp, valid)


def _size_or_decode(path: str) -> tuple[int, int] | None:
    """An image's (height, width) from its header, or by decoding formats whose header we do not
    read (TIFF, WebP, ...: rare in stereo data, so the cost of a decode is rare too)."""
    size = file_size(path)
    return size if size is not None else io.read_image(path).shape[:2]


def _size(array: np.ndarray) -> str:
    return f"{array.shape[0]}x{array.shape[1]}"


def _check_size(record: _Record, path: str, array: np.ndarray, left: np.ndarray) -> None:
    if array.shape[:2] != left.shape[:2]:
        raise DataError(f"{record.where}: {path} is {_size(array)}, but the left image {record.left} is {_size(left)}")


class Middlebury(AnnotatedStereoDataset):
    """PFM disparity (inf = no GT); optional mask PNG, only 255 (non-occluded) is valid."""

    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        return io.read_disparity_pfm(path)


class Eth3d(Middlebury):
    """Same files as Middlebury: PFM disparity and optional non-occlusion mask."""


class Kitti(AnnotatedStereoDataset):
    """uint16 PNG, d = v / 256, 0 = no GT."""

    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        return io.read_disparity_png(path, 256.0)


class Crestereo(AnnotatedStereoDataset):
    """uint16 PNG, d = v / 32, 0 = no GT."""

    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        return io.read_disparity_png(path, 32.0)


class FSD(AnnotatedStereoDataset):
    """RGB PNG, d = (R*255*255 + G*255 + B) / 1000 (0 = no GT), or PFM (inf = no GT)."""

    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        return io.read_disparity_rgb_encoded(path)


class IsaacRealDataset(FSD):
    """Same encoding as FSD."""


class GenericDataset(AnnotatedStereoDataset):
    """PFM, uint16 PNG / 256 (or `disp_png_divisor`, which also admits 8-bit PNGs), or .npy."""

    def __init__(self, data_file: str | Path, split: str, augmentation: AugmentationConfig | None,
                 max_disparity: float, seed: int = 0, disp_png_divisor: float | None = None) -> None:
        super().__init__(data_file, split, augmentation, max_disparity, seed)
        self.disp_png_divisor = disp_png_divisor

    def read_disparity(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        return io.read_disparity_generic(path, self.disp_png_divisor)


_CLASSES: dict[str, type[StereoDataset]] = {
    "Middlebury": Middlebury, "Eth3d": Eth3d, "Kitti": Kitti, "Crestereo": Crestereo, "FSD": FSD,
    "IsaacRealDataset": IsaacRealDataset, "GenericDataset": GenericDataset, "Synthetic": SyntheticStereo,
}
_REGISTRY = {name.lower(): cls for name, cls in _CLASSES.items()}  # names match case-insensitively
DATASET_NAMES = tuple(_CLASSES)


def build_dataset(source: dict, *, split: str, augmentation: dict | None, max_disparity: int,
                  seed: int = 0, where: str = "data_source") -> StereoDataset:
    """Build one data source.

    Args:
        source: `{dataset_name, data_file}` (GenericDataset may add
            `disp_png_divisor`), or `{dataset_name: Synthetic, num_samples,
            seed, image_size: [H, W]}`.
        split: "train", "val", "test" or "infer"; only "train" is augmented.
        augmentation: the augmentation spec dict (used for "train" only).
        max_disparity: GT at or above it is invalid.
        seed: base seed of the training augmentation.
        where: dotted spec key of `source`, for error messages.
    Returns:
        a `torch.utils.data.Dataset` of sample dicts.
    """
    if split not in SPLITS:
        raise SpecError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    name = source.get("dataset_name")
    cls = _REGISTRY.get(str(name).lower()) if isinstance(name, str) else None
    if cls is None:
        raise SpecError(f"{where}.dataset_name: {name!r} is not a known dataset; valid names: {', '.join(DATASET_NAMES)}")
    aug_cfg = None
    if split == "train" and augmentation:
        # the augmentation section belongs to the split, beside its data_sources list
        aug_key = f"{where.partition('.data_sources')[0]}.augmentation"
        aug_cfg = AugmentationConfig.from_dict(augmentation, prefix=aug_key)
        if aug_cfg.h_flip_prob > 0 and not cls.has_right_disparity:
            raise SpecError(f"{aug_key}.h_flip_prob: {aug_cfg.h_flip_prob} needs right-view GT, which "
                            f"{name} does not provide; set it to 0 (only Synthetic supports the flip)")
    if cls is SyntheticStereo:
        values = {**_SYNTHETIC_DEFAULTS, **{k: v for k, v in source.items() if v is not None}}
        size = values["image_size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v >= 8 for v in size)):
            raise SpecError(f"{where}.image_size: {size!r} is not [H, W] with integers >= 8")
        if not isinstance(values["num_samples"], int) or values["num_samples"] < 1:
            raise SpecError(f"{where}.num_samples: {values['num_samples']!r} must be an integer >= 1")
        return SyntheticStereo(values["num_samples"], int(values["seed"]), tuple(size), max_disparity, split,
                               aug_cfg, augmentation_seed=seed)
    data_file = source.get("data_file")
    if not data_file:
        raise SpecError(f"{where}.data_file: required for dataset_name {name} (an annotation file)")
    if cls is GenericDataset:
        divisor = source.get("disp_png_divisor")
        if divisor is not None and (isinstance(divisor, bool) or not isinstance(divisor, (int, float)) or divisor <= 0):
            raise SpecError(f"{where}.disp_png_divisor: {divisor!r} must be a number > 0")
        return GenericDataset(data_file, split, aug_cfg, max_disparity, seed, divisor)
    return cls(data_file, split, aug_cfg, max_disparity, seed)
