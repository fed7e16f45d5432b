"""Procedural rectified stereo pairs with exact disparity, made to teach real stereo.

A scene is a z-buffered stack of layers in left-image coordinates, in the spirit of
FlyingThings3D: a background surface covering everything, an optional ground plane below a
horizon (disparity growing towards the bottom, as on a road), and many objects at random depths
- ellipses, rotated rectangles, triangles, star polygons, rings and thin structures (poles,
wires, branches) - each cut out by a mask and carrying its own texture (`synthetic_textures`:
dead leaves, 1/f noise, stripes, text, gradients, flat colour, ...).

Every layer's surface is a quadric in left-image coordinates, u = x - cx, v = y - cy:

    d(x, y) = m + b u + c v + e u^2 + f v^2 + g u v

which covers fronto-parallel planes (b = c = e = f = g = 0), slanted planes (up to |dd/dx| =
0.7) and curved surfaces (cylinders, caps, saddles), with |dd/dx| < 0.75 over the layer. The
right view of a layer at (x_r, y) comes from the left-image point x solving x - d(x, y) = x_r,
a quadratic in u solved in closed form (the root on the branch where 1 - dd/dx > 0), so the
right view is rendered by sampling each layer's texture and mask at their exact source points
and z-buffering (nearer = larger disparity wins). Left GT is the disparity of the visible
surface at each pixel, right GT likewise; `nocc` marks left pixels the right camera sees.

After rendering, the rig's photometric differences are applied per view (gain, gamma, colour
shift, blur, sensor noise); `photometric=False` leaves them out (the exact-GT tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from model.data.augment import AugmentationConfig, StereoArrays
from model.data.base import StereoDataset
from model.data.synthetic_textures import random_texture

__all__ = ["SHAPE_KINDS", "SURFACE_KINDS", "SyntheticPair", "SyntheticStereo", "render_stereo_pair"]

SHAPE_KINDS = ("ellipse", "rectangle", "triangle", "polygon", "ring", "thin")
SURFACE_KINDS = ("fronto", "slanted", "curved")
_MAX_SLOPE = 0.7  # |dd/dx| of any layer: keeps x -> x - d(x) monotonic and views overlapping
TextureFn = Callable[[np.random.Generator, int, int], np.ndarray]


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
    coef: tuple[float, ...]  # (m, b, c, e, f, g) of d = m + b u + c v + e u^2 + f v^2 + g u v
    centre: tuple[float, float]
    d_range: tuple[float, float]  # bounds of d over the layer's box
    mask: np.ndarray | None  # uint8, 255 = surface (None: everywhere)
    texture: np.ndarray  # float32 h x w x 3, pixel (0, 0) at `origin`
    origin: tuple[int, int]  # (x, y) of texture / mask pixel (0, 0) in left-image coordinates

    def disparity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        m, b, c, e, f, g = self.coef
        u, v = x - self.centre[0], y - self.centre[1]
        return m + b * u + c * v + e * u * u + f * v * v + g * u * v

    def source_x(self, x_r: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The left-image x whose point lands at right-image x_r (NaN where none does)."""
        m, b, c, e, f, g = self.coef
        v = y - self.centre[1]
        # x - d = x_r  <=>  -e u^2 + (1 - b - g v) u + (cx - m - c v - f v^2 - x_r) = 0
        lin = 1.0 - b - g * v
        const = self.centre[0] - m - c * v - f * v * v - x_r
        disc = lin * lin + 4.0 * e * const
        root = np.sqrt(np.where(disc >= 0, disc, np.nan))
        return self.centre[0] - 2.0 * const / (lin + root)  # stable form of (-lin + root) / (-2e)

    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1): the left-image box the layer can cover."""
        h, w = self.texture.shape[:2]
        return self.origin[0], self.origin[1], self.origin[0] + w - 1, self.origin[1] + h - 1

    def region(self, view: str, height: int, width: int) -> tuple[slice, slice]:
        """Rows / columns of `view` the layer can cover: only those are evaluated."""
        x0, y0, x1, y1 = self.box()
        if view == "right":
            x0, x1 = x0 - self.d_range[1], x1 - self.d_range[0]
        clip = lambda v, hi: int(min(max(v, 0), hi))  # noqa: E731
        return (slice(clip(np.floor(y0), height), clip(np.ceil(y1) + 1, height)),
                slice(clip(np.floor(x0) - 1, width), clip(np.ceil(x1) + 2, width)))

    def covers(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        inside = np.isfinite(x)
        if self.mask is None:
            return inside
        map_x = np.where(inside, x - self.origin[0], -10.0).astype(np.float32)
        map_y = (y - self.origin[1]).astype(np.float32)
        hit = cv2.remap(self.mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return inside & (hit > 127)

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear texture colour at left-image coordinates (continuous, so both views agree)."""
        map_x = np.nan_to_num(x - self.origin[0], nan=0.0).astype(np.float32)
        map_y = (y - self.origin[1]).astype(np.float32)
        return cv2.remap(self.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def render_stereo_pair(rng: np.random.Generator, height: int, width: int, max_disparity: float, *,
                       photometric: bool = True, shapes: Sequence[str] = SHAPE_KINDS,
                       surfaces: Sequence[str] = SURFACE_KINDS, ground: bool | None = None,
                       texture: TextureFn | None = None) -> SyntheticPair:
    """Render one random scene.

    Args:
        rng: the generator all randomness comes from.
        height, width: image size (any size >= 8).
        max_disparity: GT stays within (0, max_disparity); it is also kept below 0.45 * width
            so that small images still overlap between views.
        photometric: apply the per-view rig differences (gain, gamma, colour, blur, noise).
        shapes / surfaces: the object shape and surface kinds to draw from (all by default).
        ground: force the ground plane on / off (None: random).
        texture: texture maker `(rng, h, w) -> float32 h x w x 3` (default: `random_texture`).
    Returns:
        the pair with exact left and right disparity.
    """
    if height < 8 or width < 8 or max_disparity <= 2:
        raise ValueError(f"synthetic size {height}x{width} / max_disparity {max_disparity} too small (need >= 8 px, > 2)")
    tex = texture or random_texture
    d_cap = min(0.9 * max_disparity, 0.45 * width)
    d_hi = d_cap * rng.uniform(0.2, 1.0)
    d_lo = max(0.5, rng.uniform(0.0, 0.3) * d_hi)
    bg_hi = d_lo + rng.uniform(0.05, 0.4) * (d_hi - d_lo)
    layers = [_background(rng, height, width, d_lo, bg_hi, d_hi, surfaces, tex)]
    if ground if ground is not None else rng.random() < 0.35:
        layers.append(_ground(rng, height, width, d_lo, bg_hi, d_hi, tex))
    for _ in range(int(rng.integers(4, 20))):
        layers.append(_object(rng, height, width, bg_hi, d_hi, shapes, surfaces, tex, thin=False))
    if "thin" in shapes:
        for _ in range(int(rng.integers(0, 5))):
            layers.append(_object(rng, height, width, bg_hi, d_hi, ("thin",), surfaces, tex, thin=True))
    xs = np.broadcast_to(np.arange(width, dtype=np.float64)[None, :], (height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.float64)[:, None], (height, width))
    left, disp, layer_left = _composite(layers, "left", xs, ys)
    right, disp_right, layer_right = _composite(layers, "right", xs, ys)

    # A left pixel is seen by the right camera when the same layer is visible at both right
    # pixels around x - d (a layer maps one-to-one along a row).
    x_right = xs - disp
    lo = np.floor(x_right).astype(np.int64)
    inside = (lo >= 0) & (lo + 1 <= width - 1)
    rows = np.arange(height)[:, None]
    lo_c, hi_c = np.clip(lo, 0, width - 1), np.clip(lo + 1, 0, width - 1)
    nocc = inside & (layer_right[rows, lo_c] == layer_left) & (layer_right[rows, hi_c] == layer_left)
    if photometric:
        left, right = _photometric(rng, left), _photometric(rng, right, like=rng.random() < 0.4)
    to_uint8 = lambda img: np.clip(np.rint(img), 0, 255).astype(np.uint8)  # noqa: E731
    return SyntheticPair(to_uint8(left), to_uint8(right), disp.astype(np.float32),
                         disp_right.astype(np.float32), nocc)


def _composite(layers: list[_Layer], view: str, xs: np.ndarray,
               ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer the layers seen from one view; returns (image HxWx3, disp HxW, layer id HxW)."""
    height, width = xs.shape
    zbuf = np.full(xs.shape, -np.inf, dtype=np.float64)
    ids = np.full(xs.shape, -1, dtype=np.int32)
    sources = []
    for index, layer in enumerate(layers):
        rows, cols = layer.region(view, height, width)
        src_x, src_y = xs[rows, cols], ys[rows, cols]
        if src_x.size == 0:  # the layer lies outside this view
            sources.append(None)
            continue
        if view == "right":
            src_x = layer.source_x(src_x, src_y)
        d = layer.disparity(src_x, src_y)
        win = layer.covers(src_x, src_y) & (d > zbuf[rows, cols])
        np.copyto(zbuf[rows, cols], d, where=win)
        np.copyto(ids[rows, cols], index, where=win)
        sources.append((rows, cols, src_x, src_y))
    image = np.zeros(xs.shape + (3,), dtype=np.float32)
    for index, (layer, source) in enumerate(zip(layers, sources)):
        if source is None:
            continue
        rows, cols, src_x, src_y = source
        mask = ids[rows, cols] == index
        if mask.any():
            np.copyto(image[rows, cols], layer.sample(src_x, src_y), where=mask[:, :, None])
    return image, zbuf, ids


def _surface(rng: np.random.Generator, reach: float, lo: float, hi: float, surfaces: Sequence[str],
             max_slope: float = _MAX_SLOPE) -> tuple[tuple[float, ...], tuple[float, float]]:
    """Quadric coefficients whose values within `reach` of the centre stay in [lo, hi]; and their bounds."""
    kind = surfaces[int(rng.integers(0, len(surfaces)))]
    coef = np.zeros(6)
    if kind != "fronto":
        strength = max_slope * (rng.uniform(0.5, 1.0) if rng.random() < 0.3 else rng.uniform(0.0, 0.5))
        coef[1:3] = rng.uniform(-1, 1, 2) * strength
    if kind == "curved":
        coef[3:6] = rng.uniform(-1, 1, 3) * rng.uniform(0.2, 1.0) * max_slope / (2.0 * reach)
    slope = abs(coef[1]) + 2 * abs(coef[3]) * reach + abs(coef[5]) * reach
    spread = (abs(coef[1]) + abs(coef[2])) * reach + (abs(coef[3]) + abs(coef[4]) + abs(coef[5])) * reach**2
    half = 0.5 * (hi - lo)
    scale = min(1.0, max_slope / slope if slope > 0 else 1.0, half / spread if spread > 0 else 1.0)
    coef[1:] *= scale
    spread *= scale
    coef[0] = rng.uniform(lo + spread, max(lo + spread, hi - spread))
    return tuple(float(c) for c in coef), (float(coef[0] - spread), float(coef[0] + spread))


def _background(rng: np.random.Generator, height: int, width: int, d_lo: float, bg_hi: float, d_hi: float,
                surfaces: Sequence[str], tex: TextureFn) -> _Layer:
    # Right pixels see background points up to x = width + d; the texture spans that.
    margin = int(np.ceil(d_hi)) + 4
    centre = (width / 2, height / 2)
    reach = float(np.hypot(width / 2 + margin, height / 2))
    coef, d_range = _surface(rng, reach, d_lo, bg_hi, surfaces, max_slope=0.3)
    return _Layer(coef, centre, d_range, None, tex(rng, height + 4, width + margin + 4), (-2, -2))


def _ground(rng: np.random.Generator, height: int, width: int, d_lo: float, bg_hi: float, d_hi: float,
            tex: TextureFn) -> _Layer:
    """A plane below a (slightly tilted) horizon, its disparity growing towards the bottom."""
    horizon = rng.uniform(0.2, 0.7) * height
    d_top = rng.uniform(d_lo, bg_hi)
    d_bottom = rng.uniform(d_top + 0.3 * (d_hi - d_top), d_hi)
    slope_y = (d_bottom - d_top) / max(height - horizon, 1.0)
    tilt = rng.uniform(-0.15, 0.15)
    slope_x = float(np.clip(-tilt * slope_y, -0.3, 0.3))  # the tilted horizon's line keeps d = d_top
    margin = int(np.ceil(d_hi)) + 4
    centre = (width / 2, horizon)
    extent = width / 2 + margin
    coef = (d_top, slope_x, slope_y, 0.0, 0.0, 0.0)
    d_range = (d_top - abs(slope_x) * extent, d_top + abs(slope_x) * extent + slope_y * (height - horizon))
    h, w = height + 4, width + margin + 4
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = (((ys - 2) - horizon) > tilt * ((xs - 2) - width / 2)).astype(np.uint8) * 255
    return _Layer(coef, centre, d_range, mask, tex(rng, h, w), (-2, -2))


def _object(rng: np.random.Generator, height: int, width: int, bg_hi: float, d_hi: float,
            shapes: Sequence[str], surfaces: Sequence[str], tex: TextureFn, thin: bool) -> _Layer:
    kind = shapes[int(rng.integers(0, len(shapes)))]
    scale = min(height, width)
    reach = float(np.exp(rng.uniform(np.log(0.05), np.log(0.6))) * scale) + 2.0
    if kind == "thin":
        reach = float(rng.uniform(0.2, 0.7) * max(height, width)) + 2.0
    centre = (float(rng.uniform(-0.1, 1.1) * width), float(rng.uniform(-0.1, 1.1) * height))
    size = int(np.ceil(2 * reach)) + 4
    origin = (int(np.floor(centre[0] - size / 2)), int(np.floor(centre[1] - size / 2)))
    mask = _shape_mask(rng, kind, size, reach)
    near_lo = bg_hi + 0.02 * (d_hi - bg_hi)
    coef, d_range = _surface(rng, reach, near_lo, d_hi, surfaces)
    # the texture is mirrored past its edge (BORDER_REFLECT), so a large or thin object needs no
    # texture as large as its box: rendering time stays with the pixels actually drawn
    side = min(size, 96 if kind == "thin" else 512)
    return _Layer(coef, centre, d_range, mask, tex(rng, side, side), origin)


def _shape_mask(rng: np.random.Generator, kind: str, size: int, reach: float) -> np.ndarray:
    """A size x size uint8 mask (255 inside) of one shape centred in the box."""
    mask = np.zeros((size, size), np.uint8)
    c = size / 2.0
    angle = float(rng.uniform(0, 180))
    ra = reach * rng.uniform(0.5, 1.0)
    rb = ra * rng.uniform(0.25, 1.0)
    if kind in ("ellipse", "ring"):
        cv2.ellipse(mask, (int(c), int(c)), (int(ra), max(1, int(rb))), angle, 0, 360, 255, -1)
        if kind == "ring":
            k = rng.uniform(0.3, 0.8)
            cv2.ellipse(mask, (int(c), int(c)), (max(1, int(ra * k)), max(1, int(rb * k))), angle, 0, 360, 0, -1)
    elif kind == "rectangle":
        box = cv2.boxPoints(((c, c), (2 * ra / np.sqrt(2), 2 * rb / np.sqrt(2)), angle))
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 255)
    elif kind in ("triangle", "polygon"):
        n = 3 if kind == "triangle" else int(rng.integers(5, 13))
        theta = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = ra * (rng.uniform(0.4, 1.0, n) if kind == "polygon" else 1.0)
        pts = np.stack([c + radius * np.cos(theta), c + radius * np.sin(theta)], axis=1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)
    elif kind == "thin":  # a pole, a wire or a branch: a polyline 1-6 px wide across the box
        n = int(rng.integers(2, 6))
        start = rng.uniform(0.1, 0.9, 2) * size
        direction = rng.uniform(0, 2 * np.pi)
        pts = [start]
        for _ in range(n - 1):
            direction += rng.uniform(-0.6, 0.6)
            step = rng.uniform(0.2, 0.6) * size
            pts.append(pts[-1] + step * np.array([np.cos(direction), np.sin(direction)]))
        cv2.polylines(mask, [np.round(np.array(pts)).astype(np.int32)], False, 255, int(rng.integers(1, 7)))
    else:
        raise ValueError(f"unknown shape kind {kind!r} (one of {SHAPE_KINDS})")
    return mask


def _photometric(rng: np.random.Generator, img: np.ndarray, like: bool = False) -> np.ndarray:
    """A camera's rendition: gain, gamma, colour balance, blur, noise (`like`: milder, for a matched rig)."""
    k = 0.4 if like else 1.0
    out = np.clip(img * np.float32(1 / 255.0), 0.0, 1.0)
    gamma = np.float32(np.exp(rng.uniform(-0.2, 0.2) * k))
    out = np.power(out, gamma)
    gain = rng.uniform(1 - 0.2 * k, 1 + 0.2 * k) * rng.uniform(1 - 0.06 * k, 1 + 0.06 * k, 3)
    out = out * (255.0 * gain).astype(np.float32) + np.float32(255.0 * rng.uniform(-0.04, 0.04) * k)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.3, 1.2)))
    sigma = float(rng.choice([0.0, rng.uniform(0.5, 5.0)], p=[0.3, 0.7]))
    if sigma > 0:
        out = out + np.float32(sigma) * rng.standard_normal(out.shape, dtype=np.float32)
    return out


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
