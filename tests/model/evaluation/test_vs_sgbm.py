"""bench/vs_sgbm.py: OpenCV SGBM scored by our metrics reproduces BASELINES.md; a checkpoint sits beside it."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _bench():
    spec = importlib.util.spec_from_file_location("vs_sgbm", REPO / "bench" / "vs_sgbm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _baseline_row(shared_dir: Path, scene: str) -> dict[str, float]:
    for line in (shared_dir / "design" / "BASELINES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == scene:
            return dict(zip(["epe", "bp1", "bp2", "bp3", "d1", "rmse"], map(float, cells[1:7])))
    raise AssertionError(f"{scene} not in BASELINES.md")


def test_sgbm_reproduces_the_baseline_table_and_the_network_is_scored_beside_it(shared_dir, tiny_checkpoint):
    bench = _bench()
    [row] = bench.run(shared_dir / "data" / "real", str(tiny_checkpoint), sources=[("Kitti", "kitti2012.txt")])
    assert row["scene"] == "kitti2012/000000_10"
    want = _baseline_row(shared_dir, "kitti2012/000000_10")
    for metric, value in want.items():  # the table has 2-3 significant digits
        assert row["sgbm"][metric] == pytest.approx(value, abs=0.006 if metric in ("epe", "rmse") else 6e-4), metric
    assert set(row["net"]) >= set(want) and all(math.isfinite(row["net"][m]) for m in want)
    assert row["net"]["epe"] != pytest.approx(row["sgbm"]["epe"])  # a different predictor, really run
