"""CurveGPSampler: the GP fits log values of completed and pruned trials; every k-th trial is random."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.gp_sampler import CurveGPSampler, _AtLastEpoch, curve_points, is_exploration, model_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
X = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}


def _trial(state: TrialState, x: float, value: float | None = None, curve: dict | None = None, **attrs):
    return create_trial(state=state, value=value, params={"x": x, "y": 0.5}, distributions=X,
                        intermediate_values=curve or {}, **attrs)


def _study_with(trials) -> optuna.Study:
    study = optuna.create_study()
    for t in trials:
        study.add_trial(t)
    return study


def test_model_trials_adds_pruned_at_their_last_value_on_a_log_scale() -> None:
    study = _study_with([
        _trial(TrialState.COMPLETE, 0.1, 0.5, {1: 2.0, 2: 0.5}),
        _trial(TrialState.COMPLETE, 0.2, 0.25),
        _trial(TrialState.PRUNED, 0.3, None, {1: 2.0, 4: 1.5}),   # enters at 1.5 (epoch 4)
        _trial(TrialState.PRUNED, 0.4, None, {1: float("nan")}),  # diverged: no usable value
        _trial(TrialState.PRUNED, 0.5, None, {}),                 # pruned before any report
    ])
    completed = study.get_trials(states=(TrialState.COMPLETE,))
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    fitted = model_trials(completed, pruned, X.keys())
    assert [t.params["x"] for t in fitted] == [0.1, 0.2, 0.3]
    assert all(t.state == TrialState.COMPLETE for t in fitted)
    assert [t.value for t in fitted] == pytest.approx([math.log(0.5), math.log(0.25), math.log(1.5)])
    assert [t.value for t in study.trials[:2]] == [0.5, 0.25]  # the study keeps its real values


def test_model_trials_keeps_raw_values_when_one_is_not_positive() -> None:
    completed = [_trial(TrialState.COMPLETE, 0.1, -1.0), _trial(TrialState.COMPLETE, 0.2, 3.0)]
    pruned = [_trial(TrialState.PRUNED, 0.3, None, {2: 4.0})]
    assert [t.value for t in model_trials(completed, pruned, X.keys())] == [-1.0, 3.0, 4.0]


def test_model_trials_leaves_out_pruned_trials_without_the_constraints_or_the_parameters() -> None:
    constraint = {"constraints": [0.5]}
    completed = [_trial(TrialState.COMPLETE, 0.1, 1.0, system_attrs=constraint)]
    pruned = [_trial(TrialState.PRUNED, 0.2, None, {3: 2.0}),  # no latency measured: left out
              _trial(TrialState.PRUNED, 0.3, None, {3: 2.0}, system_attrs=constraint)]
    fitted = model_trials(completed, pruned, X.keys())
    assert [t.params["x"] for t in fitted] == [0.1, 0.3]
    assert fitted[1].constraints == completed[0].constraints
    assert [t.params["x"] for t in model_trials(completed, pruned, ["x", "y", "z"])] == [0.1]


def test_exploration_numbers() -> None:
    assert [n for n in range(12) if is_exploration(n, 2, 3)] == [2, 5, 8, 11]
    assert [n for n in range(12) if is_exploration(n, 4, 3)] == [5, 8, 11]
    assert not any(is_exploration(n, 2, 0) for n in range(12))


def test_the_gp_is_fitted_on_pruned_trials_through_optunas_hook(monkeypatch) -> None:
    """The override must reach Optuna's GP: if Optuna renames its hook, this fails (pinned optuna>=5,<6)."""
    seen = []
    parent = optuna.samplers.GPSampler._sample_relative_impl

    def spy(self, study, completed, running, space):
        seen.append([t.value for t in completed])
        return parent(self, study, completed, running, space)

    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl", spy)
    study = optuna.create_study(sampler=CurveGPSampler(seed=0, n_startup_trials=2, explore_every=3))
    for i, trial in enumerate(_trial(TrialState.COMPLETE, x, 0.1 + x) for x in (0.2, 0.9)):
        study.add_trial(trial)
    study.add_trial(_trial(TrialState.PRUNED, 0.6, None, {1: 3.0}))
    # numbers 0-2 are taken; 3 is a GP trial (2 and 5 would be exploration trials)
    trial = study.ask(X)
    assert trial.number == 3
    assert seen == [pytest.approx([math.log(0.3), math.log(1.0), math.log(3.0)])]


def test_exploration_trials_skip_the_gp(monkeypatch) -> None:
    calls = []
    parent = optuna.samplers.GPSampler._sample_relative_impl
    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl",
                        lambda self, *a: calls.append(1) or parent(self, *a))
    study = optuna.create_study(sampler=CurveGPSampler(seed=1, n_startup_trials=2, explore_every=3))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + t.suggest_float("y", 0, 1), n_trials=6)
    assert len(calls) == 2  # trials 3 and 4; 0-1 startup, 2 and 5 exploration
    assert len({(t.params["x"], t.params["y"]) for t in study.trials}) == 6


def _curve_trial(state: TrialState, x: float, curve: dict, value: float | None = None, **attrs):
    return create_trial(state=state, value=value, params={"x": x, "y": 0.5}, distributions=X,
                        intermediate_values=curve, **attrs)


