"""Pictures of disparity and depth: colourised maps, error maps, and left / prediction / GT / error panels.

All functions take numpy arrays and return uint8 HxWx3 RGB images (no file I/O).
Invalid pixels (no GT, non-finite values) are black. The `*_picture` functions and every
panel tile but the left image carry a colour bar with its unit (px, m) under the map.
"""

from __future__ import annotations

import cv2
import numpy as np

from model.evaluation.annotate import colour_bar, put_label

__all__ = ["colorize_disparity", "colorize_depth", "colorize_error", "disparity_range", "depth_range",
           "disparity_picture", "depth_picture", "make_panel", "MAX_ERROR_PX"]

#: the error map's scale: 0 .. 5 px
MAX_ERROR_PX = 5.0


def disparity_range(pred: np.ndarray, gt: np.ndarray | None = None, valid: np.ndarray | None = None) -> float:
    """A shared colour scale: the largest valid GT, else the 99th percentile of the prediction."""
    if gt is not None and valid is not None and valid.any():
        return float(max(np.max(gt[valid]), 1.0))
    finite = pred[np.isfinite(pred)]
    return float(max(np.percentile(finite, 99), 1.0)) if finite.size else 1.0


def _apply(values01: np.ndarray, colormap: int, valid: np.ndarray) -> np.ndarray:
    scaled = np.clip(np.nan_to_num(values01, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    bgr = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), colormap)
    rgb = bgr[:, :, ::-1].copy()
    rgb[~valid] = 0
    return rgb


def colorize_disparity(disp: np.ndarray, vmax: float | None = None, valid: np.ndarray | None = None) -> np.ndarray:
    """Turbo colour map of a disparity HxW over [0, vmax] (near = red, far = blue)."""
    disp = np.asarray(disp, dtype=np.float32)
    ok = np.isfinite(disp) if valid is None else (valid & np.isfinite(disp))
    vmax = disparity_range(disp) if vmax is None else max(float(vmax), 1e-6)
    return _apply(disp / vmax, cv2.COLORMAP_TURBO, ok)


def depth_range(depth_m: np.ndarray, max_depth_m: float | None = None) -> tuple[float, float]:
    """(near, far) of the depth colour scale in metres: the 1st and 99th percentiles of the valid depth.

    `max_depth_m` caps the far end (the sky and other near-zero disparities would stretch it),
    unless nothing lies within it.
    """
    depth_m = np.asarray(depth_m, dtype=np.float32)
    ok = np.isfinite(depth_m) & (depth_m > 0)
    if max_depth_m is not None and (ok & (depth_m <= max_depth_m)).any():
        ok &= depth_m <= max_depth_m
    if not ok.any():
        return 0.0, 1.0
    near, far = (float(v) for v in np.percentile(depth_m[ok], [1, 99]))
    return near, max(far, near + 1e-3)


def colorize_depth(depth_m: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
    """Turbo colour map of depth in metres, linear over [near, far] (near = red, far = blue).

    Args:
        depth_m: HxW depth in metres (0 or non-finite = no depth, black).
        near, far: the scale's ends in metres; None takes `depth_range(depth_m)`.
    Returns:
        uint8 HxWx3 RGB. Linear in metres, so unlike the disparity picture (linear in 1/depth)
        the far half of the scene keeps its contrast; depths past `far` take the far colour.
    """
    depth_m = np.asarray(depth_m, dtype=np.float32)
    ok = np.isfinite(depth_m) & (depth_m > 0)
    if near is None or far is None:
        near, far = depth_range(depth_m)
    return _apply((far - depth_m) / max(far - near, 1e-6), cv2.COLORMAP_TURBO, ok)


def disparity_picture(disp: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """The colourised disparity with its colour bar (px) under it."""
    vmax = disparity_range(np.asarray(disp, np.float32)) if vmax is None else vmax
    rgb = colorize_disparity(disp, vmax)
    return np.concatenate([rgb, colour_bar(rgb.shape[1], 0.0, vmax, cv2.COLORMAP_TURBO, "px")], axis=0)


def depth_picture(depth_m: np.ndarray, max_depth_m: float | None = None) -> np.ndarray:
    """The colourised depth with its colour bar in metres (near on the left) under it."""
    near, far = depth_range(depth_m, max_depth_m)
    rgb = colorize_depth(depth_m, near, far)
    return np.concatenate([rgb, colour_bar(rgb.shape[1], near, far, cv2.COLORMAP_TURBO, "m", reverse=True)],
                          axis=0)


def colorize_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, max_error: float = MAX_ERROR_PX) -> np.ndarray:
    """|pred - gt| in px over [0, max_error] (inferno: dark = small); pixels without GT are black."""
    err = np.abs(np.asarray(pred, np.float32) - np.asarray(gt, np.float32))
    return _apply(err / max_error, cv2.COLORMAP_INFERNO, valid & np.isfinite(err))


def make_panel(left_rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None,
               valid: np.ndarray | None = None, epe: float | None = None) -> np.ndarray:
    """[left | prediction] over [GT | error] when GT is given, else [left | prediction].

    Args:
        left_rgb: uint8 HxWx3 left image.
        pred: predicted disparity HxW (px).
        gt: GT disparity HxW (px), optional.
        valid: bool HxW where GT is valid (required with gt).
        epe: shown in the error tile's label when given.
    """
    has_gt = gt is not None and valid is not None and bool(valid.any())
    vmax = disparity_range(pred, gt if has_gt else None, valid if has_gt else None)
    width = left_rgb.shape[1]
    disp_bar = colour_bar(width, 0.0, vmax, cv2.COLORMAP_TURBO, "px")
    blank = np.zeros_like(disp_bar)
    left = np.concatenate([put_label(left_rgb, "left"), blank], axis=0)
    top = np.concatenate([left, _tile(colorize_disparity(pred, vmax), "prediction (disparity)", disp_bar)], axis=1)
    if not has_gt:
        return top
    err_text = "error" + (f", EPE {epe:.2f} px" if epe is not None else "")
    err_bar = colour_bar(width, 0.0, MAX_ERROR_PX, cv2.COLORMAP_INFERNO, "px")
    bottom = np.concatenate([_tile(colorize_disparity(gt, vmax, valid), "ground truth", disp_bar),
                             _tile(colorize_error(pred, gt, valid), err_text, err_bar)], axis=1)
    return np.concatenate([top, bottom], axis=0)


def _tile(rgb: np.ndarray, text: str, bar: np.ndarray) -> np.ndarray:
    return np.concatenate([put_label(rgb, text), bar], axis=0)
