"""Procedural rectified stereo pairs with exact disparity.

A scene is a stack of planar layers in left-image coordinates: a textured,
slanted background plane covering everything, and foreground shapes (ellipses,
rotated rectangles, triangles), each a plane with its own disparity gradient
`d(x, y) = a + b*x + c*y`. The left view shows, per pixel, the layer with the
largest disparity (nearest). The right view is the same layers warped to
`x_r = x - d(x, y)`; because each layer is planar that warp inverts exactly,
`x = (x_r + a + c*y) / (1 - b)`, so every right pixel is rendered from its
source point on each layer and z-buffered (nearer = larger disparity wins).
Right pixels whose background point lies outside the left frame are filled from
the background texture, which extends beyond the frame. Left GT is exact: the
disparity of the visible surface at each left pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model.data.augment import AugmentationConfig, StereoArrays
from model.data.base import StereoDataset

__all__ = ["SyntheticPair", "SyntheticStereo", "render_stereo_pair"]

_SHAPES = ("ellipse", "rectangle", "triangle")


@dataclass(frozen=True)
class SyntheticPair:
    """Rendered pair: uint8 HxWx3 RGB views, exact float32 HxW GT, bool HxW `nocc` (left pixel seen by right)."""

    left: np.ndarray
    right: np.ndarray
    disp: np.ndarray
    disp_right: np.ndarray
    nocc: np.ndarray


@dataclass(frozen=True)
class _Layer:
    plane: tuple[float, float, float]  # (a, b, c): d = a + b*x + c*y
    shape: str  # "all" for the background
    center: tuple[float, float]
    radii: tuple[float, float]
    angle: float
    vertices: np.ndarray | None  # triangle corners in the shape's (u, v) frame
    texture: np.ndarray  # float32 h x w x 3
    origin: tuple[float, float]  # texture pixel (0, 0) in left-image (x, y)
    reach: float = np.inf  # the shape lies within this distance of its centre

    def region(self, view: str, height: int, width: int) -> tuple[slice, slice]:
        """Rows / columns of `view` ("left" / "right") the layer can cover: only those are evaluated."""
        if self.shape == "all":
            return slice(0, height), slice(0, width)
        (cx, cy), r = self.center, self.reach
        x0, x1 = cx - r, cx + r
        shift_lo = shift_hi = 0.0
        if view == "right":  # x_r = x - d, with d extreme at the box corners (planar)
            corners = [self.disparity(np.float64(x), np.float64(y)) for x in (x0, x1) for y in (cy - r, cy + r)]
            shift_lo, shift_hi = min(corners), max(corners)
        clip = lambda v, hi: int(min(max(v, 0), hi))  # noqa: E731
        rows = slice(clip(np.floor(cy - r), height), clip(np.ceil(cy + r) + 1, height))
        cols = slice(clip(np.floor(x0 - shift_hi), width), clip(np.ceil(x1 - shift_lo) + 1, width))
        return rows, cols

    def disparity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a, b, c = self.plane
        return a + b * x + c * y

    def covers(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.shape == "all":
            return np.ones(x.shape, dtype=bool)
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        dx, dy = x - self.center[0], y - self.center[1]
        u, v = (dx * cos + dy * sin) / self.radii[0], (-dx * sin + dy * cos) / self.radii[1]
        if self.shape == "ellipse":
            return u * u + v * v <= 1.0
        if self.shape == "rectangle":
            return (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
        inside = np.ones(x.shape, dtype=bool)  # triangle: left of every counter-clockwise edge
        for (u0, v0), (u1, v1) in zip(self.vertices, np.roll(self.vertices, -1, axis=0)):
            inside &= (u1 - u0) * (v - v0) - (v1 - v0) * (u - u0) >= 0
        return inside

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear texture colour at left-image coordinates (continuous, so both views agree)."""
        map_x = (x - self.origin[0]).astype(np.float32)
        map_y = (y - self.origin[1]).astype(np.float32)
        return cv2.remap(self.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def render_stereo_pair(rng: np.random.Generator, height: int, width: int, max_disparity: float) -> SyntheticPair:
    """Render one random scene.

    Args:
        rng: the generator all randomness comes from.
        height: image height (any size >= 8).
        width: image width (any size >= 8).
        max_disparity: GT stays within (0, max_disparity); it is also kept below
            0.4 * width so small images still overlap between views.
    Returns:
        the pair with exact left and right disparity.
    """
    if height < 8 or width < 8 or max_disparity <= 2:
        raise ValueError(f"synthetic size {height}x{width} / max_disparity {max_disparity} too small (need >= 8 px, > 2)")
    d_hi = min(0.85 * max_disparity, 0.4 * width)
    d_lo = max(1.0, 0.02 * d_hi)
    bg_hi = d_lo + 0.35 * (d_hi - d_lo)
    layers = [_background(rng, height, width, d_lo, bg_hi, d_hi)]
    for _ in range(int(rng.integers(2, 7))):
        layers.append(_foreground(rng, height, width, bg_hi, d_hi))
    # HxW pixel centres as broadcast views (no copies; slices of them feed each layer)
    xs = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
    left, disp, layer_left = _composite(layers, "left", xs, ys)
    right, disp_right, layer_right = _composite(layers, "right", xs, ys)

    # A left pixel is seen by the right camera when the same layer is visible at
    # both right pixels around x - d (a planar layer maps one-to-one along a row).
    x_right = xs - disp
    lo = np.floor(x_right).astype(np.int64)
    inside = (lo >= 0) & (lo + 1 <= width - 1)
    rows = np.arange(height)[:, None]
    lo_c, hi_c = np.clip(lo, 0, width - 1), np.clip(lo + 1, 0, width - 1)
    nocc = inside & (layer_right[rows, lo_c] == layer_left) & (layer_right[rows, hi_c] == layer_left)
    to_uint8 = lambda img: np.clip(np.rint(img), 0, 255).astype(np.uint8)  # noqa: E731
    return SyntheticPair(to_uint8(left), to_uint8(right), disp.astype(np.float32),
                         disp_right.astype(np.float32), nocc)


def _composite(layers: list[_Layer], view: str, xs: np.ndarray,
               ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer the layers seen from one view; returns (image HxWx3, disp HxW, layer id HxW)."""
    height, width = xs.shape
    zbuf = np.full(xs.shape, -np.inf, dtype=np.float32)
    ids = np.full(xs.shape, -1, dtype=np.int32)
    sources = []
    for index, layer in enumerate(layers):
        rows, cols = layer.region(view, height, width)
        src_x, src_y = xs[rows, cols], ys[rows, cols]
        if view == "right":  # invert the plane: x = (x_r + a + c*y) / (1 - b)
            a, b, c = layer.plane
            src_x = (src_x + a + c * src_y) / (1.0 - b)
        d = layer.disparity(src_x, src_y)
        win = layer.covers(src_x, src_y) & (d > zbuf[rows, cols])
        np.copyto(zbuf[rows, cols], d, where=win)
        np.copyto(ids[rows, cols], index, where=win)
        sources.append((rows, cols, src_x, src_y))
    image = np.zeros(xs.shape + (3,), dtype=np.float32)
    for index, (layer, (rows, cols, src_x, src_y)) in enumerate(zip(layers, sources)):
        mask = ids[rows, cols] == index
        if mask.any():
            np.copyto(image[rows, cols], layer.sample(src_x, src_y), where=mask[:, :, None])
    return image, zbuf, ids


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Multi-octave colour noise, float32 height x width x 3 in [0, 255]."""
    base = rng.uniform(40.0, 215.0, size=3).astype(np.float32)
    contrast = rng.uniform(0.6, 1.6)
    # Octaves are summed at half resolution and upsampled once (the finest cell is 2 px).
    half_h, half_w = height // 2 + 2, width // 2 + 2
    noise = 0.35 * rng.random((half_h, half_w, 3), dtype=np.float32)
    total = 0.35
    for cell, weight in ((2.5, 0.6), (6.5, 0.8), (15.5, 1.0)):
        coarse = rng.random((int(half_h // cell) + 2, int(half_w // cell) + 2, 3), dtype=np.float32)
        noise += weight * cv2.resize(coarse, (half_w, half_h), interpolation=cv2.INTER_LINEAR)
        total += weight
    noise = cv2.resize(noise, (2 * half_w, 2 * half_h), interpolation=cv2.INTER_LINEAR)[:height, :width]
    noise = noise / total - 0.5
    return np.clip(base + contrast * 255.0 * noise * 1.6, 0.0, 255.0)


def _random_plane(rng: np.random.Generator, center: tuple[float, float], extent: tuple[float, float],
                  lo: float, hi: float, max_slope: float = 0.25) -> tuple[float, float, float]:
    """Plane (a, b, c) whose values over a box of half-size `extent` around `center` stay in [lo, hi]."""
    spread = min(0.5 * (hi - lo), max_slope * (extent[0] + extent[1]))
    mid = rng.uniform(lo + spread, hi - spread)
    grad_x = rng.uniform(-1, 1) * spread / (2.0 * extent[0])
    grad_y = rng.uniform(-1, 1) * spread / (2.0 * extent[1])
    return (float(mid - grad_x * center[0] - grad_y * center[1]), float(grad_x), float(grad_y))


def _background(rng: np.random.Generator, height: int, width: int, d_lo: float, bg_hi: float,
                d_hi: float) -> _Layer:
    # Right pixels see background points up to x = width + d; the texture spans that.
    margin = int(np.ceil(d_hi)) + 4
    plane = _random_plane(rng, (width / 2, height / 2), (width / 2, height / 2), d_lo, bg_hi, max_slope=0.1)
    return _Layer(plane, "all", (0.0, 0.0), (1.0, 1.0), 0.0, None,
                  _texture(rng, height + 2, width + margin + 2), (-1.0, -1.0))


def _foreground(rng: np.random.Generator, height: int, width: int, bg_hi: float, d_hi: float) -> _Layer:
    shape = _SHAPES[int(rng.integers(0, len(_SHAPES)))]
    center = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
    scale = min(height, width)
    radii = (float(rng.uniform(0.06, 0.3) * scale), float(rng.uniform(0.06, 0.3) * scale))
    reach = float(np.hypot(*radii))
    near_lo = bg_hi + 0.05 * (d_hi - bg_hi)
    plane = _random_plane(rng, center, (reach, reach), near_lo, d_hi)
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=3))
    vertices = np.stack([np.cos(angles), np.sin(angles)], axis=1) if shape == "triangle" else None
    size = int(np.ceil(2 * reach)) + 4
    origin = (center[0] - reach - 2, center[1] - reach - 2)
    return _Layer(plane, shape, center, radii, float(rng.uniform(0, np.pi)), vertices,
                  _texture(rng, size, size), origin, reach)


class SyntheticStereo(StereoDataset):
    """Dataset of `num_samples` procedural pairs; sample i is the same for a given seed.

    Args:
        num_samples: dataset length.
        seed: scene seed (sample i uses `default_rng([seed, i])`).
        image_size: (H, W).
        max_disparity: GT stays within (0, max_disparity).
        split: dataset split; only "train" is augmented.
        augmentation: training knobs (the horizontal flip works: right GT exists).
        augmentation_seed: base seed of the augmentation (default: `seed`).
    """

    has_right_disparity = True

    def __init__(self, num_samples: int, seed: int, image_size: tuple[int, int] = (320, 736),
                 max_disparity: float = 192, split: str = "val",
                 augmentation: AugmentationConfig | None = None, augmentation_seed: int | None = None) -> None:
        names = [f"synthetic_{seed}_{i:06d}" for i in range(num_samples)]
        super().__init__(names, [f"synthetic://{seed}/{i}" for i in range(num_samples)], split, augmentation,
                         max_disparity, seed=seed if augmentation_seed is None else augmentation_seed)
        self.scene_seed = int(seed)
        self.image_size = (int(image_size[0]), int(image_size[1]))

    def render(self, index: int) -> SyntheticPair:
        """The full rendered pair of sample `index` (with right GT and occlusion mask)."""
        rng = np.random.default_rng([self.scene_seed, index])
        return render_stereo_pair(rng, self.image_size[0], self.image_size[1], self.max_disparity)

    def load(self, index: int) -> StereoArrays:
        pair = self.render(index)
        return StereoArrays(pair.left, pair.right, pair.disp, np.ones(pair.disp.shape, dtype=bool), pair.disp_right)
