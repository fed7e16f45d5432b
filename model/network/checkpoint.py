"""Reading network weights from every checkpoint format, and strict loading into a network.

Formats (`read_state_dict`):
  * a plain state dict {key: tensor} (e.g. the golden fp16 weights, TAO layout);
  * a TAO / Lightning checkpoint: {"state_dict": {"model.<key>": ...}, "pytorch-lightning_version", ...};
  * our training checkpoint: {"state_dict": {"model.<native key>": ...}, "spec": {...}, ...};
  * the upstream pickled whole module (`model_best_bp2_serialize.pth`), read by `safe_unpickle`.
Files are first tried with `torch.load(weights_only=True)`; what that refuses goes through the
restricted unpickler, which never imports or runs pickled code. Keys are mapped to the native
layout by `key_layout.to_native_key` (the only place that knows the TAO names).
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from model.config import NetworkConfig
from model.errors import CheckpointError, SpecError
from model.network.key_layout import TAP_OFFSETS_KEY, is_unused_bp2_key, to_native_key
from model.network.safe_unpickle import looks_like_module, module_state_dict, restricted_load
from model.network.width_fields import width_field

__all__ = [
    "read_state_dict",
    "read_checkpoint",
    "load_network_weights",
    "load_network_from_checkpoint",
    "read_backbone_state_dict",
    "assign_strict",
]


def _load_object(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        try:
            with warnings.catch_warnings():  # a legacy (non-zip) pickle: the error line below says it all
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            return restricted_load(path)  # refuses anything that would run code
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - a junk file fails in many ways (IndexError, struct.error, ...)
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(err).__name__}: {err})"[:400]) from None


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def _extract(obj: Any, source: str) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(raw state dict, spec or None) from whatever the file held."""
    if looks_like_module(obj):
        return module_state_dict(obj), None
    if isinstance(obj, Mapping):
        if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
            state = dict(obj["state_dict"])
            spec = obj.get("spec") if isinstance(obj.get("spec"), Mapping) else None
            if any(k.startswith("model.") for k in state):  # Lightning: keep the network's entries
                state = {k: v for k, v in state.items() if k.startswith("model.")}
            return _tensors_only(state, source), spec
        for key in ("model", "module", "net"):
            if key in obj and (looks_like_module(obj[key]) or _is_tensor_dict(obj[key])):
                return _extract(obj[key], source)
        if _is_tensor_dict(obj):
            return dict(obj), None
    raise CheckpointError(f"{source}: holds no network state dict (got {type(obj).__name__})")


