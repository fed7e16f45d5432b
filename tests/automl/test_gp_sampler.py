"""CurveGPSampler: the GP fits log values of completed and pruned trials; every k-th trial is random."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.gp_sampler import CurveGPSampler, is_exploration, model_trials

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
