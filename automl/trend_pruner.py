"""The `trend_halving` pruner: successive halving that keeps a trial ranked well by where it stands or where it heads.

Plain successive halving compares the trials that reached a rung (epoch 8 of 52, then 24) by their
value there and lets the best third go on. That cuts slow starters: on LCBench task 168910 the
configurations with the best final loss are at 1.05-1.31 on epoch 8, still falling fast, while
those best on epoch 8 (0.93-0.99) have almost stopped and end at 0.85-0.87; on 167168 the deep
networks that end best start slower than shallow ones that stall.

A trial's trend score at a rung is its value there plus the drop its own curve would still make
if it went on falling at its recent pace in log-epochs:

    score = v(e) + min(0, slope) * ln(max_resource / e)

with `slope` the least-squares slope of the value against ln(epoch) over the reported epochs
from e/2 to e (a rising curve gets no credit; for a maximized objective everything is
mirrored). Neither ranking is reliable alone. Over 1000 random configurations on each of the 34
LCBench tasks, of the configurations whose final loss is in the best 5 %, the best third at
epoch 8 by value keeps 93.8 % (66 % on 167161), by trend score 88.4 % (36 % on 189908); the best
quarter by value keeps 90.1 %, by trend score 80.7 %, by either of the two 94.5 % (74 % at
worst) while 33.7 % of all trials go on: more of the good ones than the best third by value, for
the same cost. So a trial goes on when it is among the best max(1, n // reduction_factor) of the
n trials at the rung by trend score OR by value (Optuna's successive-halving promotion rule,
applied to each ranking), with reduction factor 4 by default (automl/study.py: rungs at epochs
8 and 32 of 52); the first trial at a rung always goes on, so a study always completes a trial.
Both numbers are stored as trial system
attributes, so several workers on one storage and a resumed study prune alike. The
extrapolation only ranks; it is never reported as a value.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

__all__ = ["TrendHalvingPruner", "trend_score", "rungs", "PROMOTED_SHARE"]

_ATTR = "trend_halving:rung_{}"  # the trend score at rung k
_VALUE_ATTR = "trend_halving:rung_{}:value"  # the value at rung k (sign-oriented: lower is better)
# Share of the trials at a rung that go on, times the reduction factor: the two best quarters
# overlap (33.7 % of the trials go on at reduction factor 4, LCBench, see above).
PROMOTED_SHARE = 1.35


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


def _value_at(trial: FrozenTrial, value_key: str, rung: int, sign: float) -> float:
    """The sign-oriented value a scored trial had at a rung (read from its curve when a study
    made before the value was stored has only the score)."""
    if value_key in trial.system_attrs:
        return trial.system_attrs[value_key]
    past = [e for e in trial.intermediate_values if e >= rung]
    value = sign * trial.intermediate_values[min(past)] if past else math.inf
    return value if math.isfinite(value) else math.inf


class TrendHalvingPruner(optuna.pruners.BasePruner):
    """Successive halving (reduction factor, first rung) keeping the best by `trend_score` or by value.

    Args:
        min_resource: the first rung (epochs).
        reduction_factor: the best 1/reduction_factor of the trials at a rung by either ranking go on.
        max_resource: the epochs of a full trial (the extrapolation's horizon; no rung at or past it).
    """

    def __init__(self, min_resource: int, reduction_factor: int, max_resource: int) -> None:
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor {reduction_factor} must be >= 2")
        self.min_resource = int(min_resource)
        self.reduction_factor = int(reduction_factor)
        self.max_resource = int(max_resource)
        self.rungs = rungs(self.min_resource, self.reduction_factor, self.max_resource)

    def _among_best(self, mine: float, others: list[float]) -> bool:
        """Optuna's successive-halving rule: within the best max(1, n // reduction_factor) of the n."""
        competing = sorted([*others, mine])
        return mine <= competing[max(0, len(competing) // self.reduction_factor - 1)]

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        for k, rung in enumerate(self.rungs):
            if step < rung:
                return False
            key, value_key = _ATTR.format(k), _VALUE_ATTR.format(k)
            if key in trial.system_attrs:
                continue  # this rung was passed at an earlier report
            # the first report at or past the rung decides (a run validating every few epochs
            # may skip the rung epoch itself: it is then read at the step it reached)
            at = rung if rung in trial.intermediate_values else step
            score = trend_score(trial.intermediate_values, at, self.max_resource, sign)
            value = sign * trial.intermediate_values[at] if math.isfinite(score) else math.inf
            study._storage.set_trial_system_attr(trial._trial_id, value_key, value)
            study._storage.set_trial_system_attr(trial._trial_id, key, score)
            if not math.isfinite(score):
                return True
            others = [t for t in study.get_trials(deepcopy=False)
                      if t.number != trial.number and key in t.system_attrs]
            by_trend = self._among_best(score, [t.system_attrs[key] for t in others])
            by_value = self._among_best(value, [_value_at(t, value_key, rung, sign) for t in others])
            if not (by_trend or by_value):
                return True
        return False
