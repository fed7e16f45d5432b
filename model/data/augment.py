"""Training augmentation of stereo pairs; geometry changes rescale the disparity.

Applied only to the "train" split (see `StereoDataset`). Order: horizontal
flip (needs right-view GT), vertical flip, scale / stretch, crop (optionally
retried until enough pixels have GT), right-image y-jitter, asymmetric colour
jitter, eraser on the right image. All randomness comes from the passed
`numpy.random.Generator`, so a worker-specific generator makes it worker-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np

from model.errors import SpecError

__all__ = ["AugmentationConfig", "StereoArrays", "augment"]

_YJITTER_MAX_PX = 2  # vertical shift of the right image: small rectification errors
_CROP_TRIES = 10  # attempts to find a crop with enough valid GT


@dataclass(frozen=True)
class StereoArrays:
    """One decoded pair: uint8 HxWx3 RGB images, float32 HxW disparities, bool HxW valid."""

    left: np.ndarray
    right: np.ndarray
    disp: np.ndarray | None = None
    valid: np.ndarray | None = None
    disp_right: np.ndarray | None = None  # right-view GT, needed for the horizontal flip


@dataclass(frozen=True)
class AugmentationConfig:
    """The `dataset.train_dataset.augmentation` knobs; the defaults switch everything off."""

    crop_size: tuple[int, int] | None = None  # [H, W]
    min_scale: float = 0.0  # log2 of the scale factor
    max_scale: float = 0.0
    stretch_prob: float = 0.0
    max_stretch: float = 0.0  # log2 of the extra x / y factors
    yjitter_prob: float = 0.0
    color_aug_prob: float = 0.0  # left and right get independent (asymmetric) jitter
    brightness: tuple[float, float] = (0.6, 1.4)  # factor ranges [low, high]
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.0, 1.4)
    hue: float = 0.159  # largest hue shift, fraction of the colour circle (<= 0.5)
    eraser_aug_prob: float = 0.0
    h_flip_prob: float = 0.0  # swap + mirror; only for data with right-view GT
    v_flip_prob: float = 0.0
    crop_min_valid_disp_ratio: float = 0.0

    @classmethod
    def from_dict(cls, values: dict | None, prefix: str = "augmentation") -> "AugmentationConfig":
        """Validate a spec dict (unknown keys ignored; the JSON schema rejects them)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        kwargs = {key: values[key] for key in known if key in values and values[key] is not None}
        if "crop_size" in kwargs:
            size = kwargs["crop_size"]
            if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
                raise SpecError(f"{prefix}.crop_size: {size!r} is not [H, W] with two positive integers")
            kwargs["crop_size"] = (int(size[0]), int(size[1]))
        for key in _RANGES:
            if key in kwargs:
                kwargs[key] = _factor_range(kwargs[key], f"{prefix}.{key}")
        for key, value in kwargs.items():
            if key not in ("crop_size", *_RANGES) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise SpecError(f"{prefix}.{key}: {value!r} is not a number")
        cfg = cls(**kwargs)
        cfg._check(prefix)
        return cfg

    def _check(self, prefix: str) -> None:
        for name in ("stretch_prob", "yjitter_prob", "color_aug_prob", "eraser_aug_prob",
                     "h_flip_prob", "v_flip_prob", "crop_min_valid_disp_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SpecError(f"{prefix}.{name}: {getattr(self, name)} must be within [0, 1]")
        if self.max_stretch < 0:
            raise SpecError(f"{prefix}.max_stretch: {self.max_stretch} must be >= 0")
        if not 0.0 <= self.hue <= 0.5:
            raise SpecError(f"{prefix}.hue: {self.hue} must be within [0, 0.5]")
        if self.min_scale > self.max_scale:
            raise SpecError(f"{prefix}.min_scale: {self.min_scale} must be <= max_scale ({self.max_scale})")


_RANGES = ("brightness", "contrast", "saturation")


def _factor_range(value: object, key: str) -> tuple[float, float]:
    """[low, high] factor range; a single number x means [1 - x, 1 + x] (torchvision style)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return (max(0.0, 1.0 - float(value)), 1.0 + float(value))
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and 0 <= value[0] <= value[1]):
        return (float(value[0]), float(value[1]))
    raise SpecError(f"{key}: {value!r} is not a factor range [low, high] with 0 <= low <= high")


def augment(pair: StereoArrays, cfg: AugmentationConfig, rng: np.random.Generator) -> StereoArrays:
    """Apply the configured random augmentation to one pair.

    Args:
        pair: decoded images and GT (disp may be None for pairs without GT).
        cfg: the knobs.
        rng: the generator every random choice is drawn from.
    Returns:
        the augmented pair (crop_size-sized when cfg.crop_size is set).
    """
    if pair.disp_right is not None and rng.random() < cfg.h_flip_prob:
        pair = _swap_and_mirror(pair)
    if rng.random() < cfg.v_flip_prob:
        pair = _map_all(pair, lambda a: np.ascontiguousarray(a[::-1]))
    pair = _rescale(pair, cfg, rng)
    if cfg.crop_size is not None:
        pair = _crop(pair, cfg, rng)
    if rng.random() < cfg.yjitter_prob:
        shift = int(rng.choice([-_YJITTER_MAX_PX, -1, 1, _YJITTER_MAX_PX]))
        pair = replace(pair, right=_shift_rows(pair.right, shift))
    if rng.random() < cfg.color_aug_prob:
        pair = replace(pair, left=_color_jitter(pair.left, cfg, rng), right=_color_jitter(pair.right, cfg, rng))
    if rng.random() < cfg.eraser_aug_prob:
        pair = replace(pair, right=_erase(pair.right, rng))
    return pair


def _map_all(pair: StereoArrays, fn: Callable[[np.ndarray], np.ndarray]) -> StereoArrays:
    """Apply one geometric function to every array of the pair."""
    return StereoArrays(*(None if a is None else fn(a) for a in
                          (pair.left, pair.right, pair.disp, pair.valid, pair.disp_right)))


def _swap_and_mirror(pair: StereoArrays) -> StereoArrays:
    # The mirrored right camera becomes the left one: its GT is the old right-view
    # disparity, mirrored; disparities stay positive. The right view has no valid
    # mask of its own, so finite positive values count as valid.
    def mirror(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[:, ::-1])

    disp_left = mirror(pair.disp_right)
    return StereoArrays(
        left=mirror(pair.right), right=mirror(pair.left), disp=disp_left,
        valid=np.isfinite(disp_left) & (disp_left > 0),
        disp_right=None if pair.disp is None else mirror(pair.disp),
    )


def _rescale(pair: StereoArrays, cfg: AugmentationConfig, rng: np.random.Generator) -> StereoArrays:
    height, width = pair.left.shape[:2]
    scale = 2.0 ** rng.uniform(cfg.min_scale, cfg.max_scale) if cfg.max_scale > cfg.min_scale else 2.0 ** cfg.min_scale
    scale_x = scale_y = scale
    if rng.random() < cfg.stretch_prob and cfg.max_stretch > 0:
        scale_x *= 2.0 ** rng.uniform(-cfg.max_stretch, cfg.max_stretch)
        scale_y *= 2.0 ** rng.uniform(-cfg.max_stretch, cfg.max_stretch)
    new_w, new_h = int(round(width * scale_x)), int(round(height * scale_y))
    if cfg.crop_size is not None:  # never smaller than the crop
        new_h, new_w = max(new_h, cfg.crop_size[0]), max(new_w, cfg.crop_size[1])
    if (new_h, new_w) == (height, width):
        return pair
    factor_x = new_w / width  # the exact x factor cv2.resize applies: disparity scales by it

    def image(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (new_w, new_h), interpolation=cv2.INTER_LINEAR)

    def nearest(a: np.ndarray | None, factor: float = 1.0) -> np.ndarray | None:
        # INTER_NEAREST_EXACT samples the source pixel under each output pixel centre, as the
        # images' INTER_LINEAR does; plain INTER_NEAREST floors and shifts the GT ~0.5 px.
        if a is None:
            return None
        out = cv2.resize(a.astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_NEAREST_EXACT)
        return out * np.float32(factor)

    valid = nearest(pair.valid)
    return StereoArrays(
        left=image(pair.left), right=image(pair.right), disp=nearest(pair.disp, factor_x),
        valid=None if valid is None else valid > 0.5, disp_right=nearest(pair.disp_right, factor_x),
    )


def _crop(pair: StereoArrays, cfg: AugmentationConfig, rng: np.random.Generator) -> StereoArrays:
    crop_h, crop_w = cfg.crop_size
    height, width = pair.left.shape[:2]
    best, best_ratio = (0, 0), -1.0
    tries = _CROP_TRIES if (cfg.crop_min_valid_disp_ratio > 0 and pair.valid is not None) else 1
    for _ in range(tries):
        y0 = int(rng.integers(0, height - crop_h + 1))
        x0 = int(rng.integers(0, width - crop_w + 1))
        ratio = 1.0 if pair.valid is None else float(pair.valid[y0:y0 + crop_h, x0:x0 + crop_w].mean())
        if ratio > best_ratio:
            best, best_ratio = (y0, x0), ratio
        if ratio >= cfg.crop_min_valid_disp_ratio:
            break
    y0, x0 = best
    return _map_all(pair, lambda a: np.ascontiguousarray(a[y0:y0 + crop_h, x0:x0 + crop_w]))


def _shift_rows(image: np.ndarray, shift: int) -> np.ndarray:
    """Move the image `shift` rows down (up when negative), repeating the edge row."""
    index = np.clip(np.arange(image.shape[0]) - shift, 0, image.shape[0] - 1)
    return image[index]


def _color_jitter(image: np.ndarray, cfg: AugmentationConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter of one uint8 RGB image."""

    def factor(bounds: tuple[float, float]) -> float:
        return float(rng.uniform(bounds[0], bounds[1]))

    out = image.astype(np.float32) * factor(cfg.brightness)  # HxWx3
    gray_weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mean = float((out @ gray_weights).mean())
    out = (out - mean) * factor(cfg.contrast) + mean
    gray = (out @ gray_weights)[:, :, None]
    out = (out - gray) * factor(cfg.saturation) + gray
    out = np.clip(out, 0.0, 255.0)
    if cfg.hue > 0:
        hsv = cv2.cvtColor(out / 255.0, cv2.COLOR_RGB2HSV)  # float: H in [0, 360)
        hsv[:, :, 0] = (hsv[:, :, 0] + 360.0 * rng.uniform(-cfg.hue, cfg.hue)) % 360.0
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _erase(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint 1-2 rectangles of the image's mean colour (occlusion-like matching failures)."""
    out = image.copy()
    height, width = image.shape[:2]
    mean = image.reshape(-1, 3).mean(axis=0)
    for _ in range(int(rng.integers(1, 3))):
        box_w = int(rng.integers(max(2, width // 16), max(3, width // 5) + 1))
        box_h = int(rng.integers(max(2, height // 16), max(3, height // 5) + 1))
        x0 = int(rng.integers(0, max(1, width - box_w)))
        y0 = int(rng.integers(0, max(1, height - box_h)))
        out[y0:y0 + box_h, x0:x0 + box_w] = mean
    return out
