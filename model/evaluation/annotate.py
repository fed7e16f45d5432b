"""Text and colour bars on pictures, drawn the same way with any OpenCV version.

A label is rendered ONCE, white, into its own black canvas; the canvas is cropped to
the pixels the text really covers (not to `cv2.getTextSize`, whose metrics changed in
OpenCV 5) and pasted, with a margin, as a solid box. There is no second, offset
outline pass that could ghost. A colour bar is the colour map's gradient with tick
values and the unit under it.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["text_tile", "put_label", "colour_bar", "font_for"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN = 3


def font_for(width: int) -> tuple[float, int]:
    """(scale, thickness) of label text on a picture `width` px wide."""
    scale = float(np.clip(width / 900.0, 0.4, 1.0))
    return scale, 1 if scale < 0.7 else 2


def text_tile(text: str, scale: float, thickness: int) -> np.ndarray:
    """uint8 HxW grey tile: `text` in white on black, with a margin of `_MARGIN` px all round."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = 4 * (thickness + 2)  # generous: the crop below finds the real extent
    canvas = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(canvas, text, (pad, pad + th), _FONT, scale, 255, thickness, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas)
    if ys.size == 0:
        return np.zeros((1, 1), np.uint8)
    crop = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.pad(crop, _MARGIN)


def _paste(image: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    """Paste a grey tile into an RGB image at (x, y), clipped to the image."""
    h = min(tile.shape[0], image.shape[0] - y)
    w = min(tile.shape[1], image.shape[1] - x)
    if h > 0 and w > 0:
        image[y:y + h, x:x + w] = tile[:h, :w, None]


def put_label(image: np.ndarray, text: str) -> np.ndarray:
    """A copy of `image` (uint8 HxWx3) with `text` in a black box at its top-left corner."""
    out = image.copy()
    scale, thickness = font_for(out.shape[1])
    _paste(out, text_tile(text, scale, thickness), 0, 0)
    return out


def _ticks(vmin: float, vmax: float) -> list[float]:
    return [vmin, (vmin + vmax) / 2.0, vmax]


def _fmt(value: float, span: float) -> str:
    """Enough decimals that the three ticks of a `span`-wide scale read differently."""
    decimals = 0 if span >= 20 else 1 if span >= 2 else 2 if span >= 0.2 else 3
    return f"{value:.{decimals}f}"


def colour_bar(width: int, vmin: float, vmax: float, colormap: int, unit: str, reverse: bool = False) -> np.ndarray:
    """uint8 HxWx3 strip: the colour map from `vmin` (left) to `vmax` (right) and 3 tick values + `unit`.

    Args:
        width: strip width (the picture's).
        vmin, vmax: the values at the left and right ends, in `unit`.
        colormap: an OpenCV colour map.
        unit: printed after the last tick ("px", "m").
        reverse: the colour map runs from its top (left) to its bottom (right), e.g. depth where
            near is drawn warm.
    """
    scale, thickness = font_for(width)
    tiles = [text_tile(_fmt(v, vmax - vmin) + (f" {unit}" if i == 2 else ""), scale, thickness)
             for i, v in enumerate(_ticks(vmin, vmax))]
    text_h = text_tile("0123456789.- pxm", scale, thickness).shape[0]  # one height for every bar of this width
    bar_h = max(6, text_h // 2)
    strip = np.zeros((bar_h + text_h + 2, width, 3), np.uint8)
    ramp = np.linspace(1.0, 0.0, width) if reverse else np.linspace(0.0, 1.0, width)
    row = cv2.applyColorMap(np.round(ramp * 255).astype(np.uint8)[None, :], colormap)[0, :, ::-1]
    strip[1:bar_h + 1] = row[None]
    y = bar_h + 2
    _paste(strip, tiles[0], 0, y)
    _paste(strip, tiles[1], max(0, (width - tiles[1].shape[1]) // 2), y)
    _paste(strip, tiles[2], max(0, width - tiles[2].shape[1]), y)
    return strip
