"""Predictors: callables `(left, right) -> disparity` used by evaluate and inference.

A predictor takes ImageNet-normalised `[B,3,H,W]` float32 images of any size
and returns the disparity `[B,1,H,W]` (px, full resolution, same H x W) on the
CPU. `make_predictor(spec, action)` is the one dispatch point: a checkpoint
gives the PyTorch predictor here; `onnx_file` / `trt_engine` are handed to
`model.deploy.make_deploy_predictor(spec, action)` (same contract), which
resizes to the engine size and scales the disparity back by the width ratio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from model.errors import CheckpointError, ExportError, SpecError
from model.run_settings import input_hw, resolve_network_config  # re-exported: callers import them from here

__all__ = ["Predictor", "make_predictor", "TorchPredictor", "load_network", "resolve_network_config", "other_network_note",
           "pick_device", "input_hw"]

Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]



def pick_device(section: dict, action: str = "evaluate") -> torch.device:
    """cuda:<gpu_ids[0]> when CUDA is present, else the CPU; a GPU index this machine lacks is a SpecError."""
    if torch.cuda.is_available():
        index = int((section.get("gpu_ids") or [0])[0])
        count = torch.cuda.device_count()
        if index >= count:
            raise SpecError(f"{action}.gpu_ids: GPU {index} does not exist; this machine has {count} "
                            f"(allowed 0..{count - 1})")
        return torch.device(f"cuda:{index}")
    return torch.device("cpu")


def _checkpoint_path(spec: dict, action: str) -> Path:
    path = (spec.get(action) or {}).get("checkpoint")
    if not path:
        raise CheckpointError(f"{action}.checkpoint: required; set it to a .pth file "
                              f"(e.g. {action}.checkpoint=runs/exp/train/dn_model_latest.pth)")
    from model.model_files import resolve_model_file  # a results folder names its checkpoint

    p, note = resolve_model_file(path, "checkpoint", action)
    if note:
        print(note)
        spec[action]["checkpoint"] = str(p)
    return p


def load_network(spec: dict, action: str):
    """(net in eval mode, cfg) from `<action>.checkpoint`; CheckpointError (one line) when it does not fit."""
    path = _checkpoint_path(spec, action)
    from model.network.checkpoint import load_network_from_checkpoint

    net, cfg = load_network_from_checkpoint(str(path), resolve_network_config(spec, action))
    return net.eval(), cfg


def other_network_note(spec: dict, cfg, where: str) -> str | None:
    """One line when the network built (`cfg`, from the checkpoint's own spec) is not the spec's `model`
    section, naming the first fields that differ; None when they agree. The actions' `check` prints it
    once every check has passed (a refused run stays one error line)."""
    from dataclasses import fields

    from model.config import NetworkConfig

    wanted = NetworkConfig.from_dict(spec.get("model"), prefix="model")
    diffs = [f"{f.name} {_show(getattr(cfg, f.name))} (spec {_show(getattr(wanted, f.name))})"
             for f in fields(cfg) if getattr(cfg, f.name) != getattr(wanted, f.name)]
    if not diffs:
        return None
    more = f", and {len(diffs) - 4} more" if len(diffs) > 4 else ""
    return (f"note: {where} holds a network of other widths than the spec's model section "
            f"({', '.join(diffs[:4])}{more}); running the checkpoint's network")


def _show(value) -> str:
    return str(list(value)) if isinstance(value, tuple) else str(value)


class TorchPredictor:
    """PyTorch inference: optional resize to (input_height, input_width), pad to /32, run, unpad.

    Args:
        net: the network (eval mode).
        device: where to run it.
        iters: GRU iterations (None = the network's valid_iters).
        input_hw: resize inputs to this (H, W) and scale the disparity back; None keeps the size.
        precision: "fp32", "bf16" or "fp16" (autocast; CUDA only).
        runtime: "eager", "compile" or "cudagraph" (see model/evaluation/runtime.py).
        key: the spec section named in errors.
    """

    def __init__(self, net: torch.nn.Module, device: torch.device, iters: int | None = None,
                 input_hw: tuple[int, int] | None = None, precision: str = "fp32",
                 runtime: str = "eager", key: str = "evaluate") -> None:
        from model.evaluation.runtime import FastForward
        from model.network.padding import InputPadder

        self.net = net.to(device).eval()
        self.device = device
        self.iters = iters
        self.input_hw = input_hw
        self.forward = FastForward(self.net, runtime, precision, iters, key=key, device=device, inplace=True)
        self._padder_cls = InputPadder

    @torch.inference_mode()
    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        height, width = left.shape[-2:]
        left, right = left.to(self.device), right.to(self.device)
        if self.input_hw is not None:
            left, right = (F.interpolate(t, size=self.input_hw, mode="bilinear", align_corners=False)
                           for t in (left, right))
        padder = self._padder_cls(left.shape, divis_by=32)
        left_p, right_p = padder.pad(left, right)
        disp = self.forward(left_p, right_p)  # [B,1,H',W'] fp32
        disp = padder.unpad(disp.float())
        if self.input_hw is not None:
            # Disparity is a horizontal distance: resizing the width rescales it.
            disp = F.interpolate(disp, size=(height, width), mode="bilinear", align_corners=False)
            disp = disp * (width / self.input_hw[1])
        return disp.cpu()


def make_predictor(spec: dict, action: str) -> Predictor:
    """The predictor for `<action>` (evaluate / inference): checkpoint, ONNX file or TensorRT engine."""
    section = spec.get(action) or {}
    if section.get("onnx_file") or section.get("trt_engine"):
        try:
            from model.deploy import make_deploy_predictor
        except ImportError:
            key = "onnx_file" if section.get("onnx_file") else "trt_engine"
            raise ExportError(f"{action}.{key}: running ONNX / TensorRT models is not available in this build "
                              f"(model.deploy.make_deploy_predictor is missing); use {action}.checkpoint") from None
        return make_deploy_predictor(spec, action)
    net, _ = load_network(spec, action)
    return TorchPredictor(net, pick_device(section, action), None, input_hw(section, action),
                          section.get("precision", "fp32"), section.get("runtime", "eager"), key=action)
