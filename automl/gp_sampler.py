"""The default sampler of a one-objective study: Optuna's GP, taught by learning curves, with exploration.

`CurveGPSampler` is `optuna.samplers.GPSampler` (a Gaussian process with log expected
improvement, which also sees the RUNNING trials of other workers) with three changes, each for
a failure measured on the LCBench surrogate (bench/search_quality.py, bench/results/search_quality/README.md):

* **A GP over configuration and epoch.** Optuna's GP fits only COMPLETE trials, so with a pruner
  it proposes the region of a pruned trial again and again (the same configuration pruned
  dozens of times: 138 s and 80+ trials for one search). Fitting a pruned trial at its last
  reported value as if it were final (the default until 2026-12) taught the model where the
  pruner cut, but it also taught it that slow starters are bad: on LCBench 168910 and 167152 the
  deep networks that end best are 2-3x their final loss on epoch 8, one-layer networks 1.3x, so
  the GP settled on one-layer networks in about half of all searches. Now, when the sampler
  knows `max_epochs`, the GP is fitted on points (configuration, log epoch / log max_epochs):
  every trial at the first reported epoch at or after 4, 8, 16, ... (below max_epochs) and at
  its last one, a completed trial's value at max_epochs. The acquisition (log EI, or qLogEI
  with other workers' running trials) is taken at max_epochs, so a curve that is still falling
  counts for what the model expects it to reach, learnt from the trials that went on.
  (`curve_points` says which points; a constrained study keeps the last-value fit below.)
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

import numpy as np
import optuna
import torch
from optuna._gp import acqf as acqf_module
from optuna._gp import gp
from optuna._gp import search_space as gp_search_space
from optuna.samplers._gp.sampler import _MAX_QMC_SEED_VALUE, _get_params, _standardize_values
from optuna.study import StudyDirection
from optuna.study._constrained_optimization import _is_constrained_optimization
from optuna.trial import FrozenTrial, TrialState

__all__ = ["CurveGPSampler", "model_trials", "is_exploration", "curve_points"]

DEFAULT_EXPLORE_EVERY = 3
FIRST_CURVE_EPOCH = 4  # earlier epochs rank configurations by their final loss poorly (LCBench: ~0 at epoch 1)


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


def curve_points(trial: FrozenTrial, max_epochs: int) -> list[tuple[int, float]]:
    """The (epoch, value) points of one finished trial that the learning-curve GP fits.

    The first reported epoch at or after 4, 8, 16, ... (each below max_epochs and at most the
    last reported one), and the trial's end: a completed trial's value at max_epochs (at its
    last reported epoch if it stopped short, e.g. at a time limit), a pruned trial's last
    reported value. Non-finite values are left out.
    """
    curve = {int(e): v for e, v in trial.intermediate_values.items() if v is not None and math.isfinite(v)}
    points: dict[int, float] = {}
    last = max(curve, default=0)
    epoch = FIRST_CURVE_EPOCH
    while epoch < max_epochs and epoch <= last:
        at = min(e for e in curve if e >= epoch)
        if at < max_epochs:
            points[at] = curve[at]
        epoch *= 2
    if trial.state == TrialState.COMPLETE:
        if trial.value is not None and math.isfinite(trial.value):
            points[max_epochs if last == 0 or last >= max_epochs else last] = trial.value
    elif last:
        points[min(last, max_epochs)] = curve[last]
    return sorted(points.items())


class _AtLastEpoch:
    """A fitted GP over (configuration, epoch) seen as a GP over the configuration at max_epochs.

    The acquisition functions call `posterior`, `kernel` and `length_scales`; points without the
    epoch coordinate get it set to 1 (log max_epochs / log max_epochs).
    """

    def __init__(self, gpr: gp.GPRegressor, dim: int) -> None:
        self._gpr, self._dim = gpr, dim
        self.length_scales = gpr.length_scales[:dim]

    def _full(self, x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None or x.shape[-1] == self._dim + 1:
            return x
        return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)], dim=-1)

    def posterior(self, x: torch.Tensor, joint: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        return self._gpr.posterior(self._full(x), joint=joint)

    def kernel(self, X1: torch.Tensor | None = None, X2: torch.Tensor | None = None) -> torch.Tensor:
        return self._gpr.kernel(self._full(X1), self._full(X2))

    @property
    def _cov_Y_Y_chol(self) -> torch.Tensor | None:
        return self._gpr._cov_Y_Y_chol


class CurveGPSampler(optuna.samplers.GPSampler):
    """GPSampler fitted on learning curves (log values) of completed and pruned trials, with every k-th trial at random.

    Args:
        seed: seeds the GP's acquisition search and the random draws.
        n_startup_trials: random trials before the first GP proposal.
        explore_every: every k-th trial after the startup ones is random (0: never).
        max_epochs: the epochs of a full trial; with it the GP is fitted over (configuration,
            epoch) and proposes by log EI at max_epochs. None: the GP fits completed trials and
            pruned ones at their last value (`model_trials`), as in a constrained study.
    """

    def __init__(self, *, seed: int | None = None, n_startup_trials: int = 2,
                 explore_every: int = DEFAULT_EXPLORE_EVERY, max_epochs: int | None = None) -> None:
        super().__init__(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False)
        self._explore_every = int(explore_every)
        self._max_epochs = int(max_epochs) if max_epochs and max_epochs > 1 else None
        self._curve_gpr: gp.GPRegressor | None = None

    def sample_relative(self, study, trial, search_space):
        if is_exploration(trial.number, self._n_startup_trials, self._explore_every):
            return {}  # every parameter then comes from the independent (random) sampler
        return super().sample_relative(study, trial, search_space)

    def _sample_relative_impl(self, study, completed_trials, running_trials, search_space):
        # Optuna 5's hook between reading the storage and fitting the GP (see the module docstring).
        pruned = study._get_trials(deepcopy=False, states=(TrialState.PRUNED,), use_cache=False)
        if self._max_epochs and len(study.directions) == 1 and not _is_constrained_optimization(completed_trials):
            params = self._sample_from_curves(study, completed_trials + pruned, running_trials, search_space)
            if params is not None:
                return params
        fitted = model_trials(completed_trials, pruned, search_space.keys())
        return super()._sample_relative_impl(study, fitted, running_trials, search_space)

    def _sample_from_curves(self, study, finished, running_trials, search_space) -> dict | None:
        """Log EI at max_epochs of a GP over (configuration, log epoch); None without a completed point."""
        keys = set(search_space)
        trials = [t for t in finished if keys <= t.params.keys()]
        space = gp_search_space.SearchSpace(search_space)
        rows, values, full = [], [], []
        for x, trial in zip(space.get_normalized_params(trials) if trials else [], trials):
            for epoch, value in curve_points(trial, self._max_epochs):
                rows.append(np.append(x, math.log(epoch) / math.log(self._max_epochs)))
                values.append(value)
                full.append(epoch == self._max_epochs)
        if not any(full):
            return None
        y = np.asarray(values, dtype=float)
        if (y > 0).all():
            y = np.log(y)
        if study.direction == StudyDirection.MINIMIZE:
            y = -y  # Optuna's GP maximizes
        y = _standardize_values(y[:, np.newaxis])[0][:, 0]
        X, full = np.asarray(rows), np.asarray(full)
        cache = self._curve_gpr
        if cache is not None and len(cache.inverse_squared_lengthscales) != X.shape[1]:
            cache = None
        self._curve_gpr = gpr = gp.fit_kernel_params(
            X=X, Y=y, is_categorical=np.append(space.is_categorical, False), log_prior=self._log_prior,
            minimum_noise=self._minimum_noise, gpr_cache=cache, deterministic_objective=self._deterministic)
        model = _AtLastEpoch(gpr, space.dim)
        threshold = float(y[full].max())
        best = X[full][np.argmax(y[full]), :-1][np.newaxis]
        if running_trials:
            acqf = acqf_module.qLogEI(
                gpr=model, search_space=space, threshold=threshold, n_qmc_samples=self._n_qmc_samples_qei,
                qmc_seed=self._rng.rng.randint(_MAX_QMC_SEED_VALUE),
                normalized_params_of_running_trials=space.get_normalized_params(
                    running_trials, [_get_params(t) for t in running_trials]),
            )
        else:
            acqf = acqf_module.LogEI(gpr=model, search_space=space, threshold=threshold)
        return space.get_unnormalized_param(self._optimize_acqf(acqf, best))
