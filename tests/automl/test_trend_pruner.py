"""The `trend_halving` pruner (the default): successive halving that ranks by where a curve is heading."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.study import make_study
from automl.trend_pruner import TrendHalvingPruner, rungs, trend_score

EPOCHS = 52


def _stalled(e: int) -> float:
    """Fast early, then flat: 0.865 at epoch 8, ends at 0.86."""
    return 0.86 + 0.3 / e ** 2


def _slow(e: int) -> float:
    """A slow starter: 1.3 at epoch 8, still falling in log-epochs, ends at 0.76."""
    return 1.9 - 0.29 * math.log(e) if e <= 8 else max(0.76, 1.9 - 0.29 * math.log(8) - 0.3 * math.log(e / 8))


def _run(study: optuna.Study, curve) -> tuple[TrialState, int]:
    trial = study.ask()
    for e in range(1, EPOCHS + 1):
        trial.report(curve(e), e)
        if e < EPOCHS and trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return TrialState.PRUNED, e
    study.tell(trial, curve(EPOCHS))
    return TrialState.COMPLETE, EPOCHS


def test_the_score_credits_a_falling_curve_and_never_a_rising_one() -> None:
    slow = {e: _slow(e) for e in range(1, 9)}
    flat = {e: _stalled(e) for e in range(1, 9)}
    assert slow[8] > flat[8]  # worse where it stands ...
    assert trend_score(slow, 8, EPOCHS) < trend_score(flat, 8, EPOCHS)  # ... better where it heads
    rising = {e: 0.5 + 0.01 * e for e in range(1, 9)}
    assert trend_score(rising, 8, EPOCHS) == pytest.approx(rising[8])
    assert trend_score({**slow, 8: float("nan")}, 8, EPOCHS) == math.inf
    accuracy = {e: 1 - v for e, v in slow.items()}  # the same curve, maximized: mirrored
    assert trend_score(accuracy, 8, EPOCHS, sign=-1.0) == pytest.approx(-(1 - trend_score(slow, 8, EPOCHS)))
    assert rungs(8, 3, 52) == [8, 24] and rungs(1, 3, 3) == [1] and rungs(4, 2, 27) == [4, 8, 16]


@pytest.mark.parametrize("pruner, slow_state", [("trend_halving", TrialState.COMPLETE),
                                                 ("successive_halving", TrialState.PRUNED)])
def test_a_slow_starter_goes_on_where_successive_halving_cuts_it(pruner: str, slow_state: TrialState) -> None:
    study = make_study({"seed": 0, "max_epochs": EPOCHS, "pruner": pruner})
    for _ in range(3):
        _run(study, _stalled)
    state, _ = _run(study, _slow)
    assert state == slow_state
    # a curve worse and no steeper than the others is cut at the first rung by both
    assert _run(study, lambda e: _stalled(e) + 0.3) == (TrialState.PRUNED, 8)


def test_a_trial_best_where_it_stands_goes_on_though_its_curve_has_levelled_off() -> None:
    # three slow starters still falling steeply: better than the stalled curve by trend score
    study = make_study({"seed": 0, "max_epochs": EPOCHS})
    for _ in range(3):
        _run(study, _slow)
    first = study.trials[0].system_attrs
    stalled_at_8 = {e: _stalled(e) for e in range(1, 9)}
    assert trend_score(stalled_at_8, 8, EPOCHS) > first["trend_halving:rung_0"]  # last of four by trend ...
    assert first["trend_halving:rung_0:value"] == pytest.approx(_slow(8))
    state, epochs = _run(study, _stalled)  # ... first by value: it goes on past epoch 8
    assert epochs > 8


def test_the_first_trial_completes_and_a_nan_at_a_rung_is_cut() -> None:
    study = make_study({"seed": 0, "max_epochs": EPOCHS})
    assert _run(study, lambda e: 2.0)[0] == TrialState.COMPLETE  # alone at every rung: a study always completes one
    assert _run(study, lambda e: float("nan") if e >= 8 else 1.0) == (TrialState.PRUNED, 8)


def test_a_run_validating_every_third_epoch_is_judged_at_the_report_past_the_rung() -> None:
    pruner = TrendHalvingPruner(min_resource=8, reduction_factor=3, max_resource=EPOCHS)
    study = optuna.create_study(pruner=pruner)
    for offset in (0.0, 0.01, 0.02):
        study.add_trial(optuna.trial.create_trial(value=0.8, intermediate_values={e: _stalled(e) for e in range(1, 53)},
                                                  system_attrs={"trend_halving:rung_0": trend_score(
                                                      {e: _stalled(e) for e in range(1, 9)}, 8, EPOCHS) + offset}))
    trial = study.ask()
    for e in (3, 6):
        trial.report(_stalled(e) + 0.5, e)
        assert not trial.should_prune()  # before the rung
    trial.report(_stalled(9) + 0.5, 9)
    assert trial.should_prune()  # judged at epoch 9, the first report past rung 8


def test_a_resumed_study_and_another_process_read_the_scores_from_the_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = make_study({"seed": 0, "max_epochs": EPOCHS}, storage=url, study_name="s")
    for _ in range(3):
        _run(first, _stalled)
    again = make_study({"seed": 1, "max_epochs": EPOCHS}, storage=url, study_name="s")  # a new pruner object
    assert _run(again, lambda e: _stalled(e) + 0.3) == (TrialState.PRUNED, 8)
    assert _run(again, _slow)[0] == TrialState.COMPLETE
    scored = [t for t in again.trials if "trend_halving:rung_0" in t.system_attrs]
    assert len(scored) == 5


def test_the_plans_epoch_estimate_reads_the_default_pruners_rungs() -> None:
    from automl.report import expected_epochs

    # rungs 8 and 24 of 52; successive halving lets a third go on at each: 8 + 16 / 3 + 28 / 9
    assert expected_epochs({"pruner": "successive_halving"}, EPOCHS) == pytest.approx(8 + 16 / 3 + 28 / 9)
    # trend halving (the default): rungs 8 and 32, the best quarter by either ranking, 1.35 / 4 go on
    share = 1.35 / 4
    assert expected_epochs({}, EPOCHS) == pytest.approx(8 + 24 * share + 20 * share ** 2)
