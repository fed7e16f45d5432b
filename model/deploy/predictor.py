"""The deploy predictor: evaluate / inference with `onnx_file` (ONNX Runtime) or `trt_engine` (TensorRT).

Same contract as `model.evaluation.predictor`: ImageNet-normalised `[B,3,H,W]` in,
disparity `[B,1,H,W]` (px of the input's width) out, on the CPU. Inputs are fitted
to the engine: resized to its fixed H x W (see `resize.py`), or for dynamic H/W
resized to `<action>.input_height/width` when set, else padded to a multiple of 32
as the PyTorch path does. Batches are split / padded to what the engine accepts.

The export metadata (ONNX `depth_net` entry / engine sidecar) names the network it was
exported from: a spec `model` section that is not the bp2 default, or a checkpoint given
next to it for the drift report, must describe the same network (widths and all), else
a one-line SpecError names the first field that differs. With neither, the spec's
`model` is set to the exported network so that experiment.yaml records what ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model.model_files import resolve_model_file
from model.deploy.resize import resize_pair, restore_disparity
from model.errors import DataError, SpecError

__all__ = ["DeployPredictor", "make_deploy_predictor", "deploy_source", "load_runner", "engine_metadata",
           "check_exported_network", "deploy_metadata"]

_INF = 1 << 30
# NetworkConfig fields that do not shape the exported graph (iterations are baked in separately)
_NOT_IN_GRAPH = ("valid_iters", "train_iters", "mixed_precision", "low_memory", "edgenext_pretrained_path")


def deploy_source(spec: dict, action: str, announce: bool = True) -> tuple[str, Path] | None:
    """("onnx_file" | "trt_engine", resolved file) of `<action>`, or None when neither is set.

    A parent results folder is resolved (and the pick printed); the spec is updated to the file.
    """
    section = spec.get(action) or {}
    keys = [k for k in ("onnx_file", "trt_engine") if section.get(k)]
    if not keys:
        return None
    if len(keys) == 2:
        raise SpecError(f"{action}.onnx_file / {action}.trt_engine: set one of them, not both "
                        f"(got {section['onnx_file']} and {section['trt_engine']})")
    key = keys[0]
    path, note = resolve_model_file(section[key], key, action)
    if note and announce:
        print(note)
    section[key] = str(path)
    if key == "trt_engine":  # its size is checked once it is loaded
        from model.deploy.trt_engine import require_tensorrt

        require_tensorrt(f"{action}.trt_engine")
    else:
        from model.deploy.onnx_runner import check_onnx_signature, onnx_input_shape

        check_onnx_signature(path, f"{action}.onnx_file")
        shape = onnx_input_shape(path, f"{action}.onnx_file")
        _check_input_size(shape[2:] if None not in shape[2:] else None, section, action, key)
    check_exported_network(spec, action, key, deploy_metadata(key, path, action))
    return key, path


def deploy_metadata(key: str, path: Path, action: str) -> dict:
    """The export metadata of the deploy model: the ONNX `depth_net` entry or the engine sidecar."""
    if key == "trt_engine":
        return engine_metadata(path)
    from model.deploy.onnx_runner import read_onnx_metadata

    return read_onnx_metadata(path, f"{action}.onnx_file")


def _exported_config(metadata: dict):
    """The NetworkConfig recorded at export, or None (no / unreadable record: a foreign ONNX)."""
    from model.config import NetworkConfig

    model = metadata.get("model")
    if not isinstance(model, dict):
        return None
    try:
        return NetworkConfig.from_dict(model)
    except (SpecError, TypeError):
        return None


def check_exported_network(spec: dict, action: str, key: str, metadata: dict, checkpoint_cfg=None) -> None:
    """The deploy model's exported network against the spec / the drift checkpoint (module docstring).

    Args:
        checkpoint_cfg: the NetworkConfig `<action>.checkpoint` was loaded with (the drift
            report's network); while it is not loaded yet a drift run is not checked here
            (`model.actions.evaluate.check_model_source` calls again once it is).
    Raises:
        SpecError: a field that shapes the graph differs; names the field and both values.
    """
    exported = _exported_config(metadata)
    if exported is None:
        return
    from model.run_settings import resolve_network_config

    section = spec[action]
    if checkpoint_cfg is not None:
        other, what = checkpoint_cfg, f"{action}.checkpoint"
    elif section.get("checkpoint"):
        return
    else:
        other, what = resolve_network_config(spec, action), "the spec's model section"
        if other is None:
            spec["model"] = exported.to_dict()
            return
    for name in exported.__dataclass_fields__:
        ours, theirs = getattr(exported, name), getattr(other, name)
        if name not in _NOT_IN_GRAPH and ours != theirs:
            raise SpecError(f"{action}.{key}: {Path(section[key]).name} was exported from another network: "
                            f"model.{name} is {_shown(ours)} there but {_shown(theirs)} in {what}; use the matching "
                            f"{'checkpoint' if what.endswith('checkpoint') else 'model section'} or export again")


def _shown(value):
    """A config value as the spec writes it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def engine_metadata(path: Path) -> dict:
    """The export metadata of an engine: `<engine>.json` written by gen_trt_engine ({} if absent)."""
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return {}
    try:
        return json.loads(side.read_text(encoding="utf-8")).get("onnx_metadata", {})
    except (json.JSONDecodeError, AttributeError):
        return {}


def load_runner(key: str, path: Path, gpu_index: int = 0):
    """An OnnxRunner or TrtRunner for the file (both: `runner(left, right) -> disp`, `.shape`)."""
    if key == "onnx_file":
        from model.deploy.onnx_runner import OnnxRunner

        return OnnxRunner(path)
    from model.deploy.trt_runner import TrtRunner

    runner = TrtRunner(path, gpu_index)
    runner.metadata = engine_metadata(path)
    return runner


class DeployPredictor:
    """Fits any input to an engine, runs it, maps the disparity back.

    Args:
        runner: callable `(left, right) -> disparity` with `.shape` ([B,3,H,W], None = dynamic)
            and, for TensorRT, `.profile` ((min, opt, max) shapes).
        input_hw: `<action>.input_height/width` (used only when the engine's H/W is dynamic).
        name: what to call the engine in messages.
    """

    def __init__(self, runner, input_hw: tuple[int, int] | None = None, name: str = "engine") -> None:
        self.runner = runner
        self.name = name
        shape = runner.shape
        self.engine_hw = (shape[2], shape[3]) if shape[2] is not None and shape[3] is not None else None
        self.input_hw = self.engine_hw or input_hw
        profile = getattr(runner, "profile", None)
        if shape[0] is not None:
            self.batch_range = (shape[0], shape[0])
        elif profile:
            self.batch_range = (profile[0][0], profile[2][0])
        else:
            self.batch_range = (1, _INF)
        self.hw_range = ((profile[0][2], profile[2][2]), (profile[0][3], profile[2][3])) if profile else None

    @torch.inference_mode()
    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        size = tuple(left.shape[-2:])
        if self.input_hw is not None:
            left, right = resize_pair(left.float(), right.float(), self.input_hw)
            return restore_disparity(self._run_batches(left, right), size)
        from model.network.padding import InputPadder

        padder = InputPadder(left.shape, divis_by=32)
        left, right = padder.pad(left.float(), right.float())
        return padder.unpad(self._run_batches(left, right))

    def _run_batches(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        self._check_hw(tuple(left.shape[-2:]))
        lo, hi = self.batch_range
        outs = []
        for start in range(0, left.shape[0], hi):
            l, r = left[start:start + hi], right[start:start + hi]
            n = l.shape[0]
            if n < lo:  # a fixed-batch engine: repeat the last pair, drop its outputs
                l = torch.cat([l, l[-1:].expand(lo - n, *l.shape[1:])])
                r = torch.cat([r, r[-1:].expand(lo - n, *r.shape[1:])])
            outs.append(self.runner(l, r)[:n])
        return torch.cat(outs)

    def _check_hw(self, hw: tuple[int, int]) -> None:
        if self.hw_range is None:
            return
        (h_lo, h_hi), (w_lo, w_hi) = self.hw_range
        if not (h_lo <= hw[0] <= h_hi and w_lo <= hw[1] <= w_hi):
            raise DataError(f"{self.name}: input {hw[0]} x {hw[1]} is outside the engine profile "
                            f"(height {h_lo}..{h_hi}, width {w_lo}..{w_hi}); set input_height / input_width "
                            f"within it")


def make_deploy_predictor(spec: dict, action: str) -> DeployPredictor:
    """The predictor of `<action>.onnx_file` / `<action>.trt_engine` (see the module docstring)."""
    from model.run_settings import input_hw

    section = spec[action]
    source = deploy_source(spec, action)
    if source is None:
        raise SpecError(f"{action}.onnx_file / {action}.trt_engine: neither is set")
    key, path = source
    runner = load_runner(key, path, (section.get("gpu_ids") or [0])[0])
    predictor = DeployPredictor(runner, input_hw(section, action), f"{action}.{key}")
    _check_input_size(predictor.engine_hw, section, action, key)
    where = ", ".join(getattr(runner, "providers", [])) or f"TensorRT on {getattr(runner, 'device', 'cuda')}"
    size = "x".join(str(d) for d in predictor.engine_hw) if predictor.engine_hw else "dynamic H/W"
    iters = (getattr(runner, "metadata", None) or {}).get("valid_iters")
    size += f", {iters} iterations" if iters else ""
    print(f"{action}: {path} ({size}) on {where}")
    return predictor


def _check_input_size(engine_hw, section: dict, action: str, key: str) -> None:
    """A fixed-size engine ignores nothing silently: input_height/width must be null or its size."""
    from model.run_settings import input_hw

    asked = input_hw(section, action)
    if engine_hw is not None and asked is not None and asked != tuple(engine_hw):
        eh, ew = engine_hw
        raise SpecError(f"{action}.input_height / {action}.input_width: {asked[0]} x {asked[1]}, but {action}.{key} "
                        f"has a fixed input of {eh} x {ew}; leave them null (inputs are resized to {eh} x {ew})")
