"""Depth from disparity and PLY point clouds."""

from __future__ import annotations

import numpy as np
import pytest

from model.evaluation.pointcloud import depth_to_points, disparity_to_depth, write_ply


def test_depth_is_focal_times_baseline_over_disparity():
    disp = np.array([[10.0, 20.0], [0.0, np.inf]], np.float32)
    depth = disparity_to_depth(disp, focal_px=700.0, baseline_m=0.1)
    assert depth[0, 0] == pytest.approx(7.0)
    assert depth[0, 1] == pytest.approx(3.5)
    assert depth[1, 0] == 0.0 and depth[1, 1] == 0.0


def test_back_projection_pinhole():
    depth = np.zeros((3, 3), np.float32)
    depth[1, 1] = 2.0  # the centre pixel -> on the optical axis
    depth[0, 2] = 4.0  # one pixel right, one up
    pts, _ = depth_to_points(depth, focal_px=2.0)
    pts = {tuple(np.round(p, 4)) for p in pts}
    assert (0.0, 0.0, 2.0) in pts
    assert (2.0, -2.0, 4.0) in pts


def test_max_depth_drops_far_points():
    depth = np.array([[1.0, 50.0]], np.float32)
    pts, cols = depth_to_points(depth, 1.0, np.zeros((1, 2, 3), np.uint8), max_depth_m=10.0)
    assert pts.shape == (1, 3) and cols.shape == (1, 3)


def test_ply_file_roundtrip(tmp_path):
    pts = np.array([[0, 1, 2], [3, 4, 5]], np.float32)
    cols = np.array([[255, 0, 0], [0, 255, 0]], np.uint8)
    path = tmp_path / "c.ply"
    write_ply(path, pts, cols)
    raw = path.read_bytes()
    header, body = raw.split(b"end_header\n", 1)
    assert b"element vertex 2" in header and b"property uchar red" in header
    rows = np.frombuffer(body, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                      ("r", "u1"), ("g", "u1"), ("b", "u1")])
    assert rows["z"].tolist() == [2.0, 5.0] and rows["r"].tolist() == [255, 0]
