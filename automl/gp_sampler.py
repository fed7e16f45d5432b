"""The default sampler of a one-objective study: Optuna's GP, taught by pruned trials, with exploration.

`CurveGPSampler` is `optuna.samplers.GPSampler` (a Gaussian process with log expected
improvement, which also sees the RUNNING trials of other workers) with three changes, each for
a failure measured on the LCBench surrogate (bench/search_quality.py, bench/results/search_quality/README.md):

* **Pruned trials teach the model.** Optuna's GP fits only COMPLETE trials, so with a pruner
  it proposes the region of a pruned trial again and again (the same configuration pruned
  dozens of times: 138 s and 80+ trials for one search). Here a pruned trial enters the fit
  with its last reported value: for a loss that falls with the epochs, a pessimistic stand-in
  for its final value, so the model learns where the pruner cut.
* **Log scale for positive objectives.** Losses span orders of magnitude (a diverged
  configuration at 2.0 beside good ones at 0.1); fitted raw, a few dead configurations flatten
  the model's view of the good region. When every value is positive the GP fits log(value).
* **Exploration trials.** Where most of the space is dead (a loss near chance for half of all
  configurations), a GP that saw only dead points chases noise among them. Every
  `explore_every`-th trial (after the startup ones) is drawn at random instead; with a pruner a
  dead random draw costs only the first rung.

The objective values stored in the study are untouched (best trial, reports and plots see the
real values); only the model's view changes. Multi-objective studies keep TPE (study.py).
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["CurveGPSampler", "model_trials", "is_exploration"]

DEFAULT_EXPLORE_EVERY = 3


def is_exploration(number: int, n_startup: int, every: int) -> bool:
    """Whether trial `number` is drawn at random as an exploration trial (after the startup trials)."""
    return every > 0 and number >= n_startup and number % every == every - 1


def _last_value(trial: FrozenTrial) -> float | None:
    """The last reported intermediate value of a pruned trial (None when it reported nothing usable)."""
    if not trial.intermediate_values:
        return None
    value = trial.intermediate_values[max(trial.intermediate_values)]
    return value if value == value else None  # NaN (diverged): no usable value


def model_trials(completed: list[FrozenTrial], pruned: list[FrozenTrial], space_keys) -> list[FrozenTrial]:
    """What the GP fits: the completed trials and the pruned ones at their last value, log-scaled when positive.

    Args:
        completed: COMPLETE trials of a one-objective study.
        pruned: PRUNED trials of the same study (those without a reported value, without every
            searched parameter or, in a constrained study, without the same constraints are left out).
        space_keys: the names of the searched parameters.
    Returns:
        Copies as COMPLETE FrozenTrials (numbers, params, distributions and attrs kept), values replaced.
    """
    keys = set(space_keys)
    constrained = completed[0].constraints.keys() if completed and completed[0].constraints else None
    rows = [(t, t.value) for t in completed]
    for t in pruned:
        value = _last_value(t)
        if value is None or not keys <= t.params.keys():
            continue
        if constrained is not None and t.constraints.keys() != constrained:
            continue
        rows.append((t, value))
    finite = [v for _, v in rows if math.isfinite(v)]
    use_log = bool(finite) and all(v > 0 for v in finite)
    out = []
    for t, v in rows:
        if use_log and math.isfinite(v):
            v = math.log(v)
        out.append(FrozenTrial(
            number=t.number, state=TrialState.COMPLETE, value=v, datetime_start=t.datetime_start,
            datetime_complete=t.datetime_complete, params=t.params, distributions=t.distributions,
            user_attrs=t.user_attrs, system_attrs=t.system_attrs, intermediate_values=t.intermediate_values,
            trial_id=t._trial_id,
        ))
    return out


class CurveGPSampler(optuna.samplers.GPSampler):
    """GPSampler fitted on log values of completed and pruned trials, with every k-th trial at random.

    Args:
        seed: seeds the GP's acquisition search and the random draws.
        n_startup_trials: random trials before the first GP proposal.
        explore_every: every k-th trial after the startup ones is random (0: never).
    """

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 2,
                 explore_every: int = DEFAULT_EXPLORE_EVERY) -> None:
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False)
        self._explore_every = int(explore_every)

    def sample_relative(self, study, trial, search_space):
        if is_exploration(trial.number, self._n_startup_trials, self._explore_every):
            return {}  # every parameter then comes from the independent (random) sampler
        return super().sample_relative(study, trial, search_space)

    def _sample_relative_impl(self, study, completed_trials, running_trials, search_space):
        # Optuna 5's hook between reading the storage and fitting the GP (see the module docstring).
        pruned = study._get_trials(deepcopy=False, states=(TrialState.PRUNED,), use_cache=False)
        fitted = model_trials(completed_trials, pruned, search_space.keys())
        return super()._sample_relative_impl(study, fitted, running_trials, search_space)
