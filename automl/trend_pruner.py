"""The `trend_halving` pruner: successive halving that ranks trials by where their curve is heading.

Successive halving compares the trials that reached a rung (epoch 8 of 52, then 24) by their
value there and lets the best third go on. That cuts slow starters: on LCBench task 168910 the
configurations with the best final loss are at 1.05-1.31 on epoch 8, still falling fast, while
those best on epoch 8 (0.93-0.99) have almost stopped and end at 0.85-0.87; on 167168 the deep
networks that end best start slower than shallow ones that stall.

Here a trial's rank at a rung is its value there plus the drop its own curve would still make
if it went on falling at its recent pace in log-epochs:

    score = v(e) + min(0, slope) * ln(max_resource / e)

with `slope` the least-squares slope of the value against ln(epoch) over the reported epochs
from e/2 to e (a rising curve gets no credit; for a maximized objective everything is
mirrored). The promotion rule is Optuna's successive halving: with n trials scored at a rung,
a trial goes on when its score is within the best max(1, n // reduction_factor); the first
trial at a rung always goes on, so a study always completes a trial. Scores are stored as
trial system attributes, so several workers on one storage and a resumed study prune alike.
The extrapolation only ranks; it is never reported as a value.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

__all__ = ["TrendHalvingPruner", "trend_score", "rungs"]

_ATTR = "trend_halving:rung_{}"


def rungs(min_resource: int, reduction_factor: int, max_resource: int) -> list[int]:
    """The rung epochs: min_resource * reduction_factor ** k below max_resource."""
    out, r = [], max(1, int(min_resource))
    while r < max_resource:
        out.append(r)
        r *= reduction_factor
    return out


def trend_score(values: dict[int, float], epoch: int, max_resource: int, sign: float = 1.0) -> float:
    """The rank score of a curve at `epoch` (lower is better; `sign` -1 for a maximized objective).

    Args:
        values: reported values by epoch (the trial's intermediate values).
        epoch: the rung; the curve is read up to it.
        max_resource: the epochs of a full trial.
        sign: +1 minimize, -1 maximize.
    Returns:
        v(epoch) + min(0, slope) * ln(max_resource / epoch), in the sign's orientation; +inf for a
        NaN / infinite value at the rung.
    """
    now = values.get(epoch)
    if now is None or not math.isfinite(now):
        return math.inf
    lo = max(1, epoch // 2)
    points = [(math.log(e), sign * v) for e, v in values.items() if lo <= e <= epoch and math.isfinite(v)]
    score = sign * now
    if len(points) >= 2 and epoch < max_resource:  # two distinct epochs: the fit is defined
        slope = float(np.polyfit(*np.array(points).T, 1)[0])
        score += min(0.0, slope) * math.log(max_resource / epoch)
    return score


class TrendHalvingPruner(optuna.pruners.BasePruner):
    """Successive halving (reduction factor, first rung) ranking trials by `trend_score`.

    Args:
        min_resource: the first rung (epochs).
        reduction_factor: the best 1/reduction_factor of the trials at a rung go on.
        max_resource: the epochs of a full trial (the extrapolation's horizon; no rung at or past it).
    """

    def __init__(self, min_resource: int, reduction_factor: int, max_resource: int) -> None:
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor {reduction_factor} must be >= 2")
        self.min_resource = int(min_resource)
        self.reduction_factor = int(reduction_factor)
        self.max_resource = int(max_resource)
        self.rungs = rungs(self.min_resource, self.reduction_factor, self.max_resource)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        for k, rung in enumerate(self.rungs):
            if step < rung:
                return False
            key = _ATTR.format(k)
            if key in trial.system_attrs:
                continue  # this rung was passed at an earlier report
            # the first report at or past the rung decides (a run validating every few epochs
            # may skip the rung epoch itself: it is then read at the step it reached)
            at = rung if rung in trial.intermediate_values else step
            score = trend_score(trial.intermediate_values, at, self.max_resource, sign)
            study._storage.set_trial_system_attr(trial._trial_id, key, score)
            if not math.isfinite(score):
                return True
            others = [t.system_attrs[key] for t in study.get_trials(deepcopy=False)
                      if t.number != trial.number and key in t.system_attrs]
            competing = sorted([*others, score])
            idx = max(0, len(competing) // self.reduction_factor - 1)
            if score > competing[idx]:
                return True
        return False
