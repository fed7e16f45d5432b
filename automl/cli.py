"""`depth_net automl <run|worker|status|best|plot|dashboard|plan>`.

`model/cli.py` hands the argv after `automl` to `main(argv)` and is the error boundary:
a DepthNetError raised here becomes one line on stderr and exit code 2 (bad input) or 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Sequence

import yaml

from model.errors import SpecError
from model.interrupt import Interrupted

__all__ = ["main", "COMMANDS"]


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one-line SpecErrors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SpecError(f"{self.prog}: {message}; see `{self.prog} --help`")


def _load(args: argparse.Namespace) -> dict:
    from model.spec import load_spec

    return load_spec(args.experiment, "automl", args.overrides)


def _study_from_args(args: argparse.Namespace):
    """The existing study named by --storage/--study, or by the spec (-e); never creates one."""
    from automl.study import open_existing_study

    if args.storage:
        return open_existing_study(args.storage, args.study, "check --storage and --study")
    if not args.experiment:
        raise SpecError("depth_net automl: give -e SPEC.yaml or --storage URL [--study NAME]")
    from automl.run import study_context

    ctx = study_context(_load(args))
    hint = "start it with `depth_net automl run -e SPEC` or check automl.study_name / automl.storage"
    return open_existing_study(ctx.storage, args.study or ctx.name, hint)


def _cmd_run(args: argparse.Namespace) -> int:
    from automl.run import open_study, run_study
    from model.status import StatusLogger

    spec = _load(args)
    _, ctx = open_study(spec)  # a study that cannot run, or its storage, fails here: before any file is written
    (ctx.study_dir / "experiment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    status = StatusLogger(ctx.study_dir / "status.json")
    status.write("STARTED", f"depth_net automl run: study {ctx.name}")
    try:
        result = run_study(spec, status)
    except Interrupted as exc:
        status.write("FAILURE", str(exc), verbosity="WARNING", interrupted=exc.name, trials=sorted(set(exc.trials)))
        raise
    except BaseException as exc:
        status.write("FAILURE", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, verbosity="ERROR")
        raise
    status.write("SUCCESS", "depth_net automl run finished", kpi=result.get("kpi"))
    print("Execution status: PASS")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from automl.objective import StereoObjective
    from automl.space import space_for
    from automl.workers import open_worker_study, run_worker

    if not args.storage or not args.study:
        raise SpecError("depth_net automl worker: --storage URL and --study NAME are required")
    study, spec, study_dir = open_worker_study(args.storage, args.study, args.run, args.worker_index)
    settings = spec["automl"]
    objective = StereoObjective(spec, study_dir, space_for(spec, settings), deadline=args.deadline)
    ran = run_worker(study, objective, int(settings.get("n_trials") or 20), args.deadline)
    print(f"worker finished after {ran} trial(s)")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from automl.tables import status_table, trial_rows

    study = _study_from_args(args)
    if args.json:
        print(json.dumps(trial_rows(study), default=str))
    else:
        Console(width=160).print(status_table(study))
    return 0


def _cmd_best(args: argparse.Namespace) -> int:
    from automl.tables import best_summary

    study = _study_from_args(args)
    try:
        best = best_summary(study)
    except ValueError:
        raise SpecError(f"automl best: study {study.study_name!r} has no completed (feasible) trial yet") from None
    if args.json:
        print(json.dumps(best, default=str))
    else:
        values = ", ".join(f"{name} {value:.6g}" for name, value in best["values"].items())
        print(f"best trial {best['trial']}: {values} ({best['rule']}: {best['reason']})")
        for key, value in best["params"].items():
            print(f"  {key}: {value}")
        if best["handed_off"]:
            print(f"checkpoint: {best['checkpoint']} (the hand-off's copy of trial {best['trial']})")
        else:
            print(f"checkpoint: {best['checkpoint']} (not handed off yet: `automl run` copies it to best/ when the "
                  "study ends)")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from automl.plots import write_plots

    study = _study_from_args(args)
    if args.out:
        out = Path(args.out)
    elif "study_dir" in study.user_attrs:
        out = Path(study.user_attrs["study_dir"]) / "plots"
    elif args.experiment:
        from automl.run import study_context

        out = study_context(_load(args)).study_dir / "plots"
    else:
        out = Path("plots")
    for path in write_plots(study, out):
        print(path)
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from automl.study import build_storage, check_storage_exists, open_existing_study

    if args.storage:
        storage = args.storage
    else:
        from automl.run import study_context  # imports training (Lightning): only when the spec names it

        storage = study_context(_load(args)).storage
    hint = "start a study with `depth_net automl run -e SPEC` first"
    check_storage_exists(storage, hint)
    if args.study:  # the dashboard serves every study; a named one must exist before it starts
        open_existing_study(storage, args.study, "`depth_net automl dashboard` serves them all without --study")
    else:
        build_storage(storage, {})  # reads the storage (and fails in one line) before serving it
    from automl.report import serve_dashboard  # optuna-dashboard and plotting: a slow import, only to serve

    storage = args.storage or study_context(_load(args)).storage
    check_storage_exists(storage, "start a study with `depth_net automl run -e SPEC` first")
    try:
        serve_dashboard(storage, host=args.host, port=args.port)
    except Interrupted as exc:  # Ctrl-C is how a dashboard is meant to stop
        print(f"optuna-dashboard stopped ({exc.name})")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from automl.report import make_plan

    spec = _load(args)
    per_epoch, probe = _measured_seconds_per_epoch(spec), None
    if per_epoch is None and args.probe:
        from automl.probe import probe_seconds_per_epoch

        probe = probe_seconds_per_epoch(spec)
        per_epoch = probe["seconds_per_epoch"]
    plan = make_plan(spec, request=args.request, explicit=args.automl_policy, seconds_per_epoch=per_epoch)
    plan["estimate"]["source"] = ("probe: " + json.dumps(probe)) if probe else (
        "measured on this study's finished trials" if per_epoch is not None
        else "no measurement yet: pass --probe to time training steps on this machine")
    if args.json:
        print(json.dumps(plan))
        return 0
    print(f"policy: {plan['policy']}  ({plan['rule']})")
    if plan["policy"] == "automl":
        print(f"study {plan['study']} in {plan['study_dir']}, storage {plan['storage']}")
        goals = ", ".join(f"{o['direction']} {o['metric']}" for o in plan["objectives"])
        print(f"sampler {plan['sampler']}, pruner {plan['pruner']}, {goals}")
        for row in plan["search_space"]:
            rng = row["choices"] if row["choices"] else f"[{row['low']}, {row['high']}]{' log' if row['log'] else ''}"
            print(f"  {row['name']}: {rng}")
        print(f"budget {plan['budget']}, workers {plan['workers']}, estimate {plan['estimate']}")
    return 0


def _measured_seconds_per_epoch(spec: dict) -> float | None:
    """Seconds per epoch of the finished trials when the spec's study already exists."""
    from automl.report import seconds_per_epoch
    from automl.run import study_context
    from automl.study import open_existing_study

    ctx = study_context(spec)
    try:
        return seconds_per_epoch(open_existing_study(ctx.storage, ctx.name, ""))
    except Exception:  # no such study yet, or a storage that cannot be read: no measurement
        return None


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "run": (_cmd_run, "create or resume the study of -e SPEC and run its workers, then hand off the best"),
    "worker": (_cmd_worker, "join a study from any machine: --storage URL --study NAME"),
    "status": (_cmd_status, "table of trials: state, params, metric per epoch, duration, best"),
    "best": (_cmd_best, "best params, metric and checkpoint"),
    "plot": (_cmd_plot, "history, importance and learning-curve plots (PNG + HTML)"),
    "dashboard": (_cmd_dashboard, "optuna-dashboard on the study's storage"),
    "plan": (_cmd_plan, "what `depth_net train` would do, without training"),
}


