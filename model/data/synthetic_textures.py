"""Surface textures for the procedural stereo scenes: natural-image statistics at every scale.

`random_texture(rng, h, w)` returns float32 h x w x 3 in [0, 255], drawn from a mix of kinds
(`TEXTURE_KINDS`), each a known source of what real stereo has to match or to give up on:

* `dead_leaves`: overlapping opaque disks / ellipses / rectangles with power-law sizes
  (p(r) ~ r^-3, the scale-invariant occlusion model of natural images);
* `pink`: 1/f^a noise made in the Fourier domain, a in [0.8, 1.6] (natural spectra);
* `octaves`: summed value noise at a few cell sizes;
* `stripes`: gratings and checkerboards (repetitive patterns: ambiguous matches);
* `text`: lines of random characters (sharp, sparse, high-contrast strokes);
* `gradient`: a smooth colour ramp (weak texture);
* `flat`: one colour with at most a trace of fine grain (textureless).

Some textures are a blend of two kinds under a soft mask. Every kind is deterministic given
the generator `rng`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["TEXTURE_KINDS", "random_texture", "make_texture"]

TEXTURE_KINDS = ("dead_leaves", "pink", "octaves", "stripes", "text", "gradient", "flat")
_WEIGHTS = np.array([0.30, 0.18, 0.12, 0.10, 0.10, 0.10, 0.10])
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
          cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#%&@"))


def _colour(rng: np.random.Generator, base: np.ndarray | None = None, spread: float = 255.0) -> np.ndarray:
    """A random RGB colour, near `base` (within +-spread) when given."""
    if base is None:
        return rng.uniform(0.0, 255.0, size=3)
    return np.clip(base + rng.uniform(-spread, spread, size=3), 0.0, 255.0)


def _dead_leaves(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    # drawn at half resolution (shapes of >= 2 px there) and upsampled: a quarter of the shapes
    scale = 2 if min(h, w) >= 16 else 1
    hh, ww = max(2, -(-h // scale)), max(2, -(-w // scale))
    palette = _colour(rng)
    spread = rng.uniform(40.0, 255.0)
    img = np.empty((hh, ww, 3), np.uint8)  # OpenCV draws on 8-bit images only (5.x)
    img[:] = np.rint(_colour(rng, palette, spread))
    r_min, r_max = rng.uniform(1.0, 3.0), max(3.0, rng.uniform(0.1, 0.5) * max(hh, ww))
    # r = (r_min^-2 - u (r_min^-2 - r_max^-2))^-1/2 draws p(r) ~ r^-3 on [r_min, r_max]
    mean_area = np.pi * 2.0 * r_min**2 * np.log(r_max / r_min)
    count = int(min(4000, 2.5 * hh * ww / mean_area + 10))
    u = rng.random(count)
    radii = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
    xs, ys = rng.uniform(-r_max / 2, ww + r_max / 2, count), rng.uniform(-r_max / 2, hh + r_max / 2, count)
    kinds = rng.integers(0, 3, count)
    colours = np.clip(palette + rng.uniform(-spread, spread, (count, 3)), 0, 255)
    for x, y, r, kind, col in zip(xs, ys, radii, kinds, colours):
        c = (float(col[0]), float(col[1]), float(col[2]))
        centre = (int(x), int(y))
        if kind == 0:
            cv2.circle(img, centre, max(1, int(r)), c, -1)
        elif kind == 1:
            axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.3, 1.0))))
            cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, c, -1)
        else:
            d = int(r * 0.8)
            cv2.rectangle(img, (centre[0] - d, centre[1] - d), (centre[0] + d, centre[1] + d), c, -1)
    if scale > 1:
        img = cv2.resize(img, (ww * scale, hh * scale), interpolation=cv2.INTER_NEAREST)[:h, :w]
    return img.astype(np.float32)


def _pink(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    alpha = rng.uniform(0.8, 1.6)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    amp = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(h, w)) ** alpha
    out = np.empty((h, w, 3), np.float32)
    lum = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((h, w))) * amp, s=(h, w))
    lum = lum / (lum.std() + 1e-9)
    base = _colour(rng, None)
    tint = rng.uniform(0.5, 1.5, size=3)
    contrast = rng.uniform(15.0, 70.0)
    for ch in range(3):
        out[..., ch] = base[ch] + contrast * tint[ch] * lum
    return out


def _octaves(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    noise = np.zeros((h, w, 3), np.float32)
    total = 0.0
    for cell, weight in ((1.0, 0.3), (3.0, 0.6), (8.0, 0.8), (24.0, 1.0)):
        coarse = rng.random((int(h // cell) + 2, int(w // cell) + 2, 3), dtype=np.float32)
        noise += weight * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        total += weight
    return _colour(rng, None).astype(np.float32) + rng.uniform(80.0, 300.0) * (noise / total - 0.5)


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = float(np.exp(rng.uniform(np.log(3.0), np.log(48.0))))
    phase = (xs * np.cos(theta) + ys * np.sin(theta)) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase)
    if rng.random() < 0.35:  # a checkerboard: the product of two square waves
        other = np.sin((-xs * np.sin(theta) + ys * np.cos(theta)) * (2 * np.pi / period))
        wave = np.sign(wave) * np.sign(other)
    elif rng.random() < 0.5:
        wave = np.sign(wave)
    a, b = _colour(rng), _colour(rng)
    t = (0.5 + 0.5 * wave)[..., None]
    return (a * t + b * (1 - t)).astype(np.float32)


def _text(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)  # OpenCV draws on 8-bit images only (5.x)
    img[:] = np.rint(_colour(rng))
    ink = _colour(rng)
    font = int(_FONTS[int(rng.integers(0, len(_FONTS)))])
    scale = float(np.exp(rng.uniform(np.log(0.3), np.log(2.5))))
    thickness = int(rng.integers(1, 3 + int(scale)))
    (_, line_h), _ = cv2.getTextSize("Ag", font, scale, thickness)
    line_h = max(4, int(line_h * rng.uniform(1.4, 2.2)))
    for row in range(int(rng.integers(0, line_h)), h + line_h, line_h):
        n = int(rng.integers(5, 40))
        text = "".join(rng.choice(_CHARS, n)).replace("#", " ")
        x0 = int(rng.integers(-w // 4, max(1, w // 4)))
        colour = _colour(rng, ink, 40.0) if rng.random() < 0.8 else _colour(rng)
        cv2.putText(img, text, (x0, row), font, scale, tuple(float(c) for c in colour), thickness, cv2.LINE_AA)
    return img.astype(np.float32)


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    t = xs * np.cos(theta) + ys * np.sin(theta)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    a, b = _colour(rng), _colour(rng)
    return (a * t[..., None] + b * (1 - t[..., None])).astype(np.float32)


def _flat(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = _colour(rng)
    return img


_MAKERS = {"dead_leaves": _dead_leaves, "pink": _pink, "octaves": _octaves, "stripes": _stripes,
           "text": _text, "gradient": _gradient, "flat": _flat}


def make_texture(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One texture of `kind` (see `TEXTURE_KINDS`), float32 h x w x 3 clipped to [0, 255]."""
    return np.clip(_MAKERS[kind](rng, h, w), 0.0, 255.0).astype(np.float32)


def random_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A texture of a random kind, sometimes two blended under a soft mask, plus fine grain."""
    kind = TEXTURE_KINDS[int(rng.choice(len(TEXTURE_KINDS), p=_WEIGHTS / _WEIGHTS.sum()))]
    tex = make_texture(kind, rng, h, w)
    if rng.random() < 0.25:
        other = make_texture(TEXTURE_KINDS[int(rng.integers(0, len(TEXTURE_KINDS)))], rng, h, w)
        cell = float(rng.uniform(8.0, 64.0))
        coarse = rng.random((int(h // cell) + 2, int(w // cell) + 2), dtype=np.float32)
        mask = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        mask = np.clip((mask - 0.5) * rng.uniform(2.0, 10.0) + 0.5, 0.0, 1.0)[..., None]
        tex = tex * mask + other * (1.0 - mask)
    grain = rng.uniform(0.0, 6.0) if kind != "flat" else rng.choice([0.0, rng.uniform(0.0, 1.5)])
    if grain > 0:  # fine surface detail, the same in both views (sensor noise is added per view)
        tex = tex + np.float32(grain) * rng.standard_normal((h, w, 1), dtype=np.float32)
    return np.clip(tex, 0.0, 255.0).astype(np.float32)
