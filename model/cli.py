"""`depth_net <action> -e SPEC.yaml [dotted.key=value ...]`: the single error boundary.

Actions are looked up by import in `ACTIONS`, so a part plugs in by adding
`model/actions/<name>.py` with `run(spec, status) -> dict` (and optionally
`check(spec) -> None`, called before anything is written, to validate inputs
such as data files and checkpoints). `depth_net automl ...` hands its argv to
`automl.cli.main(argv)`. `train` also takes `--request "..."` and
`--automl-policy auto|on|off` (`_RUN_OPTIONS`), passed to its check / run as keywords.

Order of a run: spec (load, override, default, validate) -> results dir is
writable -> `check(spec)` -> create the results dir, write `experiment.yaml` and
status STARTED -> `run` -> status SUCCESS (kpi) / FAILURE. Errors before the
results dir is created leave nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import math
import sys
import traceback
from pathlib import Path
from typing import NamedTuple, Sequence

import yaml

from model.errors import DepthNetError, RunFailed, SpecError
from model.interrupt import Interrupted, interruptible
from model.status import StatusLogger, check_can_write, results_dir_for

__all__ = ["ACTIONS", "main"]

POLICY_CHOICES = ("auto", "on", "off")
# A write that failed because the disk (or quota, or file size limit) is full: one line, not a traceback.
_STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# Options of the command line (not spec keys) handed to an action's check / run as keywords.
_RUN_OPTIONS = {"train": ("request", "automl_policy")}


class Action(NamedTuple):
    """One row of the action table: the module that implements it and a one-line summary."""

    module: str
    summary: str


ACTIONS: dict[str, Action] = {
    "train": Action("model.actions.train", "Train / fine-tune the network (through AutoML when enabled)."),
    "evaluate": Action("model.actions.evaluate", "Metrics (epe, bp1-3, d1, rmse) over a labelled dataset."),
    "inference": Action("model.actions.inference", "Disparity pictures, PFM, depth and point clouds."),
    "export": Action("model.actions.export", "Export an ONNX model, checked against PyTorch."),
    "gen_trt_engine": Action("model.actions.gen_trt_engine", "Build a TensorRT engine from ONNX."),
    "convert": Action("model.actions.convert", "Write annotation files from a dataset root."),
    "automl": Action("automl.cli", "Hyperparameter search: run, worker, status, best, plot, dashboard, plan."),
}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SpecError(f"{self.prog}: {message}; see `{self.prog} --help`")


def _import_action(name: str):
    """The action's module, or None when it is not part of this build yet."""
    path = ACTIONS[name].module
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and (path == exc.name or path.startswith(exc.name + ".")):
            return None
        raise


def _section_help(action: str) -> str:
    """The action's spec keys with what they accept and their defaults (from the schema)."""
    from model._spec_messages import allowed_text, show
    from model.spec import load_schema

    props = load_schema(action)["properties"].get(action, {}).get("properties", {})
    lines = [f"spec keys of `{action}` (any key of the spec can be overridden as dotted.key=value):"]
    for key, leaf in props.items():
        if leaf.get("type") == "object" and "properties" in leaf:
            lines.append(f"  {action}.{key}.*  {leaf.get('description', '')}")
            continue
        default = show(leaf.get("default")) if "default" in leaf else "-"
        lines.append(f"  {action}.{key} = {default}  ({allowed_text(leaf)}) {leaf.get('description', '')}")
    return "\n".join(lines)


def _action_parser(name: str) -> _Parser:
    parser = _Parser(
        prog=f"depth_net {name}", description=ACTIONS[name].summary, epilog=_section_help(name),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-e", "--experiment_spec", "--experiment_spec_file", dest="spec", default=None,
                        help="YAML spec file (schemas/%s.schema.json); omitted: schema defaults" % name)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    if name == "train":
        parser.add_argument("--request", default=None, metavar="TEXT",
                            help='the user\'s request; "turn off AutoML", "no HPO", "plain training" ... '
                                 "mean direct training for this run")
        parser.add_argument("--automl-policy", dest="automl_policy", choices=POLICY_CHOICES, default=None,
                            help="auto | on | off for this run; beats --request and train.automl_policy")
    parser.add_argument("overrides", nargs="*", metavar="dotted.key=value",
                        help="override any spec key; values are YAML (lists: key=[320,736])")
    return parser


def _top_help() -> str:
    lines = ["usage: depth_net [--debug] <action> -e SPEC.yaml [dotted.key=value ...]", "", "actions:"]
    lines += [f"  {name:<15} {row.summary}" for name, row in ACTIONS.items()]
    lines += ["", "`depth_net <action> --help` lists the action's spec keys and defaults."]
    return "\n".join(lines)


