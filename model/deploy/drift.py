"""Drift report: PyTorch vs a deploy model (ONNX Runtime / TensorRT) on the same data.

`depth_net evaluate` with both `evaluate.checkpoint` and `evaluate.onnx_file` (or
`trt_engine`) scores the deploy model as usual and, per image, also runs the
PyTorch network at the engine's input size with the engine's GRU iterations, so
the comparison is like for like: only the runtime differs. Reported per image and
as a mean: |pyt - deploy| disparity (mean and max px) and each metric's delta
(deploy - pyt). Written as `drift.json`, printed as a rich table.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from model.evaluation.metrics import METRIC_NAMES, compute_per_image

__all__ = ["DriftTracker", "make_drift_tracker"]


class DriftTracker:
    """Collects per-image drift of a deploy prediction against the PyTorch prediction.

    Args:
        torch_predictor: `(left, right) -> disparity`, set up at the engine's size and iterations.
        max_disparity: GT at or above it is not scored.
        deploy_name: what the deploy side is (for the report), e.g. "onnx_file: x.onnx".
    """

    def __init__(self, torch_predictor, max_disparity: float, deploy_name: str = "deploy") -> None:
        self.torch_predictor = torch_predictor
        self.max_disparity = max_disparity
        self.deploy_name = deploy_name
        self.rows: list[dict] = []

    def update(self, sample: dict, deploy_disp: torch.Tensor, deploy_row: dict) -> dict:
        """Compare one sample's deploy disparity [1,H,W] with PyTorch's; returns its drift row."""
        pyt = self.torch_predictor(sample["left"][None], sample["right"][None])[0]  # [1,H,W]
        diff = (pyt - deploy_disp).abs()
        row = {"name": deploy_row["name"], "mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max())}
        if sample.get("has_gt", True):
            per = compute_per_image(pyt[None], sample["disp"][None], self.max_disparity, sample["valid"][None])
            for m in METRIC_NAMES:
                row[f"pyt_{m}"] = float(per[m][0])
                row[f"deploy_{m}"] = float(deploy_row[m])
                row[f"delta_{m}"] = row[f"deploy_{m}"] - row[f"pyt_{m}"]
        self.rows.append(row)
        return row

    def summary(self) -> dict[str, float]:
        """Means over images: mean_abs_diff, max_abs_diff (max over images), pyt_/deploy_/delta_<metric>."""
        if not self.rows:
            return {}
        out = {"num_images": len(self.rows),
               "mean_abs_diff": sum(r["mean_abs_diff"] for r in self.rows) / len(self.rows),
               "max_abs_diff": max(r["max_abs_diff"] for r in self.rows)}
        for m in METRIC_NAMES:
            for side in ("pyt", "deploy", "delta"):
                vals = [r[f"{side}_{m}"] for r in self.rows if math.isfinite(r.get(f"{side}_{m}", math.nan))]
                if vals:
                    out[f"{side}_{m}"] = sum(vals) / len(vals)
        return out

    def kpi(self) -> dict[str, float]:
        """The kpi entries: drift/mean_abs_diff, drift/max_abs_diff, drift/delta_<metric>."""
        s = self.summary()
        keys = ["mean_abs_diff", "max_abs_diff"] + [f"delta_{m}" for m in METRIC_NAMES if f"delta_{m}" in s]
        return {f"drift/{k}": s[k] for k in keys if k in s}

    def write(self, out_dir: str | Path) -> Path:
        """drift.json: {deploy, summary, per_image}."""
        path = Path(out_dir) / "drift.json"
        clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
                 for r in self.rows]
        path.write_text(json.dumps({"deploy": self.deploy_name, "summary": self.summary(), "per_image": clean},
                                   indent=2), encoding="utf-8")
        return path

    def print_table(self, max_rows: int = 20) -> None:
        """A rich table: per image (first `max_rows`) then the mean."""
        from rich.console import Console
        from rich.table import Table

        metric = "epe"
        table = Table(title=f"drift: PyTorch vs {self.deploy_name}")
        for col in ("image", "mean |pyt-deploy| px", "max px", f"pyt {metric}", f"deploy {metric}", f"delta {metric}"):
            table.add_column(col, justify="left" if col == "image" else "right")
        for row in self.rows[:max_rows]:
            table.add_row(row["name"], *_cells(row, metric))
        if len(self.rows) > max_rows:
            table.add_row(f"... {len(self.rows) - max_rows} more", "", "", "", "", "")
        table.add_row("[bold]mean", *_cells(self.summary(), metric))
        Console(file=sys.stdout, width=120).print(table)


def _cells(row: dict, metric: str) -> list[str]:
    def fmt(key: str) -> str:
        v = row.get(key)
        return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"

    return [fmt("mean_abs_diff"), fmt("max_abs_diff"), fmt(f"pyt_{metric}"), fmt(f"deploy_{metric}"),
            fmt(f"delta_{metric}")]


def make_drift_tracker(spec: dict, action: str, deploy_predictor) -> DriftTracker | None:
    """A tracker when `<action>` sets both a checkpoint and an onnx_file / trt_engine, else None.

    The PyTorch side runs at the deploy predictor's input size (resize + rescale, as the deploy
    side) and with the exported `valid_iters` (from the ONNX metadata / engine sidecar).
    """
    section = spec.get(action) or {}
    if not section.get("checkpoint") or not (section.get("onnx_file") or section.get("trt_engine")):
        return None
    from model.evaluation.predictor import TorchPredictor, load_network, pick_device

    net, cfg = load_network(spec, action)
    iters = (getattr(deploy_predictor.runner, "metadata", None) or {}).get("valid_iters") or cfg.valid_iters
    torch_predictor = TorchPredictor(net, pick_device(section, action), int(iters), deploy_predictor.input_hw,
                                     section.get("precision", "fp32"))
    key = "onnx_file" if section.get("onnx_file") else "trt_engine"
    return DriftTracker(torch_predictor, spec["dataset"]["max_disparity"], f"{key} {Path(section[key]).name}")
