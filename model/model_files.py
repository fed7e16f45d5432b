"""Parent results folders: `<action>.checkpoint` / `onnx_file` / `trt_engine` may name a folder.

A chained action can point at the previous action's results folder instead of a file:

| key        | looks in (first folder that holds a candidate wins)  | preferred name       |
|------------|------------------------------------------------------|----------------------|
| checkpoint | `.`, `train/`, `best/`, `best/train/`                | `dn_model_latest.pth`|
| onnx_file  | `.`, `export/`, `best/`, `best/export/`              | the only `*.onnx`    |
| trt_engine | `.`, `gen_trt_engine/`, `best/`, `best/gen_trt_engine/` | the only `*.engine` |

So a train results dir gives its `dn_model_latest.pth`, a results root its `train/`
checkpoint, an AutoML study dir its `best/` checkpoint, an export dir its ONNX file.
In a folder without the preferred name, exactly one candidate is picked; several are
ambiguous; none anywhere is empty. Both are one-line errors naming the folder.
"""

from __future__ import annotations

from pathlib import Path

from model.errors import CheckpointError, DataError, DepthNetError

__all__ = ["resolve_model_file", "PARENT_RULES"]

# key -> (file suffix, preferred file name or None, sub-folders searched in order)
PARENT_RULES: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "checkpoint": (".pth", "dn_model_latest.pth", (".", "train", "best", "best/train")),
    "onnx_file": (".onnx", None, (".", "export", "best", "best/export")),
    "trt_engine": (".engine", None, (".", "gen_trt_engine", "best", "best/gen_trt_engine")),
}

_WHAT = {".": "the folder itself", "train": "its train/ results", "export": "its export/ results",
         "gen_trt_engine": "its gen_trt_engine/ results", "best": "the AutoML study's best/ folder",
         "best/train": "the AutoML study's best/train/", "best/export": "the AutoML study's best/export/",
         "best/gen_trt_engine": "the AutoML study's best/gen_trt_engine/"}


def _error(key: str) -> type[DepthNetError]:
    return CheckpointError if key == "checkpoint" else DataError


def _candidates(folder: Path, suffix: str) -> list[Path]:
    """Files with `suffix` in `folder`, leaving out temporaries (`.name`) and failed exports."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == suffix
                  and not p.name.startswith(".") and not p.name.endswith(".failed" + suffix))


def resolve_model_file(value: str | Path, key: str, action: str, name: str | None = None) -> tuple[Path, str | None]:
    """The model file `<action>.<key>` names: the file itself, or the one picked in a parent folder.

    Args:
        value: the spec value (a file or a folder).
        key: "checkpoint", "onnx_file" or "trt_engine".
        action: the action whose section holds the key (for messages).
        name: the spec key's own name when it is not `key` (e.g. `pretrained_model_path`).
    Returns:
        (file path, a one-line note saying which file was picked and why; None for a plain file).
    Raises:
        CheckpointError (checkpoint) / DataError (onnx_file, trt_engine): missing path, an
        ambiguous folder (several candidates) or an empty one (no candidate).
    """
    suffix, preferred, subdirs = PARENT_RULES[key]
    path = Path(value)
    where = f"{action}.{name or key}"
    if path.is_file():
        return path, None
    if key == "checkpoint":  # `builtin`: the shipped weights
        from model.network.builtin import builtin_file

        shipped = builtin_file(value, where)
        if shipped is not None:
            return shipped, None
    if not path.exists():
        raise _error(key)(f"{where}: {value}: file not found (nor a results folder)")
    for sub in subdirs:
        folder = path / sub if sub != "." else path
        if preferred and (folder / preferred).is_file():
            return _picked(where, value, folder / preferred, sub)
        found = _candidates(folder, suffix)
        if len(found) == 1:
            return _picked(where, value, found[0], sub)
        if len(found) > 1:
            names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
            raise _error(key)(f"{where}: folder {folder} is ambiguous: {len(found)} {suffix} files ({names}); "
                              f"name the file instead")
    looked = ", ".join(f"{s}/" if s != "." else "./" for s in subdirs)
    want = preferred or f"one {suffix} file"
    raise _error(key)(f"{where}: folder {value} holds no {want} (looked in {looked}); "
                      f"name a {suffix} file or the results folder that wrote it")


def _picked(where: str, value: str | Path, file: Path, sub: str) -> tuple[Path, str]:
    return file, f"{where}: {value} is a folder; using {file} ({_WHAT[sub]})"
