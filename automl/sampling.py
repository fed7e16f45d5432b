"""A model-based sampler that draws every k-th trial at random (BOHB's random fraction).

TPE alone locks onto the first region that looks good: on LCBench tasks where that region is
a local optimum (167104: 5 layers, high dropout and weight decay) it spends the whole budget
there. Drawing a fixed share of trials from the prior keeps looking elsewhere, and a random
trial that does well enters the model's "good" set like any other.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

__all__ = ["RandomMixSampler", "RungTPESampler", "rung_split"]


class RandomMixSampler(optuna.samplers.BaseSampler):
    """`model` samples every trial except those whose number % `every` == `every` - 1 (random).

    The choice depends only on the trial number, so parallel workers agree on it and a resumed
    study keeps the same share.
    """

    def __init__(self, model: optuna.samplers.BaseSampler, every: int, seed: int | None = None) -> None:
        if every < 2:
            raise ValueError(f"every must be >= 2, got {every}")
        self.model = model
        self.every = every
        self._random = optuna.samplers.RandomSampler(seed=seed)

    def _is_random(self, trial: FrozenTrial) -> bool:
        return trial.number % self.every == self.every - 1

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._is_random(trial):
            return {}
        return self.model.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self._is_random(trial) or not search_space:
            return {}
        return self.model.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        sampler = self._random if self._is_random(trial) else self.model
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.model.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: list[float] | None
    ) -> None:
        self.model.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.model.reseed_rng()
        self._random.reseed_rng()


def _last_step(trial: FrozenTrial) -> float:
    """The deepest step a finished trial reported; a completed trial without reports went all the way."""
    if trial.intermediate_values:
        return max(trial.intermediate_values)
    return math.inf if trial.state == TrialState.COMPLETE else -math.inf


def _value_at(trial: FrozenTrial, step: float) -> float:
    """The trial's value at `step` (its last report at or before it; a completed trial's value at the end)."""
    steps = [s for s in trial.intermediate_values if s <= step]
    if trial.state == TrialState.COMPLETE and (not steps or step >= _last_step(trial)):
        return float(trial.value)
    return float(trial.intermediate_values[max(steps)])


def _infeasible(trial: FrozenTrial) -> bool:
    return any(v > 0 for v in trial.constraints.values())


def rung_split(
    trials: list[FrozenTrial], n_below: int, min_points: int, sign: float
) -> tuple[list[FrozenTrial], list[FrozenTrial]] | None:
    """Good / bad trials ranked at the deepest step that at least `min_points` finished trials reached.

    Returns None while fewer than `min_points` trials have finished. `sign` is 1 to minimize.
    """
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and not _infeasible(t)]
    if len(done) < min_points:
        return None
    depths = sorted((_last_step(t) for t in done), reverse=True)
    rung = depths[min_points - 1]
    ranked = sorted((t for t in done if _last_step(t) >= rung), key=lambda t: sign * _value_at(t, rung))
    below = ranked[: max(1, min(n_below, len(ranked)))]
    keep = {t.number for t in below}
    return below, [t for t in trials if t.number not in keep]


class RungTPESampler(optuna.samplers.TPESampler):
    """TPE that ranks trials at one common depth of their learning curves (BOHB's rule).

    Optuna's TPE ranks completed trials above every pruned one, so under successive halving
    its "good" set is the few trials that ran to the end - including the first trials, which a
    rung with no competitor yet always promotes. Here the good set is the best `gamma(n)` trials
    at the deepest step that `min_points` finished trials reached (the model's dimension + 1 by
    default), so it compares like with like and learns from every pruned trial's curve.
    """

    def __init__(self, *, min_points: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._min_points = min_points

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if study._is_multi_objective():
            return super()._sample(study, trial, search_space)
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        trials = [t for t in study._get_trials(deepcopy=False, states=states, use_cache=False) if t.number != trial.number]
        n_done = sum(t.state != TrialState.RUNNING for t in trials)
        gamma = self._gamma or optuna.samplers._tpe.sampler.default_gamma
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
        split = rung_split(trials, gamma(n_done), self._min_points or len(search_space) + 1, sign)
        if split is None:
            return super()._sample(study, trial, search_space)
        below = self._build_parzen_estimator(study, search_space, split[0], handle_below=True)
        above = self._build_parzen_estimator(study, search_space, split[1], handle_below=False)
        samples = below.sample(self._rng.rng, self._n_ei_candidates)
        return self._compare(samples, self._compute_acquisition_func(samples, below, above))
