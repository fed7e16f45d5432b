"""status.json (JSON Lines) writing and reading, and the results-dir rule."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from model.errors import SpecError

__all__ = ["StatusLogger", "read_status", "read_kpi", "results_dir_for", "replacing_outputs", "check_can_write",
           "check_output_folders", "STATUSES"]

STATUSES = ("STARTED", "RUNNING", "SUCCESS", "FAILURE")


def results_dir_for(spec: dict, action: str) -> Path:
    """`<action>.results_dir` when set, else `<results_dir>/<action>`."""
    section = spec.get(action) or {}
    explicit = section.get("results_dir") if isinstance(section, dict) else None
    if explicit:
        return Path(explicit)
    return Path(spec.get("results_dir", "runs/default")) / action


def check_can_write(target: Path, key: str, folder: Path | None = None) -> None:
    """SpecError (one line, nothing left behind) unless `target` can be written in `folder`.

    `folder` (default: `target` itself, a folder to create) may not exist yet: its nearest
    existing parent must be a folder that takes a new file. A real probe (create and remove a
    hidden file), not os.access: root passes os.access on a read-only mount or /proc and would
    only fail after the whole run.
    """
    nearest = Path(target if folder is None else folder).absolute()
    try:
        while not nearest.exists() and nearest != nearest.parent:
            nearest = nearest.parent
    except (OSError, ValueError) as err:  # a name too long for the file system, a NUL byte
        raise SpecError(f"{key}: cannot write {target}: {getattr(err, 'strerror', None) or err}; "
                        f"choose another {key}") from None
    if not nearest.is_dir():
        raise SpecError(f"{key}: cannot write {target}: {nearest} is a file, not a folder")
    probe = nearest / f".depth_net_write_probe{os.getpid()}"
    try:
        probe.touch()
    except OSError as err:
        raise SpecError(f"{key}: cannot write {target}: creating a file in {nearest} fails "
                        f"({err.strerror or err}); choose another {key}") from None
    probe.unlink()


PREVIOUS_OUTPUTS = ".previous_outputs"


@contextlib.contextmanager
def replacing_outputs(out_dir: Path, folders: tuple[str, ...]) -> Iterator[None]:
    """Replace the per-image output folders an earlier run of the action wrote into `out_dir`,
    keeping the earlier ones until this run succeeds.

    A rerun into the same results folder would otherwise leave the earlier run's files next to
    the new ones (another dataset's pictures, PFMs of an output now switched off). The named
    folders are moved aside into `out_dir/.previous_outputs/` first; when the run succeeds they
    are removed, when it fails or is interrupted the new, partial folders are removed and the
    earlier ones come back. A run killed in between (SIGKILL) leaves them there, and the next
    run puts them back before it starts. Linked folders are written through, never moved.
    """
    out_dir = Path(out_dir)
    backup = out_dir / PREVIOUS_OUTPUTS
    try:
        _restore(out_dir, backup, folders)  # a run killed before it could finish or restore
        for name in folders:
            folder = out_dir / name
            if folder.is_dir() and not folder.is_symlink():
                backup.mkdir(parents=True, exist_ok=True)
                os.replace(folder, backup / name)
    except OSError as err:
        raise SpecError(f"results_dir: cannot set the earlier run's outputs in {out_dir} aside "
                        f"({err.strerror or err}{': ' + err.filename if err.filename else ''}); "
                        "remove them or choose another results_dir") from None
    try:
        yield
    except BaseException:
        _restore(out_dir, backup, folders, quiet=True)
        raise
    if backup.is_dir():  # renamed first: a backup that cannot be fully removed is never "restored" later
        discard = out_dir / f"{PREVIOUS_OUTPUTS}.discard{os.getpid()}"
        try:
            os.replace(backup, discard)
        except OSError:
            discard = backup
        shutil.rmtree(discard, ignore_errors=True)


def _restore(out_dir: Path, backup: Path, folders: tuple[str, ...], quiet: bool = False) -> None:
    """Put the folders kept in `backup` back in place of this run's partial ones."""
    if not backup.is_dir():
        return
    try:
        for name in folders:
            kept = backup / name
            if kept.is_dir():
                partial = out_dir / name
                if partial.is_dir() and not partial.is_symlink():
                    shutil.rmtree(partial)
                os.replace(kept, partial)
        shutil.rmtree(backup)
    except OSError:
        if not quiet:
            raise


def check_output_folders(out_dir: Path, folders: tuple[str, ...]) -> None:
    """SpecError (one line, before anything is written) unless each per-image output folder of
    `out_dir` is absent or a folder this run can empty and refill.

    A file (or a link to one) where a folder goes would stop the run at its first image; a folder
    whose files cannot be removed could not be replaced once the run succeeds.
    """
    for name in folders:
        folder = Path(out_dir) / name
        if (folder.exists() or folder.is_symlink()) and not folder.is_dir():  # a file, or a dangling link
            raise SpecError(f"results_dir: {folder} is in the way (not a folder, but the run writes its "
                            f"{name} images there); move it or choose another results_dir")
        if not folder.is_dir() or folder.is_symlink():  # a linked folder is written through, never cleared
            continue
        for parent, _subdirs, _files in os.walk(folder):
            if not os.access(parent, os.W_OK | os.X_OK):
                raise SpecError(f"results_dir: cannot clear the earlier run's {folder} ({parent} is not "
                                "writable); remove it or choose another results_dir")


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (nan, inf) become strings so readers never see 0.0."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    return value


class StatusLogger:
    """Appends one JSON object per event to a status.json file."""

    def __init__(self, path: str | Path, echo: bool = False) -> None:
        self.path = Path(path)
        self.echo = echo

    def write(
        self,
        status: str,
        message: str,
        verbosity: str = "INFO",
        kpi: dict | None = None,
        **fields: Any,
    ) -> dict:
        """Append an event. Args: status (one of STATUSES), message, verbosity, kpi, extra fields."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        now = _dt.datetime.now()
        record: dict[str, Any] = {
            "date": now.strftime("%-m/%-d/%Y"),
            "time": now.strftime("%H:%M:%S"),
            "status": status,
            "verbosity": verbosity,
            "message": message,
        }
        record.update(_jsonable(fields))
        if kpi is not None:
            record["kpi"] = _jsonable(kpi)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.echo:
            print(f"[{status}] {message}")
        return record


def read_status(path: str | Path) -> list[dict]:
    """All events of a status.json file (blank / torn last lines are skipped)."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def read_kpi(path: str | Path) -> dict[str, float]:
    """The last kpi of the latest run in a status.json, with `val/` prefixes removed (`val/epe`
    and `epe` alike); {} when the latest run wrote none.

    Runs into the same folder append to its status.json; a rerun that failed before writing a
    kpi must not report the kpi of the run before it, so every STARTED event starts afresh.
    Values that were written as strings ("nan", "inf") come back as floats, so a broken
    metric reads as nan, never as 0.0.
    """
    kpi: dict[str, float] = {}
    for event in read_status(path):
        if event.get("status") == "STARTED":
            kpi = {}
        if isinstance(event.get("kpi"), dict):
            kpi = event["kpi"]
    out: dict[str, float] = {}
    for key, value in kpi.items():
        name = key[4:] if key.startswith("val/") else key
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            continue
    return out
