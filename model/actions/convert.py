"""`depth_net convert`: annotation files (train / val / test) from a dataset root.

Files are found with glob patterns relative to `dataset_root`; every wildcard of
a pattern is captured, and the captured values form the sample's key. Left,
right, disparity and mask files are paired by that key (never by sorted
position), so a file missing from one list is reported instead of shifting all
later pairs. Pattern lists pair element-wise (left[i] with right[i] ...).
The split shuffles the sorted keys with a seeded generator.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import yaml

from model.data.datasets import DATASET_NAMES
from model.errors import DataError, SpecError
from model.status import StatusLogger, results_dir_for

__all__ = ["check", "run", "DEFAULT_PATTERNS", "pattern_regex"]

_ROLES = ("left", "right", "disparity", "mask")
_SPLITS = ("train", "val", "test")
_OUTPUTS = (*(f"{split}.txt" for split in _SPLITS), "dataset_spec.yaml")
#: what convert wrote into an output folder (file name -> sha256), so a rerun replaces or removes
#: only its own, unedited files and never a file of the user's that happens to share a name
_MANIFEST = ".depth_net_convert.json"

#: layouts `dataset_name` implies when no pattern is given: (left, right, disparity, mask)
DEFAULT_PATTERNS: dict[str, tuple[str, str, str | None, str | None]] = {
    "Middlebury": ("*/im0.png", "*/im1.png", "*/disp0GT.pfm", "*/mask0nocc.png"),
    "Eth3d": ("*/im0.png", "*/im1.png", "*/disp0GT.pfm", "*/mask0nocc.png"),
    "Kitti": ("image_2/*_10.png", "image_3/*_10.png", "disp_occ_0/*_10.png", None),
    "Crestereo": ("*/*_left.jpg", "*/*_right.jpg", "*/*_left.disp.png", None),
}


def check(spec: dict) -> None:
    """Fail before anything is written (the CLI calls this before creating the results dir).

    Checks `convert.dataset_root` (an existing folder), `dataset_name`, the patterns (each
    matches files, every left file has its partners), `split` and that `output_dir` could be
    created. Raises SpecError / DataError (exit 2), one line.
    """
    cfg = spec.get("convert") or {}
    root = _dataset_root(cfg.get("dataset_root"))
    patterns = _patterns(cfg, _dataset_name(cfg.get("dataset_name", "GenericDataset")))
    _fractions(cfg.get("split", [0.8, 0.1, 0.1]))
    _pair_files(root, patterns)
    if cfg.get("output_dir"):
        _check_creatable(Path(cfg["output_dir"]))
    _check_ours(Path(cfg.get("output_dir") or results_dir_for(spec, "convert")))


def _check_creatable(path: Path) -> None:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"convert.output_dir: cannot create {path} ({probe} is not a writable folder)")


def run(spec: dict, status: StatusLogger) -> dict:
    """Write `train.txt`, `val.txt`, `test.txt` (non-empty splits) and `dataset_spec.yaml`.

    A split file left in `output_dir` by an earlier run is removed when its split is now empty.
    Files of those names that convert did not write (or that were edited since) are never
    replaced or removed: the run stops first (DataError, exit 2).

    Args:
        spec: the resolved spec; reads the `convert` section.
        status: status.json logger (one RUNNING line with the counts).
    Returns:
        {"kpi": {"num_samples", "num_train", "num_val", "num_test"}, "outputs": [files]}.
    """
    cfg = spec.get("convert") or {}
    root = _dataset_root(cfg.get("dataset_root"))
    name = _dataset_name(cfg.get("dataset_name", "GenericDataset"))
    patterns = _patterns(cfg, name)
    fractions = _fractions(cfg.get("split", [0.8, 0.1, 0.1]))
    rows = _pair_files(root, patterns)
    keys = sorted(rows)
    order = np.random.default_rng(int(cfg.get("seed", 0))).permutation(len(keys))
    counts = _split_counts(fractions, len(keys))
    bounds = np.cumsum([0, *counts])
    out_dir = Path(cfg.get("output_dir") or results_dir_for(spec, "convert"))
    _check_ours(out_dir)
    _make_dir(out_dir)
    written: dict[str, str] = {}
    outputs, sources = [], {}
    for split, lo, hi in zip(_SPLITS, bounds[:-1], bounds[1:]):
        members = sorted(keys[i] for i in order[lo:hi])
        path = out_dir / f"{split}.txt"
        if not members:
            _remove_stale(path)  # a previous run's list would overlap this run's splits
            continue
        text = "".join(" ".join(rows[key]) + "\n" for key in members)
        _write_text(path, text)
        written[path.name] = _sha256(text.encode("utf-8"))
        outputs.append(str(path))
        sources[f"{split}_dataset"] = {"data_sources": [{"dataset_name": name, "data_file": str(path)}]}
    snippet = out_dir / "dataset_spec.yaml"
    text = yaml.safe_dump({"dataset": sources}, sort_keys=False)
    _write_text(snippet, text)
    written[snippet.name] = _sha256(text.encode("utf-8"))
    _write_text(out_dir / _MANIFEST, json.dumps({"files": written}, indent=1) + "\n")
    outputs.append(str(snippet))
    kpi = {"num_samples": len(keys), **{f"num_{s}": int(c) for s, c in zip(_SPLITS, counts)}}
    text = f"convert: {len(keys)} samples from {root} -> " + ", ".join(f"{s} {c}" for s, c in zip(_SPLITS, counts))
    status.write("RUNNING", text)
    print(f"{text} (files in {out_dir}; dataset section: {snippet})")
    return {"kpi": kpi, "outputs": outputs}


def pattern_regex(pattern: str) -> re.Pattern:
    """Regex for a glob relative to the root, with one capture group per wildcard.

    `**/` (any number of folders), `**`, `*` (within one folder), `?` and `[...]` are
    captured; everything else must match literally.
    """
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("((?:[^/]*/)*)")
            i += 3
        elif pattern.startswith("**", i):
            out.append("(.*)")
            i += 2
        elif pattern[i] == "*":
            out.append("([^/]*)")
            i += 1
        elif pattern[i] == "?":
            out.append("([^/])")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("([" + body.replace("\\", "\\\\") + "])")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _dataset_root(value) -> Path:
    if not value:
        raise SpecError("convert.dataset_root: required (the folder the patterns are relative to)")
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DataError(f"convert.dataset_root: {str(value)!r} is not an existing folder")
    return root.resolve()


def _dataset_name(value) -> str:
    for name in DATASET_NAMES:
        if isinstance(value, str) and name.lower() == value.lower() and name != "Synthetic":
            return name
    valid = ", ".join(n for n in DATASET_NAMES if n != "Synthetic")
    raise SpecError(f"convert.dataset_name: {value!r} is not a file-based dataset; valid names: {valid}")


def _as_list(value, key: str) -> list[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not values or not all(isinstance(v, str) and v for v in values):
        raise SpecError(f"convert.{key}: {value!r} must be a glob pattern or a non-empty list of them")
    return list(values)


def _patterns(cfg: dict, name: str) -> dict[str, list[str] | None]:
    given = {role: _as_list(cfg.get(f"{role}_pattern"), f"{role}_pattern") for role in _ROLES}
    if given["left"] is None and given["right"] is None:
        if name not in DEFAULT_PATTERNS:
            raise SpecError(f"convert.left_pattern: required for dataset_name {name} (no default layout; "
                            f"defaults exist for {', '.join(DEFAULT_PATTERNS)})")
        defaults = DEFAULT_PATTERNS[name]
        given = {role: given[role] or (None if d is None else [d]) for role, d in zip(_ROLES, defaults)}
    for role in ("left", "right"):
        if given[role] is None:
            raise SpecError(f"convert.{role}_pattern: required when the other patterns are given")
    count = len(given["left"])
    for role in _ROLES[1:]:
        pats = given[role]
        if pats is None:
            continue
        if len(pats) != count:
            raise SpecError(f"convert.{role}_pattern: {len(pats)} pattern(s), but left_pattern has {count}; "
                            "lists pair element-wise")
        for i, (left, other) in enumerate(zip(given["left"], pats)):
            if other == left:
                raise SpecError(f"convert.{role}_pattern: {other!r} is the left pattern too: every left image "
                                f"would be paired with itself; give the {role} files' own pattern")
            n_left, n_other = pattern_regex(left).groups, pattern_regex(other).groups
            if n_left != n_other:
                raise SpecError(f"convert.{role}_pattern: {other!r} has {n_other} wildcard(s) but left pattern "
                                f"{left!r} has {n_left}; they must capture the same parts of the path")
    return given


def _fractions(value) -> list[float]:
    if isinstance(value, dict):
        value = [value.get(s, 0.0) for s in _SPLITS]
    ok = (isinstance(value, (list, tuple)) and len(value) == 3
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value))
    if not ok or abs(sum(value) - 1.0) > 1e-6:
        raise SpecError(f"convert.split: {value!r} must be three fractions [train, val, test] >= 0 summing to 1")
    return [float(v) for v in value]


def _split_counts(fractions: list[float], total: int) -> list[int]:
    """Largest-remainder rounding, so the counts add up to `total`."""
    exact = np.asarray(fractions) * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return [int(c) for c in counts]


def _find(root: Path, pattern: str, index: int, role: str) -> dict[tuple, str]:
    regex = pattern_regex(pattern)
    found: dict[tuple, str] = {}
    # root_dir keeps the root literal: "[", "*" or "?" in its name are not wildcards
    for relative in glob.glob(pattern, root_dir=root, recursive=True):
        path = str(root / relative)
        if not os.path.isfile(path):
            continue
        match = regex.fullmatch(Path(relative).as_posix())
        if match is None:  # e.g. a hidden file glob matched differently
            continue
        found[(index, *match.groups())] = path
    if not found:
        raise DataError(f"convert.{role}_pattern: {pattern!r} matches no file under {root}")
    return found


def _pair_files(root: Path, patterns: dict[str, list[str] | None]) -> dict[tuple, list[str]]:
    found = {role: {} for role in _ROLES if patterns[role] is not None}
    for role in found:
        for index, pattern in enumerate(patterns[role]):
            found[role].update(_find(root, pattern, index, role))
    rows: dict[tuple, list[str]] = {}
    for key, left in found["left"].items():
        row = [left]
        for role in _ROLES[1:]:
            if role not in found:
                continue
            if key not in found[role]:
                pattern = patterns[role][key[0]]
                raise DataError(f"{left}: no {role} file for it under {root} (pattern {pattern!r}, "
                                f"wildcards {list(key[1:])})")
            row.append(found[role][key])
        for path in row:
            if any(ch.isspace() for ch in path):
                raise DataError(f"{path}: annotation files are whitespace separated; rename files with blanks")
        rows[key] = row
    return rows


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_ours(out_dir: Path) -> None:
    """DataError unless every existing train/val/test.txt and dataset_spec.yaml in `out_dir` is
    a file an earlier convert wrote there and nobody edited since (sha256 in the manifest)."""
    try:
        owned = json.loads((out_dir / _MANIFEST).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        owned = {}
    if not isinstance(owned, dict):
        owned = {}
    for name in _OUTPUTS:
        path = out_dir / name
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_symlink() or not path.is_file():
            raise DataError(f"convert.output_dir: {path} is in the way (not a regular file); "
                            "move it or choose another output_dir")
        try:
            digest = _sha256(path.read_bytes())
        except OSError as exc:
            raise DataError(f"convert.output_dir: cannot read {path} ({exc.strerror})") from None
        if owned.get(name) != digest:
            raise DataError(f"convert.output_dir: {path} was not written by depth_net convert (or was edited "
                            "since); it is left as it is: move it or choose another output_dir")


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"convert.output_dir: cannot create {path} ({exc.strerror})") from None


def _remove_stale(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot remove the previous run's split file ({exc.strerror})") from None


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror})") from None
