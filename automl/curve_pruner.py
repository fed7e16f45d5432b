"""The `curve` pruner: stop a trial only when its learning curve so far cannot reach the best.

At epoch e of a running trial, every completed trial of the study says how much a curve
still moved between epoch e and its end: its final value divided by its value at epoch e
(losses), or the difference (values that are not all positive). The running trial's most
optimistic final value is its value at e times the best such ratio (the largest late
improvement any completed trial made from epoch e on). When even that is worse than the
best completed trial's value by more than `margin`, the trial stops.

Unlike successive halving it never compares a trial with other trials at an early epoch
only, so a slow starter (low learning rate) goes on while completed trials show that curves
still drop that much after epoch e; a trial far behind stops after a few epochs. It reads
only what the storage holds (intermediate values and final values of completed trials), so
several workers on one storage and a resumed study prune alike; with fewer than
`min_completed` completed trials it prunes nothing.
"""

from __future__ import annotations

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["CurvePruner", "optimistic_final"]


def optimistic_final(value: float, epoch: int, completed: list[FrozenTrial]) -> float | None:
    """The best final value (minimizing) a curve at `value` on `epoch` reached in any completed trial's way.

    `completed` holds trials of a minimized objective with an intermediate value at `epoch`.
    None when none of them has one.
    """
    pairs = [(t.intermediate_values[epoch], t.value) for t in completed if epoch in t.intermediate_values]
    pairs = [(v, f) for v, f in pairs if v == v and f is not None]  # drop NaN
    if not pairs:
        return None
    if value > 0 and all(v > 0 and f > 0 for v, f in pairs):
        return value * min(f / v for v, f in pairs)
    return value + min(f - v for v, f in pairs)


class CurvePruner(optuna.pruners.BasePruner):
    """Prune when the partial curve's optimistic final value is worse than the best completed trial's.

    Args:
        margin: the optimistic final must be worse than the best by this fraction of the best's
            magnitude (0.0: any amount) before the trial stops.
        min_completed: completed trials needed before anything is pruned.
        min_epochs: no pruning before this epoch (step).
    """

    def __init__(self, margin: float = 0.0, min_completed: int = 2, min_epochs: int = 1) -> None:
        if margin < 0 or min_completed < 1 or min_epochs < 1:
            raise ValueError("CurvePruner: margin >= 0, min_completed >= 1 and min_epochs >= 1")
        self.margin = float(margin)
        self.min_completed = int(min_completed)
        self.min_epochs = int(min_epochs)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.min_epochs:
            return False
        completed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                     if t.value is not None]
        if len(completed) < self.min_completed:
            return False
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        if sign < 0:  # work on the minimized value: negate values and curves
            completed = [_negated(t) for t in completed]
        value = sign * trial.intermediate_values[step]
        if value != value:  # NaN: the run diverged
            return True
        predicted = optimistic_final(value, step, completed)
        if predicted is None:
            return False
        best = min(t.value for t in completed)
        return predicted > best + self.margin * abs(best)


def _negated(trial: FrozenTrial) -> FrozenTrial:
    """A copy of a completed trial with value and curve negated (a maximized objective, minimized)."""
    return optuna.create_trial(
        value=-trial.value,
        params=trial.params,
        distributions=trial.distributions,
        intermediate_values={k: -v for k, v in trial.intermediate_values.items()},
    )
