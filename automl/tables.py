"""`automl status` and `automl best`: the trial table (with a legend for its marks) and the trial
the hand-off takes, named by the same rule and the same `best/` checkpoint as the hand-off.

`trial_rows` and `best_summary` return plain data; `status_table` renders a rich Table.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from automl.handoff import HANDOFF_ATTR
from automl.pareto import LATENCY, accuracy_index, choose, metric_names

__all__ = ["trial_rows", "status_table", "best_summary", "legend"]

STATE = optuna.trial.TrialState
CURVE_TAIL = 6


def _choice_number(study: optuna.Study) -> int | None:
    try:
        return choose(study, study.user_attrs.get("latency_budget_ms")).trial.number
    except ValueError:
        return None


def _note(t: optuna.trial.FrozenTrial, curve: list[float], budget: float | None) -> str:
    """What to know about one trial beyond its state and value."""
    notes = []
    if "failed_trial" in t.system_attrs:
        notes.append(f"retry of {t.system_attrs['retry_history'][-1]}")
    if t.user_attrs.get("fail_reason"):
        notes.append(t.user_attrs["fail_reason"])
    if t.user_attrs.get("stop_reason"):
        notes.append(t.user_attrs["stop_reason"])
    elif t.state == STATE.PRUNED and curve:
        notes.append(f"pruned after epoch {len(curve)}")
    latency = t.user_attrs.get(LATENCY)
    if latency is not None:
        over = budget is not None and latency > budget
        notes.append(f"{latency:.3g} ms" + (f" (over the {budget:g} ms budget)" if over else ""))
    return "; ".join(notes)


def trial_rows(study: optuna.Study) -> list[dict]:
    """One dict per trial: number, state, params, value (the accuracy objective), values (every
    objective), curve (metric per epoch), duration, marks (best = the hand-off's trial; pareto),
    retry_of, fail / stop reason and a note."""
    names = metric_names(study)
    accuracy = accuracy_index(study)
    chosen = _choice_number(study)
    front = {t.number for t in study.best_trials} if len(names) > 1 else set()
    budget = study.user_attrs.get("latency_budget_ms")
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        if t.intermediate_values:
            curve = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
        else:  # a multi-objective trial keeps its curve in a user attr
            curve = [v for _, v in sorted((int(k), v) for k, v in (t.user_attrs.get("curve") or {}).items())]
        rows.append({
            "number": t.number,
            "state": t.state.name,
            "params": dict(t.params),
            "value": t.values[accuracy] if t.values else None,
            "values": dict(zip(names, t.values)) if t.values else None,
            "curve": curve,
            "duration_s": duration,
            "best": t.number == chosen,
            "pareto": t.number in front,
            "retry_of": t.system_attrs.get("failed_trial"),
            "fail_reason": t.user_attrs.get("fail_reason"),
            "stop_reason": t.user_attrs.get("stop_reason"),
            "note": _note(t, curve, budget),
        })
    return rows


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def legend(study: optuna.Study) -> str:
    """What the table's marks and columns mean."""
    names = metric_names(study)
    accuracy = names[accuracy_index(study)]
    if len(names) > 1:
        star = "* the Pareto point `automl best` and the hand-off take (rule in `automl best`)"
        marks = [star, "P on the Pareto front (no other trial is better in both " + " and ".join(names) + ")"]
    else:
        marks = [f"* the best trial ({study.direction.name.lower()} {accuracy}): the one `automl best` and the "
                 "hand-off take"]
    marks.append("R a retry of a failed or interrupted trial (resumed from its checkpoint)")
    return ("marks: " + "; ".join(marks) + f". value: {', '.join(names)} after the last epoch; "
            f"{accuracy} per epoch: the last {CURVE_TAIL} epochs.")


def status_table(study: optuna.Study):
    """A rich Table of the study's trials, with the legend as its caption."""
    from rich.table import Table

    names = metric_names(study)
    rows = trial_rows(study)
    directions = ", ".join(f"{d.name.lower()} {n}" for d, n in zip(study.directions, names))
    table = Table(title=f"study {study.study_name} ({directions})", caption=legend(study), caption_justify="left")
    show_note = any(row["note"] for row in rows)
    accuracy = names[accuracy_index(study)]
    columns = ["trial", "state", "params", f"{accuracy} per epoch", " / ".join(names), "duration"]
    for name in columns + (["note"] if show_note else []):
        table.add_column(name)
    for row in rows:
        curve = " ".join(_short(v) for v in row["curve"][-CURVE_TAIL:])
        if len(row["curve"]) > CURVE_TAIL:
            curve = "... " + curve
        marks = ("*" if row["best"] else "") + ("P" if row["pareto"] else "") + ("R" if row["retry_of"] is not None
                                                                                else "")
        value = " / ".join(_short(v) for v in row["values"].values()) if row["values"] else "-"
        cells = [f"{row['number']} {marks}".strip(), row["state"],
                 ", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in row["params"].items()), curve, value,
                 f"{row['duration_s']:.1f} s" if row["duration_s"] is not None else "-"]
        table.add_row(*cells, *([row["note"]] if show_note else []))
    return table


def best_summary(study: optuna.Study) -> dict:
    """The trial the hand-off takes (ValueError when none completed): number, value(s), params, the
    rule that picked it, and its checkpoint: `<study_dir>/best/dn_model_best.pth` once the hand-off
    copied it there (`handed_off`), else the trial's own checkpoint."""
    choice = choose(study, study.user_attrs.get("latency_budget_ms"))
    trial = choice.trial
    names = metric_names(study)
    handoff = study.user_attrs.get(HANDOFF_ATTR) or {}
    handed_off = handoff.get("trial") == trial.number and Path(handoff.get("checkpoint") or "").is_file()
    return {
        "trial": trial.number,
        "value": trial.values[accuracy_index(study)],
        "values": dict(zip(names, trial.values)),
        "params": trial.params,
        "rule": choice.rule,
        "reason": choice.reason,
        "checkpoint": handoff["checkpoint"] if handed_off else trial.user_attrs.get("checkpoint"),
        "trial_checkpoint": trial.user_attrs.get("checkpoint"),
        "handed_off": handed_off,
        "latency_ms": trial.user_attrs.get(LATENCY),
    }
