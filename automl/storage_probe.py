"""Read-only checks of an existing storage file before Optuna opens it.

Optuna's RDBStorage creates its tables in whatever SQLite file it is given, so `automl status
--storage people.db` added a dozen tables to a user's own database (a read-only command modifying a
foreign file); its JournalStorage replays every line and fails on the first bad one with a JSON or
assertion traceback. These probes open the file read-only and say in one line what it is instead.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

from model._paths import path_problem
from model.errors import SpecError

__all__ = ["check_storage_path", "probe_sqlite", "probe_journal", "OPTUNA_TABLES"]

#: tables every Optuna RDB storage has (optuna/storages/_rdb/models.py)
OPTUNA_TABLES = ("studies", "version_info", "trials")
_JOURNAL_OPS = range(0, 11)  # optuna.storages.journal JournalOperation: CREATE_STUDY .. DISCARD_TRIALS


def check_storage_path(path: str, key: str = "automl.storage") -> None:
    """SpecError when the storage file path cannot exist: NUL byte, over-long name, or a parent that
    is a regular file (`results.db/study.db`)."""
    problem = path_problem(path)
    if problem:
        raise SpecError(f"{key}: {path!r} {problem}")
    parent = Path(path).absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SpecError(f"{key}: cannot use {path}: {parent} is a file, not a folder")
    if Path(path).is_dir():
        raise SpecError(f"{key}: {path} is a folder; name the storage file (a .db or .log file)")


def probe_sqlite(path: str | Path, key: str = "automl.storage", allow_empty: bool = True) -> None:
    """SpecError unless `path` (an existing file) is an SQLite database holding Optuna's tables.

    Opened with `mode=ro`, so nothing is created or changed, not even a journal file. An empty
    (0-byte) file holds nothing: a new study may start in it (`allow_empty`), a reader finds no study.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        if allow_empty:
            return
        raise SpecError(f"{key}: {path} is an empty file, not an Optuna study storage")
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise SpecError(f"{key}: {path} is not an SQLite database ({exc}); give the .db file of an Optuna "
                        f"study (written by `depth_net automl run`)") from None
    tables = {name for (name,) in rows}
    missing = [t for t in OPTUNA_TABLES if t not in tables]
    if missing:
        found = ", ".join(sorted(tables)[:5]) or "none"
        raise SpecError(f"{key}: {path} is an SQLite database but not an Optuna study storage (no "
                        f"{missing[0]!r} table; its tables: {found}); it is left untouched")


def probe_journal(path: str | Path, key: str = "automl.storage") -> None:
    """SpecError unless every line of the journal file `path` is an Optuna journal operation.

    A torn last line (a write cut short) is what Optuna itself skips, so it is accepted.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    last = len(lines) - 1  # the text after the final newline: empty, or a torn write
    for number, raw in enumerate(lines, start=1):
        if number - 1 == last:
            break
        problem = _journal_line_problem(raw)
        if problem:
            raise SpecError(f"{key}: {path}:{number}: not an Optuna journal file ({problem}); give the .log file "
                            f"of a study written by `depth_net automl run`")


def _journal_line_problem(raw: bytes) -> str | None:
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(entry, dict) or not isinstance(entry.get("op_code"), int) or isinstance(entry["op_code"], bool):
        return "a line without an integer op_code"
    if entry["op_code"] not in _JOURNAL_OPS:
        return f"unknown op_code {entry['op_code']}"
    return None
