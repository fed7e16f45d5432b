"""Evaluation: metrics (pure), the evaluator loop, pictures and point clouds."""

from model.evaluation.metrics import METRIC_NAMES, compute_metrics, compute_per_image, mean_over_images

__all__ = ["METRIC_NAMES", "compute_metrics", "compute_per_image", "mean_over_images"]
