"""Annotation files: one sample per line, `left right [disparity [mask]]`."""

from __future__ import annotations

import os
from pathlib import Path

from model.errors import DataError

__all__ = ["read_annotation_file", "read_annotation_lines"]


def read_annotation_lines(
    path: str | Path, min_cols: int = 2, max_cols: int = 4
) -> list[tuple[int, list[str]]]:
    """Like `read_annotation_file`, but also returns each row's 1-based line number."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; data_file must name an annotation file (one pair per line)")
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors may add a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read annotation file ({exc})") from None
    folder = path.resolve().parent
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        columns = stripped.split()
        if not min_cols <= len(columns) <= max_cols:
            raise DataError(f"{path}:{number}: expected {min_cols}-{max_cols} columns, got {len(columns)}")
        rows.append((number, [os.path.normpath(folder / os.path.expanduser(c)) for c in columns]))
    if not rows:
        raise DataError(f"{path}: annotation file has no samples (only blank or '#' lines)")
    return rows


def read_annotation_file(path: str | Path, min_cols: int = 2, max_cols: int = 4) -> list[list[str]]:
    """Read an annotation file into rows of absolute paths.

    Args:
        path: the file; blank lines and lines starting with '#' are skipped,
            relative paths resolve against the file's folder.
        min_cols: fewest columns a line may have.
        max_cols: most columns a line may have.
    Returns:
        one list of absolute paths per sample line.
    """
    return [columns for _, columns in read_annotation_lines(path, min_cols, max_cols)]
