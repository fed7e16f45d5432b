"""Objective directions: explicit, or known for depth_net's metrics; never guessed from a name.

The lowest module of the harness (no other automl import), so that the study, its objectives
and the Pareto front can all use it.
"""

from __future__ import annotations

from model.errors import SpecError

__all__ = ["DIRECTIONS", "KNOWN_METRICS", "resolve_direction"]

DIRECTIONS = ("minimize", "maximize")
KNOWN_METRICS: dict[str, str] = {
    f"{prefix}{name}": "minimize"
    for prefix in ("val/", "")
    for name in ("epe", "bp1", "bp2", "bp3", "d1", "rmse", "loss")
}
KNOWN_METRICS["train_loss"] = "minimize"


def resolve_direction(settings: dict) -> str:
    """`automl.direction` when given, else the known direction of `automl.metric`.

    Args: settings: the spec's automl section. Returns: "minimize" or "maximize".
    """
    metric = settings.get("metric") or "val/epe"
    direction = settings.get("direction")
    if direction is not None:
        if direction not in DIRECTIONS:
            raise SpecError(f"automl.direction: {direction!r} is not allowed; use one of {', '.join(DIRECTIONS)}")
        return direction
    if metric in KNOWN_METRICS:
        return KNOWN_METRICS[metric]
    raise SpecError(
        f"automl.metric: {metric!r} has no known direction; set automl.direction to minimize or "
        f"maximize (directions are never guessed from the name; known metrics: {', '.join(sorted(KNOWN_METRICS))})"
    )
