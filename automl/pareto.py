"""Accuracy against latency: the study's objectives, its Pareto front and the hand-off's choice.

`automl.objectives` may name two objectives, each with its direction (e.g. `val/epe` minimize
and `latency_ms` minimize); without it the study has the single `automl.metric`. In a
multi-objective study no trial is "the best": the hand-off (and `automl best`) picks one point
of the Pareto front by a stated rule:
- with `automl.latency_budget_ms`, the most accurate point whose latency is within the budget;
- otherwise (or when no point is within it) the knee of the front: with both objectives scaled
  to [0, 1] over the front, the point farthest from the line through its two ends (the point
  after which more accuracy costs the most latency). A front of one or two points has no knee:
  the most accurate point is taken, and the rule says so.

Optuna does not prune multi-objective studies (`Trial.report` / `should_prune` refuse them), so
every trial trains all `automl.max_epochs`; its learning curve is kept in the `curve` user attr.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import optuna

from automl.directions import DIRECTIONS, resolve_direction
from model.errors import SpecError

__all__ = ["LATENCY", "Objective", "resolve_objectives", "is_multi", "metric_names", "accuracy_index",
           "pareto_front", "knee", "Choice", "choose", "NO_PRUNING"]

LATENCY = "latency_ms"
NO_PRUNING = "pruning is off: Optuna does not prune multi-objective studies, so every trial trains all its epochs"


@dataclass(frozen=True)
class Objective:
    """One objective: a per-epoch validation metric or latency_ms, and its direction."""

    metric: str
    direction: str


def resolve_objectives(settings: dict) -> list[Objective]:
    """`automl.objectives` (one or two, each with metric and direction), else `automl.metric` alone.

    Raises SpecError (one line, naming the key) for a duplicate metric, a missing direction or
    more than two objectives.
    """
    given = settings.get("objectives")
    if not given:
        return [Objective(settings.get("metric") or "val/epe", resolve_direction(settings))]
    if not isinstance(given, list) or len(given) > 2:
        raise SpecError(f"automl.objectives: {given!r} is not allowed; name one or two objectives, e.g. "
                        "[{metric: val/epe, direction: minimize}, {metric: latency_ms, direction: minimize}]")
    out = []
    for i, item in enumerate(given):
        metric, direction = (item or {}).get("metric"), (item or {}).get("direction")
        if direction not in DIRECTIONS:
            raise SpecError(f"automl.objectives[{i}].direction: {direction!r} is not allowed; use one of "
                            f"{', '.join(DIRECTIONS)} (directions are never guessed)")
        if metric in [o.metric for o in out]:
            raise SpecError(f"automl.objectives[{i}].metric: {metric!r} is named twice")
        out.append(Objective(str(metric), direction))
    return out


def is_multi(settings: dict) -> bool:
    """Whether the settings describe a multi-objective study."""
    return len(resolve_objectives(settings)) > 1


def metric_names(study: optuna.Study) -> list[str]:
    """The study's metric names (set by make_study), else "value" / "value 0", "value 1"."""
    with warnings.catch_warnings():  # "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        names = study.metric_names
    if names:
        return list(names)
    return ["value"] if len(study.directions) == 1 else [f"value {i}" for i in range(len(study.directions))]


def accuracy_index(study: optuna.Study) -> int:
    """The index of the first objective that is not latency_ms (the accuracy)."""
    names = metric_names(study)
    return next((i for i, name in enumerate(names) if name != LATENCY), 0)


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The completed (feasible) trials no other trial beats in every objective, by the accuracy objective."""
    front = study.best_trials
    index = accuracy_index(study)
    sign = 1.0 if study.directions[index] == optuna.study.StudyDirection.MINIMIZE else -1.0
    return sorted(front, key=lambda t: (sign * t.values[index], t.number))


def _scaled(values: list[float], direction: optuna.study.StudyDirection) -> list[float]:
    """Values scaled to [0, 1] over the front, 0 = best."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    best_low = direction == optuna.study.StudyDirection.MINIMIZE
    return [(v - low) / span if best_low else (high - v) / span for v in values]


def knee(study: optuna.Study, front: list[optuna.trial.FrozenTrial]) -> optuna.trial.FrozenTrial | None:
    """The knee of a two-objective front (None for fewer than 3 points): the point farthest from the
    line through the front's two ends, both objectives scaled to [0, 1]."""
    if len(front) < 3 or len(study.directions) != 2:
        return None
    xs = _scaled([t.values[0] for t in front], study.directions[0])
    ys = _scaled([t.values[1] for t in front], study.directions[1])
    (x0, y0), (x1, y1) = (xs[0], ys[0]), (xs[-1], ys[-1])
    norm = math.hypot(x1 - x0, y1 - y0) or 1.0
    distance = [abs((y1 - y0) * x - (x1 - x0) * y + x1 * y0 - y1 * x0) / norm for x, y in zip(xs, ys)]
    return front[max(range(len(front)), key=lambda i: (distance[i], -i))]


@dataclass(frozen=True)
class Choice:
    """The trial the hand-off takes, the rule that picked it and why (one line)."""

    trial: optuna.trial.FrozenTrial
    rule: str
    reason: str
    front: tuple[int, ...] = ()


def _describe(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
    return ", ".join(f"{name} {value:.4g}" for name, value in zip(metric_names(study), trial.values))


def choose(study: optuna.Study, latency_budget_ms: float | None = None) -> Choice:
    """The trial to hand off. ValueError when no trial completed (feasibly).

    Single objective: the best trial. Multi-objective: see the module docstring.
    """
    names = metric_names(study)
    if len(study.directions) == 1:
        best = study.best_trial
        return Choice(best, "best", f"best {names[0]} ({best.value:.6g}) of the completed trials", (best.number,))
    front = pareto_front(study)
    if not front:
        raise ValueError("no completed trial")
    numbers = tuple(t.number for t in front)
    accurate = front[0]
    if latency_budget_ms is not None and LATENCY in names:
        at = names.index(LATENCY)
        within = [t for t in front if t.values[at] <= float(latency_budget_ms)]
        if within:
            return Choice(within[0], "latency_budget",
                          f"most accurate of the {len(within)} Pareto point(s) within automl.latency_budget_ms "
                          f"{latency_budget_ms:g} ({_describe(study, within[0])})", numbers)
        fastest = min(t.values[at] for t in front)
        budget_note = (f"no Pareto point within automl.latency_budget_ms {latency_budget_ms:g} (fastest "
                       f"{fastest:.4g} ms); ")
    else:
        budget_note = "no automl.latency_budget_ms; "
    point = knee(study, front)
    if point is None:
        return Choice(accurate, "most_accurate",
                      f"{budget_note}a front of {len(front)} point(s) has no knee: the most accurate point "
                      f"({_describe(study, accurate)})", numbers)
    return Choice(point, "knee", f"{budget_note}knee of the Pareto front of {len(front)} points "
                  f"({_describe(study, point)})", numbers)
