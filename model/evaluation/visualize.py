"""Pictures of disparity: colourised maps, error maps, and left / prediction / GT / error panels.

All functions take numpy arrays and return uint8 HxWx3 RGB images (no file I/O).
Invalid pixels (no GT, non-finite values) are black.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["colorize_disparity", "colorize_depth", "colorize_error", "disparity_range", "make_panel"]


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


def colorize_depth(depth_m: np.ndarray) -> np.ndarray:
    """Turbo colour map of the inverse depth (near = red, far = blue), scaled to its own range.

    Args:
        depth_m: HxW depth in metres (0 or non-finite = no depth, black).
    Returns:
        uint8 HxWx3 RGB. The scale is the 99th percentile of 1/depth, not `disparity_range`'s
        1-px floor: inverse depth in 1/m is far below 1 for anything beyond a metre.
    """
    depth_m = np.asarray(depth_m, dtype=np.float32)
    ok = np.isfinite(depth_m) & (depth_m > 0)
    inv = np.zeros_like(depth_m)
    inv[ok] = 1.0 / depth_m[ok]
    vmax = float(np.percentile(inv[ok], 99)) if ok.any() else 1.0
    return _apply(inv / max(vmax, 1e-12), cv2.COLORMAP_TURBO, ok)


def colorize_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, max_error: float = 5.0) -> np.ndarray:
    """|pred - gt| in px over [0, max_error] (inferno: dark = small); pixels without GT are black."""
    err = np.abs(np.asarray(pred, np.float32) - np.asarray(gt, np.float32))
    return _apply(err / max_error, cv2.COLORMAP_INFERNO, valid & np.isfinite(err))


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    scale = max(0.35, min(out.shape[1] / 640.0, 1.2))
    org = (4, int(14 * scale) + 4)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


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
    top = np.concatenate([_label(left_rgb, "left"), _label(colorize_disparity(pred, vmax), "prediction")], axis=1)
    if not has_gt:
        return top
    err_text = "error (0-5 px)" + (f", EPE {epe:.2f}" if epe is not None else "")
    bottom = np.concatenate([_label(colorize_disparity(gt, vmax, valid), "ground truth"),
                             _label(colorize_error(pred, gt, valid), err_text)], axis=1)
    return np.concatenate([top, bottom], axis=0)