def _create_results_dir(out_dir: Path, key: str, spec: dict) -> None:
    """Create `out_dir` with `experiment.yaml` in it; on an OS error remove what this call created.

    `check_can_write` cannot foresee everything (a name too long, a read-only mount, a full disk).
    """
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # deepest first
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "experiment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        with contextlib.suppress(OSError):  # a folder that was never made cannot be listed either
            if created:
                (out_dir / "experiment.yaml").unlink(missing_ok=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise SpecError(f"{key}: cannot create {out_dir}: {exc.strerror or exc}; choose another {key}") from None


def _check_kpi(kpi: dict) -> None:
    """A kpi that is missing a value or is not finite is a failed run, never a PASS."""
    for key, value in kpi.items():
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            raise RunFailed(f"kpi {key} could not be computed (got {value})")


def _quiet_native_logs() -> None:
    """OpenCV prints decoder complaints on stderr itself; our DataError already says it in one line."""
    try:
        import cv2.utils.logging as cv_log
    except ImportError:  # pragma: no cover - opencv is a dependency
        return
    cv_log.setLogLevel(cv_log.LOG_LEVEL_SILENT)


def _run_action(name: str, args: argparse.Namespace) -> int:
    _quiet_native_logs()
    module = _import_action(name)
    if module is None:
        raise SpecError(f"depth_net {name}: not yet implemented in this build "
                        f"({ACTIONS[name].module} is missing)")
    from model.spec import load_spec

    spec = load_spec(args.spec, name, args.overrides)
    out_dir = results_dir_for(spec, name)
    key = f"{name}.results_dir" if (spec.get(name) or {}).get("results_dir") else "results_dir"
    check_can_write(out_dir, key)
    options = {key: getattr(args, key) for key in _RUN_OPTIONS.get(name, ())}
    if hasattr(module, "check"):
        module.check(spec, **options)
    _create_results_dir(out_dir, key, spec)
    status = StatusLogger(out_dir / "status.json")
    status.write("STARTED", f"Starting depth_net {name}", results_dir=str(out_dir))
    try:
        result = module.run(spec, status, **options) or {}
        kpi = result.get("kpi") or {}
        _check_kpi(kpi)
    except DepthNetError as exc:
        status.write("FAILURE", str(exc), verbosity="ERROR")
        raise
    except Interrupted as exc:
        if name == "train" and not exc.trials:  # direct training (a study names its trials)
            exc.notes.append(f"the same command resumes from {out_dir / 'dn_model_latest.pth'} when it exists")
        status.write("FAILURE", str(exc), verbosity="WARNING", interrupted=exc.name)
        raise
    except BaseException as exc:
        status.write("FAILURE", f"{type(exc).__name__}: {exc}".strip(), verbosity="ERROR")
        print("Execution status: FAIL")
        raise
    status.write("SUCCESS", f"depth_net {name} finished", kpi=kpi or None)
    print("Execution status: PASS")
    return 0


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_top_help())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in ACTIONS:
        raise SpecError(f"depth_net: unknown action {name!r}; allowed: {', '.join(ACTIONS)}")
    if name == "automl":
        module = _import_action("automl")
        if module is None:
            raise SpecError("depth_net automl: not yet implemented in this build (automl/cli.py is missing)")
        return int(module.main(rest) or 0)
    args = _action_parser(name).parse_args(rest)
    return _run_action(name, args)


def _share_worker_temp_dir() -> None:
    """Create this process's multiprocessing temp folder now, before any DataLoader worker starts.

    Workers inherit it and put their fd-passing sockets there; this process removes it at exit.
    Without it each worker makes its own `pymp-*` folder in the system temp folder, and a worker
    killed when a run fails (workers are daemons) leaves that folder behind.
    """
    import multiprocessing.util

    multiprocessing.util.get_temp_dir()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `depth_net` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if argv[:1] == ["--debug"]:
        argv = argv[1:]
    _share_worker_temp_dir()
    try:
        with interruptible():  # SIGINT / SIGTERM: one line, exit 130 / 143 (model/interrupt.py)
            return _dispatch(argv)
    except Interrupted as exc:
        print(f"Execution status: FAIL ({exc})", flush=True)
        return exc.exit_code
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except DepthNetError as exc:
        if debug:
            traceback.print_exc()
        print(f"Error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        print("Execution status: FAIL")
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in _STORAGE_FULL:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"Error: {where}{exc.strerror}; free space (or raise the file size limit) and run again",
              file=sys.stderr)
        print("Execution status: FAIL")
        return 1


if __name__ == "__main__":
    sys.exit(main())
