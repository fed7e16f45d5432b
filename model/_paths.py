"""Paths the operating system can hold, checked before any of them is touched.

A NUL byte makes every `os` call raise ValueError, and a name longer than the file system's limit
(255 bytes on ext4, xfs, tmpfs, NFS...) makes even `Path.exists()` raise OSError(ENAMETOOLONG), so a
bad path reached the user as a traceback from wherever it was first looked at. The schema's
`pattern` on path leaves catches the ASCII cases; names are limited in bytes, so non-ASCII names
(UTF-8: up to 4 bytes a character) are measured here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

__all__ = ["NAME_MAX", "PATH_MAX", "path_problem", "spec_path_problem", "missing_file"]

NAME_MAX = 255  # bytes of one name
PATH_MAX = 4096  # bytes of a whole path, its terminating NUL included


def path_problem(value: str) -> str | None:
    """Why the OS cannot hold `value` as a path, or None when it can."""
    if "\0" in value:
        return "contains a NUL byte"
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) >= PATH_MAX:
        return f"is {len(encoded)} bytes long; paths are limited to {PATH_MAX - 1} bytes"
    for part in encoded.split(b"/"):
        if len(part) > NAME_MAX:
            return f"has a name of {len(part)} bytes; names are limited to {NAME_MAX} bytes"
    return None


def missing_file(path: str | Path) -> str:
    """Why `path`, which is not a regular file, cannot be read as one (for an error line)."""
    return "is a folder, not a file" if Path(path).is_dir() else "file not found"


def _path_leaves(schema: dict, node: Any, path: list) -> Iterator[tuple[list, str]]:
    if isinstance(node, dict):
        props = schema.get("properties", {})
        for key, value in node.items():
            yield from _path_leaves(props.get(key, {}), value, path + [key])
    elif isinstance(node, list) and isinstance(schema.get("items"), dict):
        for i, value in enumerate(node):
            yield from _path_leaves(schema["items"], value, path + [i])
    elif isinstance(node, str) and schema.get("format") == "path":
        yield path, node


def spec_path_problem(spec: dict, schema: dict) -> tuple[list, str, str] | None:
    """(key path, value, problem) of the first `format: path` value the OS cannot hold, or None."""
    for path, value in _path_leaves(schema, spec, []):
        problem = path_problem(value)
        if problem:
            return path, value, problem
    return None