def _tensors_only(state: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{source}: state_dict entry '{k}' is a {type(v).__name__}, not a tensor")
    return dict(state)


def to_native(state: Mapping[str, torch.Tensor], source: str = "state dict") -> dict[str, torch.Tensor]:
    """Convert every key to the native layout; two keys landing on one name is an error."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        native = to_native_key(key)
        if native in out:
            raise CheckpointError(f"{source}: keys map onto the same entry '{native}' (mixed layouts?)")
        out[native] = value
    return out


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(state dict in native keys, the resolved spec stored with it or None)."""
    from model.network.builtin import builtin_file, read_weights

    path = builtin_file(path, "checkpoint") or Path(path)
    if path.suffix == ".safetensors":  # weights as data (the shipped `builtin`): nothing unpickled
        if not path.is_file():
            raise CheckpointError(f"{path}: checkpoint file not found")
        state, spec = read_weights(path)
        return to_native(state, str(path)), spec
    state, spec = _extract(_load_object(path), str(path))
    return to_native(state, str(path)), spec


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Every entry of a checkpoint of any supported format, keys in the native layout."""
    return read_checkpoint(path)[0]


def _check_tap_offsets(value: torch.Tensor, cfg: NetworkConfig, source: str) -> None:
    r = cfg.corr_radius
    want = torch.arange(-r, r + 1).reshape(1, 1, -1, 1)
    if tuple(value.shape) != tuple(want.shape) or not torch.equal(value.to(torch.int64), want):
        raise CheckpointError(
            f"{source}: key '{TAP_OFFSETS_KEY}' has shape {list(value.shape)} but the network expects "
            f"{list(want.shape)} = -{r}..{r} (sized by model.corr_radius)"
        )


def load_network_weights(net: nn.Module, source: str | Path | Mapping[str, torch.Tensor],
                         cfg: NetworkConfig | None = None, name: str | None = None) -> None:
    """Strictly load weights into `net` (any format / layout; floats converted to the net's dtype).

    The 197 never-used bp2 entries are dropped, `dx` is checked against corr_radius; any other
    unknown or missing key, or a shape mismatch, raises CheckpointError naming the key (and for a
    shape mismatch both shapes and the width field that sizes it); so do integer values for a
    float entry and NaN / inf values. `cfg` defaults to `net.cfg`; `name` is what errors call a
    mapping `source` (its file, when the caller read it).
    """
    cfg = cfg if cfg is not None else net.cfg
    if isinstance(source, Mapping):
        name, state = name or "state dict", to_native(source)
    else:
        name, state = str(source), read_state_dict(source)
    state = dict(state)
    if TAP_OFFSETS_KEY in state:
        _check_tap_offsets(state.pop(TAP_OFFSETS_KEY), cfg, name)
    state = {k: v for k, v in state.items() if not is_unused_bp2_key(k)}
    assign_strict(net, state, expected=net.state_dict(), source=name)


def assign_strict(module: nn.Module, state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                  source: str) -> None:
    """Check keys and shapes of `state` against `expected`, then copy into `module`."""
    for key in state:
        if key not in expected:
            raise CheckpointError(f"{source}: unexpected key '{key}' (the configured network has no such entry)")
    for key, want in expected.items():
        if key not in state:
            raise CheckpointError(f"{source}: missing key '{key}' (shape {list(want.shape)})")
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{source}: key '{key}' has shape {list(got.shape)} in the checkpoint but "
                f"{list(want.shape)} in the network (sized by {width_field(key, got.shape, want.shape)})"
            )
        if want.is_floating_point():
            if not got.is_floating_point():
                raise CheckpointError(f"{source}: key '{key}' holds {str(got.dtype).removeprefix('torch.')} "
                                      "values where the network has floats; not a weights file of this network")
            if not bool(torch.isfinite(got).all()):
                raise CheckpointError(f"{source}: key '{key}' holds NaN or inf values; the weights are broken "
                                      "(a diverged training?): use an earlier checkpoint")
    module.load_state_dict(dict(state), strict=False)


def load_network_from_checkpoint(path: str | Path, cfg: NetworkConfig | None = None) -> tuple[nn.Module, NetworkConfig]:
    """Build a network and load `path` into it; returns (net in eval mode, cfg).

    With `cfg=None` the config comes from the checkpoint's spec (our training checkpoints), else bp2.
    """
    from model.network import build_network  # local: model.network imports this module's siblings

    state, spec = read_checkpoint(path)
    if cfg is None:
        model_spec = spec.get("model") if spec else None
        try:
            cfg = NetworkConfig.from_dict(model_spec) if isinstance(model_spec, Mapping) else NetworkConfig()
        except SpecError as err:
            raise CheckpointError(f"{path}: the stored spec is invalid: {err}") from None
    net = build_network(cfg)
    load_network_weights(net, state, cfg, name=str(path))
    net.eval()
    return net, cfg


def read_backbone_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """EdgeNeXt-Small weights (timm or TAO names, optional 'state_dict' / 'model' wrapper) keyed
    relative to the backbone (`stem.*`, `stages.*`); a classifier head is dropped."""
    path = Path(path)
    state, _ = _extract(_load_object(path), str(path))
    out = {}
    for key, value in state.items():
        key = key.removeprefix("model.").removeprefix("module.").removeprefix("feature.")
        native = to_native_key("feature." + key)
        if native.startswith(("feature.stem.", "feature.stages.")):
            out[native[len("feature."):]] = value
    if not out:
        raise CheckpointError(f"{path}: no EdgeNeXt 'stem.*' / 'stages.*' entries found")
    return out
