"""A restricted unpickler for torch zip checkpoints that never imports or calls pickled code.

Used for files `torch.load(weights_only=True)` refuses, above all the upstream pickled whole module
(`model_best_bp2_serialize.pth`). Policy, by the (module, name) a pickle asks for:
  * torch's tensor rebuild functions and storage types -> our own re-implementations, which build
    tensors from the archive's `data/<key>` records (read with `zipfile`);
  * `collections.OrderedDict` and plain builtin containers / scalars -> the real type;
  * any class from the modules a checkpoint may reference (the model code: core.*, Utils,
    foundation_stereo_ori.*, depth_anything, dinov2, dpt, timm.*, torch.nn.*; training code:
    omegaconf, numpy, lightning, nvidia_tao_pytorch, argparse, pathlib, typing) -> an inert
    placeholder class, created on the fly, that only records its constructor arguments and state;
  * anything else (os.system, builtins.eval, subprocess.Popen, ...) -> `CheckpointError`
    "refusing to unpickle ... (would execute code)".
`module_state_dict(obj)` then walks a placeholder nn.Module tree (`_parameters`, `_buffers`,
`_modules`) into a flat state dict.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from model.errors import CheckpointError

__all__ = ["restricted_load", "module_state_dict", "looks_like_module", "Inert"]

_PLACEHOLDER_ROOTS = (
    "core", "Utils", "foundation_stereo_ori", "depth_anything", "dinov2", "dpt", "timm", "torch.nn",
    "omegaconf", "numpy", "lightning", "pytorch_lightning", "lightning_fabric", "nvidia_tao_pytorch",
    "argparse", "pathlib", "typing",
)
_SAFE_BUILTINS = {
    "set": set, "frozenset": frozenset, "list": list, "dict": dict, "tuple": tuple, "slice": slice,
    "int": int, "float": float, "complex": complex, "bool": bool, "str": str, "bytes": bytes,
    "bytearray": bytearray, "range": range, "object": object,
}
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}


class Inert:
    """Stands in for a pickled class: records constructor arguments and state, runs nothing."""

    _qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_pickle_args"] = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and (state[1] is None or isinstance(state[1], dict)):
            state, slots = state
            if slots:
                self.__dict__.update(slots)
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_pickle_state"] = state

    def __repr__(self) -> str:
        return f"<inert {self._qualname}>"


class _Storage:
    def __init__(self, dtype: torch.dtype, data: bytes) -> None:
        self.dtype = dtype
        self.flat = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.empty(0, dtype=dtype)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise CheckpointError("refusing to unpickle a tensor whose storage is not an archive record")
    if not size:
        return storage.flat[offset].clone()
    return storage.flat.as_strided(tuple(size), tuple(stride), offset)


def _rebuild_parameter(data: torch.Tensor, *_: Any) -> torch.Tensor:
    return data


def _rebuild_from_type(func: Any, _type: Any, args: tuple, _state: Any) -> Any:
    if func not in (_rebuild_tensor, _rebuild_parameter):
        raise CheckpointError("refusing to unpickle a tensor rebuilt by an unknown function")
    return func(*args)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, Inert)):
        raise CheckpointError(f"refusing to unpickle: copyreg._reconstructor of {cls!r} (would execute code)")
    return cls.__new__(cls)


def _encode(text: str, encoding: str = "utf-8") -> bytes:
    """Protocol-2 pickles store bytes as _codecs.encode(str, 'latin1'); only text codecs allowed."""
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "utf8", "ascii"):
        raise CheckpointError(f"refusing to unpickle _codecs.encode with codec {encoding!r}")
    return text.encode(encoding)


_TORCH_FUNCS = {
    ("_codecs", "encode"): _encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self._archive = archive
        self._prefix = prefix
        self._source = source
        self._storages: dict[str, _Storage] = {}
        self._placeholders: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module
        if (module, name) in _TORCH_FUNCS:
            return _TORCH_FUNCS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module == "builtins" and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if any(module == root or module.startswith(root + ".") for root in _PLACEHOLDER_ROOTS):
            qual = f"{module}.{name}"
            if qual not in self._placeholders:
                self._placeholders[qual] = type(name, (Inert,), {"_qualname": qual})
            return self._placeholders[qual]
        raise CheckpointError(f"{self._source}: refusing to unpickle {module}.{name} (would execute code)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise CheckpointError(f"{self._source}: unsupported persistent id {pid!r:.60}")
        dtype, key = pid[1], str(pid[2])
        if not isinstance(dtype, torch.dtype):
            raise CheckpointError(f"{self._source}: storage record {key} has no known dtype")
        if key not in self._storages:
            try:
                raw = self._archive.read(f"{self._prefix}data/{key}")
            except KeyError:
                raise CheckpointError(f"{self._source}: storage record data/{key} is missing") from None
            self._storages[key] = _Storage(dtype, raw)
        return self._storages[key]


def restricted_load(path: Path) -> Any:
    """Unpickle a torch zip checkpoint with the policy above (tensors on CPU)."""
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{source}: not a torch zip checkpoint ({err})") from None
    with archive:
        pkls = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkls:
            raise CheckpointError(f"{source}: zip archive without <name>/data.pkl: not a torch checkpoint")
        prefix = pkls[0][: -len("data.pkl")]
        order = archive.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in archive.namelist() else "little"
        if order != "little":
            raise CheckpointError(f"{source}: byte order {order!r} is not supported (only little-endian)")
        unpickler = _RestrictedUnpickler(archive.read(pkls[0]), archive, prefix, source)
        try:
            return unpickler.load()
        except CheckpointError:
            raise
        except Exception as err:  # malformed pickle stream
            raise CheckpointError(f"{source}: cannot unpickle ({type(err).__name__}: {err})") from None


def module_state_dict(root: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten an unpickled (placeholder) nn.Module tree into {dotted key: tensor}."""
    out: dict[str, torch.Tensor] = {}
    state = getattr(root, "__dict__", {})
    skip = set(state.get("_non_persistent_buffers_set", ()) or ())
    for name, t in (state.get("_parameters") or {}).items():
        if isinstance(t, torch.Tensor):
            out[prefix + name] = t
    for name, t in (state.get("_buffers") or {}).items():
        if isinstance(t, torch.Tensor) and name not in skip:
            out[prefix + name] = t
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state_dict(child, f"{prefix}{name}."))
    return out


def looks_like_module(obj: Any) -> bool:
    """True for an unpickled placeholder that carries nn.Module state."""
    return isinstance(obj, Inert) and isinstance(obj.__dict__.get("_modules"), dict)
