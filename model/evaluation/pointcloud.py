"""Depth and point clouds from disparity: `depth_m = focal_px * baseline_m / disp_px`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.errors import DataError

__all__ = ["disparity_to_depth", "depth_to_points", "write_ply"]


def disparity_to_depth(disp: np.ndarray, focal_px: float, baseline_m: float, min_disp: float = 1e-3) -> np.ndarray:
    """Depth in metres (float32 HxW); 0 where the disparity is not finite or <= min_disp."""
    disp = np.asarray(disp, dtype=np.float32)
    ok = np.isfinite(disp) & (disp > min_disp)
    depth = np.zeros_like(disp)
    depth[ok] = focal_px * baseline_m / disp[ok]
    return depth


def depth_to_points(depth: np.ndarray, focal_px: float, colors: np.ndarray | None = None,
                    max_depth_m: float = np.inf, cx: float | None = None,
                    cy: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project a depth map (pinhole, principal point at the centre unless given).

    Args:
        depth: HxW depth in metres (0 = no depth).
        focal_px: focal length in pixels.
        colors: optional uint8 HxWx3 RGB per pixel.
        max_depth_m: points farther than this are dropped.
        cx, cy: principal point (px); default the image centre.
    Returns:
        (points float32 [N, 3] as X right, Y down, Z forward, colours uint8 [N, 3] or None).
    """
    h, w = depth.shape
    cx = (w - 1) / 2.0 if cx is None else cx
    cy = (h - 1) / 2.0 if cy is None else cy
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    keep = (depth > 0) & (depth <= max_depth_m)
    z = depth[keep]
    points = np.stack([(u[keep] - cx) * z / focal_px, (v[keep] - cy) * z / focal_px, z], axis=1)
    cols = colors[keep] if colors is not None else None
    return points.astype(np.float32), cols


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Binary little-endian PLY of float32 x, y, z (+ uint8 red, green, blue)."""
    n = int(points.shape[0])
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}",
              "property float x", "property float y", "property float z"]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    header.append("end_header")
    rows = np.empty(n, dtype=fields)
    rows["x"], rows["y"], rows["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    try:
        with open(path, "wb") as fh:
            fh.write(("\n".join(header) + "\n").encode("ascii"))
            fh.write(rows.tobytes())
    except OSError as exc:
        raise DataError(f"{path}: cannot write PLY ({exc.strerror})") from None
