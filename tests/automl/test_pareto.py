"""Accuracy against latency: objectives, the Pareto front, the hand-off's rule; readable results
(metric names, epoch axis, the status legend, `automl best` = the hand-off's best/ checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import yaml

from automl.pareto import choose, knee, pareto_front, resolve_objectives
from automl.study import build_storage, make_study
from automl.tables import best_summary, legend, status_table, trial_rows
from model.cli import main
from model.errors import SpecError

STATE = optuna.trial.TrialState
TWO = [{"metric": "val/epe", "direction": "minimize"}, {"metric": "latency_ms", "direction": "minimize"}]
X = optuna.distributions.FloatDistribution(0, 1)


def _two_objective_study(points: list[tuple[float, float]]) -> optuna.Study:
    study = make_study({"objectives": TWO, "seed": 0})
    for i, values in enumerate(points):
        study.add_trial(optuna.create_trial(values=list(values), params={"x": i / 10}, distributions={"x": X},
                                            user_attrs={"checkpoint": f"/trial_{i}.pth"}))
    return study


def test_objectives_directions_names_and_no_pruner() -> None:
    study = make_study({"objectives": TWO, "pruner": "successive_halving"})
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["val/epe", "latency_ms"]
    assert isinstance(study.pruner, optuna.pruners.NopPruner)  # Optuna does not prune multi-objective studies
    assert make_study({}).metric_names == ["val/epe"]  # the dashboard says val/epe, not "Objective 0"
    assert [o.metric for o in resolve_objectives({"metric": "val/bp2"})] == ["val/bp2"]
    for bad, match in [([TWO[0], TWO[0]], "named twice"), ([{"metric": "val/epe"}], "direction"),
                       (TWO + TWO[:1], "one or two")]:
        with pytest.raises(SpecError, match=match):
            make_study({"objectives": bad})
    with pytest.raises(SpecError, match="cmaes does not support"):
        make_study({"objectives": TWO, "sampler": "cmaes"})


def test_knee_and_latency_budget_rule() -> None:
    # (epe, ms): 0 slow and accurate ... 3 fast and poor; 4 is dominated by 1
    study = _two_objective_study([(1.0, 10.0), (1.1, 4.0), (2.0, 3.0), (3.0, 2.5), (1.5, 5.0)])
    front = pareto_front(study)
    assert [t.number for t in front] == [0, 1, 2, 3]
    assert knee(study, front).number == 1  # most of the accuracy for little latency
    choice = choose(study)
    assert choice.rule == "knee" and choice.trial.number == 1 and "no automl.latency_budget_ms" in choice.reason
    choice = choose(study, latency_budget_ms=3.2)
    assert choice.rule == "latency_budget" and choice.trial.number == 2 and "within" in choice.reason
    choice = choose(study, latency_budget_ms=1.0)  # nothing is that fast: the knee, saying why
    assert choice.rule == "knee" and "fastest 2.5 ms" in choice.reason
    two = _two_objective_study([(1.0, 10.0), (2.0, 3.0)])
    assert choose(two).rule == "most_accurate" and choose(two).trial.number == 0


def test_status_table_has_a_legend_marks_and_a_filled_note_column(capsys) -> None:
    study = _two_objective_study([(1.0, 10.0), (1.1, 4.0), (2.0, 3.0), (1.5, 5.0)])
    study.add_trial(optuna.create_trial(state=STATE.FAIL, params={"x": 0.9}, distributions={"x": X},
                                        user_attrs={"fail_reason": "interrupted (SIGINT)"}))
    rows = {r["number"]: r for r in trial_rows(study)}
    assert rows[1]["best"] and rows[0]["pareto"] and not rows[3]["pareto"]
    assert rows[4]["note"] == "interrupted (SIGINT)"
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(status_table(study))
    text = " ".join(console.export_text().split())  # the legend (the caption) wraps at the table's width
    assert "* the Pareto point" in text and "P on the Pareto front" in text and "R a retry" in text
    assert "1 *P" in text and "val/epe / latency_ms" in text and "interrupted (SIGINT)" in text
    # single objective: no empty note column when nothing needs a note
    single = make_study({})
    single.add_trial(optuna.create_trial(value=0.5, params={"x": 0.1}, distributions={"x": X}))
    console = Console(width=200, record=True)
    console.print(status_table(single))
    text = console.export_text()
    assert "note" not in text and "0 *" in text and "* the best trial (minimize val/epe)" in legend(single)


def _mo_spec(tmp_path: Path, tiny_spec, **automl) -> Path:
    """GRU iterations at test time (model.valid_iters) are the searched knob (latency grows with them;
    whether accuracy does depends on the training, see the xfail below): the network is trained with
    8, the optimiser settings are fixed."""
    spec = tiny_spec(tmp_path / "runs", train_repeat=3,
                     train={"num_epochs": 6, "seed": 3, "log_every_n_steps": 1,
                            "optim": {"lr": 2e-3, "warmup_steps": 0}},
                     evaluate={"vis": False}, export={"input_height": 64, "input_width": 96},
                     automl={"study_name": "tiny", "n_trials": 5, "max_epochs": 6, "seed": 0, "objectives": TWO,
                             "include": ["model.valid_iters"],
                             "exclude": ["train.optim.lr", "train.optim.lr_decay", "train.optim.weight_decay",
                                         "train.optim.warmup_steps"],
                             "parameters": {"model.valid_iters": {"min": 1, "max": 16}}, **automl})
    spec["model"]["train_iters"] = 8
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    # the first configurations, spread over the range (a user may enqueue trials like any Optuna study)
    study = make_study(spec["automl"], storage=str(tmp_path / "runs" / "tiny" / "study.db"), study_name="tiny")
    for iters in (1, 4, 8, 12, 16):  # ~2 ms of CPU latency an iteration here: gaps wider than the timing noise
        study.enqueue_trial({"model.valid_iters": iters})
    return path


@pytest.mark.slow
def test_a_multi_objective_study_on_the_tiny_network_hands_off_a_pareto_point_by_its_rule(
        tiny_spec, tmp_path, capsys) -> None:
    spec = _mo_spec(tmp_path, tiny_spec)
    assert main(["automl", "run", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "pruning is off: Optuna does not prune multi-objective studies" in out
    study_dir = tmp_path / "runs" / "tiny"
    study = optuna.load_study(study_name="tiny", storage=build_storage(str(study_dir / "study.db"), {}))
    summary = json.loads((study_dir / "summary.json").read_text())
    rule, reason = summary["selection"]["rule"], summary["selection"]["reason"]
    assert rule in ("knee", "most_accurate") and "no automl.latency_budget_ms" in reason
    assert f"hand-off: trial {summary['best_trial']}" in out and reason in out
    assert set(summary["best_values"]) == {"val/epe", "latency_ms"}
    assert summary["best_trial"] in summary["selection"]["pareto_front"]
    # plot: the Pareto front, at least 3 points, as pictures and as text
    assert main(["automl", "plot", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("pareto front:"))
    points = int(header.split()[2])
    assert points >= 1 and points == len(study.best_trials), out
    assert (study_dir / "plots" / "pareto_front.png").is_file() and (study_dir / "plots" / "pareto_front.html").is_file()
    assert "latency_ms" in (study_dir / "plots" / "pareto_front.html").read_text()
    # status and best name the same trial and the hand-off's best/ checkpoint, with the rule
    assert main(["automl", "status", "-e", str(spec)]) == 0
    assert f"{summary['best_trial']} *P" in capsys.readouterr().out
    assert main(["automl", "best", "-e", str(spec), "--json"]) == 0
    best = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert best["trial"] == summary["best_trial"] and best["rule"] == rule and best["handed_off"]
    assert best["checkpoint"] == summary["best_checkpoint"] == str(study_dir / "best" / "dn_model_best.pth")
    # with a budget the rule changes, and says so
    budget = sorted(t.values[1] for t in study.best_trials)[min(1, points - 1)] * 1.001
    study.set_user_attr("latency_budget_ms", budget)
    assert best_summary(study)["rule"] == "latency_budget"
    if points < 3:
        # Seen 2026-12-07 in a freshly installed environment, at 0f6176e too: the tiny network's EPE
        # rose with GRU iterations (7.33 at 1, 7.74 at 16), so the cheapest trial dominated. A sweep
        # that day (train seeds 3-6, train_iters 2/4/8, 6-60 epochs, val and train scenes) found the
        # tiny network's iterations help or hurt by seed: the >= 3 points seen before were luck, not
        # a trade-off this network has (opencv 5 also renders other Synthetic scenes than 4; the
        # front stays at 1 point with either). Every assertion above still holds; the front-size
        # claim of issue 16 waits for a search knob with a real accuracy / latency trade-off on CPU.
        pytest.xfail(f"Pareto front of {points} point(s), not >= 3: the tiny network's accuracy did not improve "
                     "with GRU iterations in this environment")


@pytest.mark.slow
def test_single_objective_best_names_the_handoff_checkpoint_and_plots_say_epoch(automl_spec, capsys) -> None:
    spec = automl_spec(n_trials=2, max_epochs=2, pruner="none")
    study_dir = spec.parent / "runs" / "tiny"
    assert main(["automl", "run", "-e", str(spec)]) == 0
    capsys.readouterr()
    assert main(["automl", "best", "-e", str(spec)]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint: {study_dir / 'best' / 'dn_model_best.pth'} (the hand-off's copy" in out
    assert main(["automl", "plot", "-e", str(spec)]) == 0
    capsys.readouterr()
    html = (study_dir / "plots" / "intermediate_values.html").read_text()
    html = html.replace(" ", "").replace("\\u002f", "/")  # plotly writes "/" as \u002f
    assert '"xaxis":{"title":{"text":"epoch"}}' in html and '"yaxis":{"title":{"text":"val/epe"}}' in html