def test_curve_points_take_powers_of_two_from_epoch_4_and_the_end() -> None:
    full = {e: 1.0 / e for e in range(1, 11)}
    assert curve_points(_curve_trial(TrialState.COMPLETE, 0.1, full, 0.09), 10) == [(4, 0.25), (8, 0.125), (10, 0.09)]
    pruned = {e: 1.0 / e for e in range(1, 7)}
    assert curve_points(_curve_trial(TrialState.PRUNED, 0.1, pruned), 10) == [(4, 0.25), (6, 1 / 6)]
    # a completed trial stopped short (a time limit) counts at its last epoch, not at max_epochs
    short = {e: 1.0 / e for e in range(1, 8)}
    assert curve_points(_curve_trial(TrialState.COMPLETE, 0.1, short, 0.14), 10) == [(4, 0.25), (7, 0.14)]
    # validation every 3 epochs: the first report at or after 4 and 8
    sparse = {3: 0.5, 6: 0.4, 9: 0.3, 12: 0.2}
    assert curve_points(_curve_trial(TrialState.COMPLETE, 0.1, sparse, 0.2), 12) == [(6, 0.4), (9, 0.3), (12, 0.2)]
    # no curve: the final value at max_epochs; non-finite values are left out
    assert curve_points(_curve_trial(TrialState.COMPLETE, 0.1, {}, 0.3), 10) == [(10, 0.3)]
    assert curve_points(_curve_trial(TrialState.PRUNED, 0.1, {4: float("nan"), 5: 0.7}), 10) == [(5, 0.7)]
    assert curve_points(_curve_trial(TrialState.PRUNED, 0.1, {}), 10) == []


def _fitted_model(sampler: CurveGPSampler) -> _AtLastEpoch:
    assert sampler._curve_gpr is not None, "the learning-curve GP was not fitted"
    return _AtLastEpoch(sampler._curve_gpr, 2)


def test_the_gp_ranks_configurations_by_where_their_curves_end() -> None:
    """A late starter that ends best must look best at max_epochs, though it is worse on every early epoch.

    Fitted without the epoch coordinate (or on last values), the early starter would look better:
    most of the late starter's points are its high early values.
    """
    sampler = CurveGPSampler(seed=0, n_startup_trials=2, explore_every=0, max_epochs=16)
    study = optuna.create_study(sampler=sampler)
    late = {e: 6.0 / e for e in range(1, 17)}          # 1.5 at epoch 4, 0.75 at 8, ends at 0.375
    early = {e: 0.8 - 0.01 * e for e in range(1, 17)}   # 0.76 at epoch 4, 0.72 at 8, ends at 0.64
    for x, curve in ((0.1, late), (0.9, early)):
        study.add_trial(_curve_trial(TrialState.COMPLETE, x, curve, curve[16]))
    for x, curve in ((0.15, late), (0.85, early), (0.05, late), (0.95, early)):
        study.add_trial(_curve_trial(TrialState.PRUNED, x, {e: v for e, v in curve.items() if e <= 8}))
    study.ask(X)
    model = _fitted_model(sampler)
    mean, _ = model.posterior(torch.tensor([[0.1, 0.5], [0.9, 0.5]], dtype=torch.float64))
    assert float(mean[0]) > float(mean[1])  # Optuna's GP maximizes: larger is better
    # at the first fidelity (epoch 4) the same model says the opposite
    early_mean, _ = sampler._curve_gpr.posterior(torch.tensor(
        [[0.1, 0.5, math.log(4) / math.log(16)], [0.9, 0.5, math.log(4) / math.log(16)]], dtype=torch.float64))
    assert float(early_mean[0]) < float(early_mean[1])


def test_running_trials_of_other_workers_are_seen_by_the_curve_gp() -> None:
    sampler = CurveGPSampler(seed=3, n_startup_trials=2, explore_every=0, max_epochs=8)
    study = optuna.create_study(sampler=sampler)
    for x in (0.2, 0.5, 0.8):
        study.add_trial(_curve_trial(TrialState.COMPLETE, x, {4: x, 8: x / 2}, x / 2))
    running = study.ask(X)  # proposed while nothing else runs
    assert sampler._curve_gpr is not None
    second = study.ask(X)  # the first one is RUNNING now: qLogEI must steer away from it
    assert (second.params["x"], second.params["y"]) != (running.params["x"], running.params["y"])
    assert all(0.0 <= v <= 1.0 for t in (running, second) for v in t.params.values())


def test_a_constrained_study_keeps_the_last_value_fit(monkeypatch) -> None:
    seen = []
    parent = optuna.samplers.GPSampler._sample_relative_impl
    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl",
                        lambda self, study, completed, *a: seen.append(len(completed)) or parent(self, study, completed, *a))
    sampler = CurveGPSampler(seed=0, n_startup_trials=2, explore_every=0, max_epochs=8)
    study = optuna.create_study(sampler=sampler)
    for x in (0.2, 0.8):
        study.add_trial(_curve_trial(TrialState.COMPLETE, x, {4: 1.0, 8: 0.5}, 0.5, system_attrs={"constraints": [-1.0]}))
    study.ask(X)
    assert seen == [2] and sampler._curve_gpr is None
