"""The curve pruner on real studies: slow starters kept, hopeless curves stopped, state in the storage."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest

from automl.curve_pruner import CurvePruner, optimistic_final
from automl.study import make_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

EPOCHS = 10
CURVE = {"seed": 0, "max_epochs": EPOCHS, "pruner": "curve"}
REPO = Path(__file__).resolve().parents[2]


def _fast(epoch: int) -> float:
    """A fast starter that ends at 0.5."""
    return 0.5 + 1.0 / epoch


def _slow(epoch: int, end: float = 0.3) -> float:
    """A slow starter: far behind early, best at the end (`end`)."""
    return end + 3.0 * (EPOCHS - epoch) / EPOCHS + 0.1 * (epoch < EPOCHS)


def _hopeless(epoch: int) -> float:
    """Flat at 5: no completed curve ever fell by that much."""
    return 5.0


def _run(study: optuna.Study, curve) -> tuple[optuna.trial.TrialState, int]:
    """One trial following `curve`; returns its state and the epochs it ran."""
    trial = study.ask()
    for epoch in range(1, EPOCHS + 1):
        trial.report(curve(epoch), epoch)
        if epoch < EPOCHS and trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return optuna.trial.TrialState.PRUNED, epoch
    study.tell(trial, curve(EPOCHS))
    return optuna.trial.TrialState.COMPLETE, EPOCHS


def _add_completed(study: optuna.Study, curve) -> None:
    study.add_trial(optuna.create_trial(value=curve(EPOCHS),
                                        intermediate_values={e: curve(e) for e in range(1, EPOCHS + 1)}))


def test_nothing_pruned_before_two_completed(tmp_path: Path) -> None:
    study = make_study(CURVE, storage=f"journal:{tmp_path / 's.log'}", study_name="s")
    assert isinstance(study.pruner, CurvePruner)
    assert _run(study, _hopeless) == (optuna.trial.TrialState.COMPLETE, EPOCHS)
    assert _run(study, _hopeless) == (optuna.trial.TrialState.COMPLETE, EPOCHS)


def test_hopeless_stopped_early_and_slow_starter_kept(tmp_path: Path) -> None:
    study = make_study(CURVE, storage=f"journal:{tmp_path / 's.log'}", study_name="s")
    _add_completed(study, _fast)
    _add_completed(study, lambda e: _slow(e, end=0.29))
    state, epochs = _run(study, _hopeless)
    assert state == optuna.trial.TrialState.PRUNED and epochs == 1
    # a second slow starter, better in the end, is far behind the fast one early, but the first slow one shows
    # how far curves fall
    assert _run(study, lambda e: _slow(e, end=0.25)) == (optuna.trial.TrialState.COMPLETE, EPOCHS)
    # one that ends worse than the best (0.29) stops once its curve says so
    assert _run(study, lambda e: _slow(e, end=0.4))[0] == optuna.trial.TrialState.PRUNED


def test_successive_halving_would_cut_the_slow_starter() -> None:
    """The case the curve pruner exists for: successive halving compares epoch values only."""
    study = make_study({"seed": 0, "max_epochs": EPOCHS, "pruner": "successive_halving", "min_epochs": 1})
    for _ in range(3):
        assert _run(study, _fast)[0] == optuna.trial.TrialState.COMPLETE
    assert _run(study, lambda e: _slow(e, end=0.25)) == (optuna.trial.TrialState.PRUNED, 1)


def test_margin_and_maximize() -> None:
    fast, slow = optuna.create_trial(value=0.6, intermediate_values={2: 1.0}), \
        optuna.create_trial(value=0.3, intermediate_values={2: 1.5})
    assert optimistic_final(2.0, 2, [fast, slow]) == pytest.approx(0.4)  # 2.0 * 0.3 / 1.5
    assert optimistic_final(2.0, 3, [fast, slow]) is None
    # maximizing accuracy: a trial far below the completed curves stops
    study = optuna.create_study(direction="maximize", pruner=CurvePruner(margin=0.1))
    for top in (0.8, 0.9):
        study.add_trial(optuna.create_trial(value=top, intermediate_values={e: top * e / EPOCHS for e in (1, 2, 10)}))
    trial = study.ask()
    trial.report(0.001, 2)
    assert trial.should_prune()
    trial = study.ask()
    trial.report(0.17, 2)  # 0.17 + (0.9 - 0.18) = 0.89: within the margin of 0.9
    assert not trial.should_prune()


def test_another_process_prunes_from_the_same_storage(tmp_path: Path) -> None:
    """The pruner's state is the storage: a second process sees the first one's completed curves."""
    storage = f"journal:{tmp_path / 'study.log'}"
    study = make_study(CURVE, storage=storage, study_name="s")
    _add_completed(study, _fast)
    _add_completed(study, _slow)
    code = textwrap.dedent(f"""
        import optuna
        from automl.study import make_study
        study = make_study({{**{CURVE!r}, "seed": 1}}, storage={storage!r}, study_name="s")
        trial = study.ask()
        trial.report(5.0, 1)
        print("pruned" if trial.should_prune() else "kept")
    """)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "pruned"
