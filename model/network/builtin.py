"""depth_net's own shipped weights: `checkpoint: builtin` wherever a checkpoint is accepted.

The weights are data, never code: an fp16 safetensors file installed with the package
(`model/weights/`), whose metadata carries the network config (`model`, JSON) and a short
provenance (`card`: data, steps, GPU minutes). Reading it unpickles nothing.

`builtin_file(value, key)` turns a spec value into the file it names: `builtin` -> the shipped
file; any other bare word that is not an existing path -> a one-line error listing the known
names. `save_weights(state_dict, path, cfg, card)` writes the format (fp16, atomically).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from model.errors import CheckpointError

__all__ = ["BUILTIN_WEIGHTS", "WEIGHTS_DIR", "builtin_file", "is_weight_name", "read_card", "read_metadata",
           "read_weights", "save_weights"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: name -> file in WEIGHTS_DIR
BUILTIN_WEIGHTS = {"builtin": "ffs_bp2_builtin.safetensors"}
FORMAT = "depth_net-ffs-weights-1"


def is_weight_name(value: str | Path) -> bool:
    """A bare word (no folder, no suffix) that is not an existing path: a weights name."""
    text = str(value)
    return bool(text) and not Path(text).exists() and "/" not in text and os.sep not in text and "." not in text


def builtin_file(value: str | Path, key: str) -> Path | None:
    """The shipped file `value` names, or None when `value` is a path (not a name).

    Raises:
        CheckpointError: an unknown name (listing the known ones), or a known one whose file is missing.
    """
    if not is_weight_name(value):
        return None
    name = str(value)
    if name not in BUILTIN_WEIGHTS:
        raise CheckpointError(f"{key}: {name!r} is neither a file nor a built-in weights name "
                              f"(known: {', '.join(sorted(BUILTIN_WEIGHTS))}; or give a .pth / .safetensors path)")
    path = WEIGHTS_DIR / BUILTIN_WEIGHTS[name]
    if not path.is_file():
        raise CheckpointError(f"{key}: the built-in weights {name!r} are not installed ({path} is missing; "
                              f"reinstall depth_net)")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a safetensors file (`format`, `model`, `card`); the tensors are not read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})"[:400]) from None


def read_card(path: str | Path) -> dict:
    """The campaign card stored with a weights file ({} when it has none)."""
    return json.loads(read_metadata(path).get("card") or "{}")


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(state dict, spec-like dict {'model': ...} or None) of a safetensors weights file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})"[:400]) from None
    spec = None
    if meta.get("model"):
        try:
            spec = {"model": json.loads(meta["model"])}
        except json.JSONDecodeError:
            raise CheckpointError(f"{path}: metadata 'model' is not JSON") from None
    return state, spec


def save_weights(state: Mapping[str, torch.Tensor], path: str | Path, model: dict, card: dict | None = None) -> Path:
    """Write `state` as fp16 safetensors (integer buffers kept), with the network config as metadata.

    Args:
        state: a network state dict (native keys).
        path: the .safetensors file to write (replaced atomically).
        model: the network config (`NetworkConfig.to_dict()`), stored as JSON metadata.
        card: short provenance facts (JSON-able), stored as metadata `card`.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().cpu()
               for k, v in state.items()}
    meta = {"format": FORMAT, "model": json.dumps(model, sort_keys=True)}
    if card:
        meta["card"] = json.dumps(card, sort_keys=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
