"""Around the study: a baseline evaluation before it, the best trial handed on after it.

Before: the starting checkpoint (`train.pretrained_model_path`) is evaluated on the validation
data into `<study_dir>/baseline/`. After: the best trial (in a multi-objective study, the Pareto
point automl/pareto.py `choose` picks, with its rule) has its checkpoint and spec copied to
`<study_dir>/best/`, evaluated on the same data (kpi next to the baseline in
`<study_dir>/summary.json`) and, when `automl.handoff` asks, exported to ONNX and built into
a TensorRT engine by the export / gen_trt_engine actions - the same `run(spec, status)`
functions `depth_net` calls.
"""

from __future__ import annotations

import copy
import importlib
import json
import shutil
from pathlib import Path

import optuna
import yaml

from automl.pareto import Choice, accuracy_index, choose, metric_names
from model.errors import DepthNetError, RunFailed
from model.status import StatusLogger

__all__ = ["evaluate_checkpoint", "baseline", "hand_off", "versus_baseline", "BEST_CHECKPOINT", "HANDOFF_ATTR"]

BEST_CHECKPOINT = "dn_model_best.pth"
HANDOFF_ATTR = "handoff"  # study user attr: the trial handed off, its best/ checkpoint and the rule


def _run_action(name: str, spec: dict, out_dir: Path) -> dict:
    """One action (check, run) with its own experiment.yaml and status.json in `out_dir`."""
    module = importlib.import_module(f"model.actions.{name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    status = StatusLogger(out_dir / "status.json")
    if hasattr(module, "check"):
        module.check(spec)
    (out_dir / "experiment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    status.write("STARTED", f"depth_net {name} (automl hand-off)")
    try:
        result = module.run(spec, status) or {}
    except DepthNetError as exc:
        status.write("FAILURE", str(exc).splitlines()[0], verbosity="ERROR")
        raise
    status.write("SUCCESS", f"depth_net {name} finished", kpi=result.get("kpi"))
    return result


def evaluate_checkpoint(spec: dict, checkpoint: str | Path, out_dir: Path, role: str) -> dict | None:
    """Evaluate `checkpoint` on the spec's validation data into `out_dir`; None without val data.

    `role` ("baseline: ...", "best trial N") is printed first, so the evaluate line under it
    reads as what it is; the test split is emptied so evaluate names the validation scenes.
    """
    val = (spec.get("dataset") or {}).get("val_dataset") or {}
    if not val.get("data_sources"):
        return None
    print(f"automl {role}, on the validation scenes:", flush=True)
    eval_spec = copy.deepcopy(spec)
    eval_spec["dataset"]["test_dataset"]["data_sources"] = []  # evaluate falls back to (and names) val_dataset
    section = eval_spec.setdefault("evaluate", {})
    section.update({"checkpoint": str(checkpoint), "results_dir": str(out_dir), "onnx_file": None, "trt_engine": None})
    return _run_action("evaluate", eval_spec, out_dir).get("kpi")


def baseline(spec: dict, study: optuna.Study, study_dir: Path, status: StatusLogger) -> dict | None:
    """Evaluate the starting checkpoint once per study (kept in the study's user attrs)."""
    if "baseline_kpi" in study.user_attrs:
        return study.user_attrs["baseline_kpi"]
    start = (spec.get("train") or {}).get("pretrained_model_path")
    if not start:
        status.write("RUNNING", "baseline: no train.pretrained_model_path (training from scratch), nothing to evaluate")
        kpi = None
    else:
        kpi = evaluate_checkpoint(spec, start, study_dir / "baseline",
                                  f"baseline: the starting checkpoint {start}, before any trial")
        status.write("RUNNING", f"baseline of {start}: {kpi}" if kpi else "baseline: no validation data", kpi=kpi)
    study.set_user_attr("baseline_kpi", kpi)
    return kpi


def versus_baseline(metric: str, direction: str, baseline_kpi: dict | None, best_kpi: dict | None,
                    start: str | None) -> dict | None:
    """The best trial against the starting checkpoint on the same validation scenes.

    Returns None when there is nothing to compare (training from scratch, no validation data or
    the metric missing on either side); else `{metric, baseline, best, better, line}` where
    `better` says whether the best trial improved on the start (strictly, in the study's
    direction) and `line` says it in words - also when fine-tuning made the model worse, so the
    hand-off never passes off a regression as the result.
    """
    if not baseline_kpi or not best_kpi or metric not in baseline_kpi or metric not in best_kpi:
        return None
    base, best = float(baseline_kpi[metric]), float(best_kpi[metric])
    better = best < base if direction == "minimize" else best > base
    if better:
        line = f"{metric} {best:.4g} against {base:.4g} for the starting checkpoint {start}: the study improved it"
    else:
        line = (f"{metric} {best:.4g} is no better than {base:.4g} for the starting checkpoint {start}: no trial "
                f"improved on it; keep using {start} (best/ holds the best trial for inspection)")
    return {"metric": metric, "baseline": base, "best": best, "better": better, "line": line}


def _choose(study: optuna.Study, spec: dict) -> Choice:
    """The trial to hand off and the rule that picked it (automl/pareto.py); RunFailed when none completed."""
    try:
        return choose(study, (spec.get("automl") or {}).get("latency_budget_ms"))
    except ValueError:
        counts = {s.name: 0 for s in optuna.trial.TrialState}
        for t in study.trials:
            counts[t.state.name] += 1
        reasons = sorted({t.user_attrs.get("fail_reason", "") for t in study.trials if t.user_attrs.get("fail_reason")})
        stops = sorted({t.user_attrs.get("stop_reason", "") for t in study.trials if t.user_attrs.get("stop_reason")})
        why = f"; failures: {reasons[0]}" if reasons else ""
        why += f"; {stops[0]} (raise automl.timeout)" if stops else ""
        raise RunFailed(
            f"automl: no trial of study {study.study_name!r} completed (feasibly): "
            f"{counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed{why}"
        ) from None


def hand_off(spec: dict, study: optuna.Study, study_dir: Path, status: StatusLogger) -> dict:
    """Copy the best trial to `<study_dir>/best/`, evaluate it, export / build when asked.

    Returns the summary also written to `<study_dir>/summary.json`.
    """
    choice = _choose(study, spec)
    best = choice.trial
    source = Path(best.user_attrs.get("checkpoint") or "")
    if not source.is_file():
        raise RunFailed(f"automl: best trial {best.number} has no checkpoint at {source}")
    best_dir = study_dir / "best"
    best_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = best_dir / BEST_CHECKPOINT
    shutil.copy2(source, checkpoint)
    trial_yaml = source.parent / "experiment.yaml"
    if trial_yaml.is_file():
        shutil.copy2(trial_yaml, best_dir / "experiment.yaml")
    (best_dir / "params.json").write_text(json.dumps(best.params, indent=2), encoding="utf-8")
    names = metric_names(study)
    accuracy = accuracy_index(study)
    status.write("RUNNING", f"hand-off: trial {best.number} copied to {checkpoint}: {choice.reason}",
                 rule=choice.rule, pareto_front=list(choice.front) if len(names) > 1 else None)
    study.set_user_attr(HANDOFF_ATTR, {"trial": best.number, "checkpoint": str(checkpoint), "rule": choice.rule,
                                       "reason": choice.reason})
    summary = {
        "study": study.study_name,
        "best_trial": best.number,
        "best_value": best.values[accuracy],
        "metric": names[accuracy],
        "best_values": dict(zip(names, best.values)),
        "selection": {"rule": choice.rule, "reason": choice.reason,
                      "pareto_front": list(choice.front) if len(names) > 1 else None},
        "best_params": best.params,
        "best_checkpoint": str(checkpoint),
        "baseline_kpi": study.user_attrs.get("baseline_kpi"),
        "best_kpi": evaluate_checkpoint(spec, checkpoint, best_dir / "evaluate",
                                        f"best trial {best.number} ({checkpoint})"),
    }
    direction = study.directions[accuracy].name.lower()
    start = (spec.get("train") or {}).get("pretrained_model_path")
    summary["versus_baseline"] = versus_baseline(names[accuracy], direction, summary["baseline_kpi"],
                                                 summary["best_kpi"], start)
    if summary["versus_baseline"]:
        status.write("RUNNING", f"hand-off: best trial {best.number}: {summary['versus_baseline']['line']}",
                     verbosity="INFO" if summary["versus_baseline"]["better"] else "WARNING")
    summary["handoff"] = _export_chain(spec, checkpoint, best_dir, status)
    (study_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def _export_chain(spec: dict, checkpoint: Path, best_dir: Path, status: StatusLogger) -> dict:
    """export -> gen_trt_engine when `automl.handoff` asks; says why it stopped otherwise."""
    asked = (spec.get("automl") or {}).get("handoff") or {}
    done: dict = {}
    if not (asked.get("export") or asked.get("gen_trt_engine")):
        done["stopped"] = "automl.handoff.export is false: hand-off ends after evaluation"
        return done
    try:
        export_spec = copy.deepcopy(spec)
        onnx_file = best_dir / "dn_model_best.onnx"
        export_spec.setdefault("export", {}).update(
            {"checkpoint": str(checkpoint), "onnx_file": str(onnx_file), "results_dir": str(best_dir / "export")}
        )
        _run_action("export", export_spec, best_dir / "export")
        done["onnx_file"] = str(onnx_file)
        if asked.get("gen_trt_engine"):
            engine_spec = copy.deepcopy(spec)
            engine_spec.setdefault("gen_trt_engine", {}).update(
                {"onnx_file": str(onnx_file), "trt_engine": str(best_dir / "dn_model_best.engine"),
                 "results_dir": str(best_dir / "gen_trt_engine")}
            )
            _run_action("gen_trt_engine", engine_spec, best_dir / "gen_trt_engine")
            done["trt_engine"] = str(best_dir / "dn_model_best.engine")
    except (DepthNetError, ModuleNotFoundError) as exc:
        done["stopped"] = f"hand-off stopped: {str(exc).splitlines()[0]}"
    status.write("RUNNING", f"hand-off: {done}")
    return done
