"""make_study: samplers, pruners, storages, directions, latency constraint, one-line errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl.gp_sampler import CurveGPSampler
from automl.study import LATENCY_ATTR, make_study, record_latency
from automl.trend_pruner import TrendHalvingPruner
from model.errors import SpecError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -4.0, 4.0)
    return (x - 1.0) ** 2


def _one_line_error(settings: dict, match: str, **kwargs) -> str:
    with pytest.raises(SpecError, match=match) as info:
        make_study(settings, **kwargs)
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 2
    return message


def test_defaults_are_a_seeded_curve_gp_with_trend_halving() -> None:
    study = make_study({"seed": 3, "max_epochs": 54})
    assert isinstance(study.sampler, CurveGPSampler)
    assert study.sampler._n_startup_trials == 2 and study.sampler._explore_every == 3
    assert study.sampler._max_epochs == 54  # the GP is fitted over (configuration, epoch) up to max_epochs
    assert make_study({}).sampler._max_epochs == 27
    assert isinstance(study.pruner, TrendHalvingPruner)
    assert study.pruner.rungs == [8, 32] and study.pruner.max_resource == 54  # round(0.15 * 54), factor 4
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert make_study({"max_epochs": 27}).pruner.rungs == [4, 16]
    assert make_study({"max_epochs": 3}).pruner.rungs == [1]
    assert make_study({"max_epochs": 54, "reduction_factor": 3}).pruner.rungs == [8, 24]
    halving = make_study({"pruner": "successive_halving", "max_epochs": 54}).pruner
    assert halving._min_resource == 8 and halving._reduction_factor == 3
    assert make_study({"explore_every": 0}).sampler._explore_every == 0
    assert isinstance(make_study({"pruner": "none"}).pruner, optuna.pruners.NopPruner)
    hyperband = make_study({"pruner": "hyperband", "max_epochs": 54}).pruner
    assert hyperband._min_resource == 8 and hyperband._max_resource == 54


def test_multi_objective_default_keeps_tpe() -> None:
    two = [{"metric": "val/epe", "direction": "minimize"}, {"metric": "latency_ms", "direction": "minimize"}]
    study = make_study({"seed": 3, "objectives": two})
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert study.sampler._multivariate and study.sampler._constant_liar
    assert isinstance(study.pruner, optuna.pruners.NopPruner)


def test_same_seed_same_trials() -> None:
    values = []
    for _ in range(2):
        study = make_study({"seed": 7})
        study.optimize(_quadratic, n_trials=15)
        values.append([t.params["x"] for t in study.trials])
    assert values[0] == values[1]


@pytest.mark.parametrize(
    "name, cls",
    [("tpe", "TPESampler"), ("gp", "CurveGPSampler"), ("cmaes", "CmaEsSampler"), ("random", "RandomSampler")],
)
def test_every_sampler_runs(name: str, cls: str) -> None:
    study = make_study({"sampler": name, "seed": 0, "pruner": "none"})
    assert type(study.sampler).__name__ == cls
    study.optimize(_quadratic, n_trials=4)
    assert len(study.trials) == 4


@pytest.mark.parametrize(
    "name, cls",
    [
        ("trend_halving", "TrendHalvingPruner"),
        ("curve", "CurvePruner"),
        ("hyperband", "HyperbandPruner"),
        ("successive_halving", "SuccessiveHalvingPruner"),
        ("median", "MedianPruner"),
        ("none", "NopPruner"),
    ],
)
def test_every_pruner_is_built(name: str, cls: str) -> None:
    assert type(make_study({"pruner": name}).pruner).__name__ == cls


def test_unknown_sampler_and_pruner() -> None:
    msg = _one_line_error({"sampler": "bayes"}, r"automl.sampler: 'bayes' is not allowed")
    assert "tpe, gp, cmaes, random" in msg
    msg = _one_line_error({"pruner": "asha"}, r"automl.pruner: 'asha' is not allowed")
    assert "trend_halving, curve, hyperband, successive_halving, median, none" in msg


def test_unknown_metric_needs_a_direction() -> None:
    msg = _one_line_error({"metric": "val/accuracy"}, r"automl.metric: 'val/accuracy' has no known direction")
    assert "automl.direction" in msg
    study = make_study({"metric": "val/accuracy", "direction": "maximize"})
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    _one_line_error({"direction": "down"}, r"automl.direction: 'down' is not allowed")


def test_known_metrics_minimize_never_guessed_from_name() -> None:
    for metric in ("val/epe", "val/d1", "val/bp2", "val/loss"):
        assert make_study({"metric": metric}).direction == optuna.study.StudyDirection.MINIMIZE


def test_sqlite_storage_persists_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "s" / "study.db"
    study = make_study({"seed": 0}, storage=str(path), study_name="s")
    study.optimize(_quadratic, n_trials=3)
    again = make_study({"seed": 0}, storage=str(path), study_name="s")
    again.optimize(_quadratic, n_trials=2)
    assert [t.number for t in again.trials] == [0, 1, 2, 3, 4]
    assert again._storage.get_heartbeat_interval() == 30  # dead workers' trials get failed and retried


@pytest.mark.parametrize("suffix", [".log", ".journal"])
def test_journal_storage(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"study{suffix}"
    study = make_study({"storage": str(path)}, study_name="j")
    study.optimize(_quadratic, n_trials=2)
    assert isinstance(study._storage, optuna.storages.JournalStorage)
    assert len(make_study({}, storage=str(path), study_name="j").trials) == 2


def test_unreachable_storage_url_is_one_line() -> None:
    url = "postgresql+psycopg2://nobody:secret@127.0.0.1:9/none"
    msg = _one_line_error({}, r"automl.storage: cannot open", storage=url, study_name="x")
    assert "secret" not in msg


def test_not_a_storage_path(tmp_path: Path) -> None:
    _one_line_error({}, r"automl.storage: .* is not a storage", storage=str(tmp_path / "study.txt"))


def test_study_name_clash_with_other_direction(tmp_path: Path) -> None:
    path = str(tmp_path / "study.db")
    make_study({}, storage=path, study_name="clash")
    msg = _one_line_error(
        {"metric": "score", "direction": "maximize"}, r"study 'clash' already exists with direction minimize",
        storage=path, study_name="clash",
    )
    assert "automl.study_name" in msg


def test_latency_budget_makes_slow_trials_infeasible() -> None:
    study = make_study({"latency_budget_ms": 10.0, "seed": 0, "pruner": "none"})

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        record_latency(trial, 5.0 if x > 0.5 else 50.0)  # the fast ones have the worse value
        return x

    study.optimize(objective, n_trials=20)
    assert study.best_trial.user_attrs[LATENCY_ATTR] <= 10.0
    assert min(t.value for t in study.trials) < study.best_value  # a better but slow trial lost
    assert study.user_attrs["latency_budget_ms"] == 10.0


def test_latency_without_budget_is_only_recorded() -> None:
    study = make_study({})
    study.optimize(lambda t: record_latency(t, 99.0) or t.suggest_float("x", 0, 1), n_trials=2)
    assert study.best_trial.user_attrs[LATENCY_ATTR] == 99.0