def _parser() -> _Parser:
    parser = _Parser(prog="depth_net automl", description="Hyperparameter search over depth_net training (Optuna).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (_, summary) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        p.add_argument("-e", "--experiment", help="spec YAML")
        p.add_argument("overrides", nargs="*", help="dotted.key=value overrides")
        p.add_argument("--storage", help="storage URL / file (instead of -e)")
        p.add_argument("--study", help="study name")
        p.add_argument("--json", action="store_true", help="print JSON")
        if name == "worker":
            p.add_argument("--deadline", type=float, default=None, help="stop starting trials after this UNIX time")
            p.add_argument("--run", type=int, default=None, help="the study's run number (default: its newest run)")
            p.add_argument("--worker-index", type=int, default=None,
                           help="this worker's index in its run (default: identified by host and pid)")
        if name == "plan":
            p.add_argument("--request", default=None, help="the user's request text")
            p.add_argument("--automl-policy", choices=("auto", "on", "off"), default=None)
            p.add_argument("--probe", action="store_true",
                           help="time training steps on this machine for the run-time estimate")
        if name == "plot":
            p.add_argument("--out", default=None, help="folder for the pictures (default <study_dir>/plots)")
        if name == "dashboard":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8080)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one automl subcommand; returns its exit code (errors propagate to model.cli.main)."""
    args = _parser().parse_args(list(argv or []))
    if args.command in ("run", "plan") and not args.experiment:
        raise SpecError(f"depth_net automl {args.command}: -e SPEC.yaml is required")
    return COMMANDS[args.command][0](args)
