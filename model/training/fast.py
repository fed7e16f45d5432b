"""The fast training runtime (`train.runtime: compile`): the same network, compiled by region.

What `prepare_training_network(net, runtime)` changes, in place and without touching the
state dict (checkpoints stay as they are):

* `compile`: the stages before the GRU loop (backbone, volume stem, cost aggregation,
  classifier, context net) are compiled module by module (`nn.Module.compile`, which keeps the
  parameter names), and one GRU iteration (geometry lookup + update block + upsampling,
  `FastFoundationStereo._iteration`) is compiled once and reused by all `train_iters`
  iterations: Inductor fuses the many small element-wise kernels of the step (the launch- and
  bandwidth-bound part of training) in forward and backward, and the compile takes seconds
  per region instead of minutes for a graph unrolled over 22 iterations.
* `recompute` (any runtime): each iteration's activations are recomputed in the backward pass
  instead of kept (activation checkpointing), so the 22 iterations hold only their inputs: the
  memory of a step no longer grows with `train_iters`.

`eager` leaves the network as built (the CPU path and the reference the fast one is measured
against). `fused_optimizer_ok(params)` says whether the fused AdamW kernel applies (every
parameter on CUDA).
"""

from __future__ import annotations

import os
from collections.abc import Iterable


import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["TRAIN_RUNTIMES", "MEMORY_FRACTION_ENV", "prepare_training_network", "resolve_runtime",
           "fused_optimizer_ok", "apply_memory_fraction"]

#: the share of its GPU's memory a training process may use (set by automl.mps for shared GPUs)
MEMORY_FRACTION_ENV = "DEPTH_NET_GPU_MEMORY_FRACTION"

TRAIN_RUNTIMES = ("auto", "eager", "compile")
#: the stages before the GRU loop, compiled one by one (each runs once per step)
_ENCODER_STAGES = ("feature", "stem_2", "corr_feature_att", "cost_agg", "classifier", "cnet")


def resolve_runtime(runtime: str, device_type: str) -> str:
    """`auto` -> `compile` on CUDA, `eager` elsewhere; `compile` on a CPU runs eager (said by the caller)."""
    if runtime == "auto":
        return "compile" if device_type == "cuda" else "eager"
    if runtime == "compile" and device_type != "cuda":
        return "eager"
    return runtime


def prepare_training_network(net: torch.nn.Module, runtime: str, recompute: bool = False) -> torch.nn.Module:
    """Set up `net` (a FastFoundationStereo) for training with `runtime` (`eager` / `compile`).

    Args:
        net: the network, already on its device.
        runtime: `eager` or `compile` (resolved, see `resolve_runtime`).
        recompute: recompute each GRU iteration in the backward pass (activation checkpointing).
    Returns:
        `net` itself (changed in place; its state dict keys are unchanged).
    """
    if runtime not in ("eager", "compile"):
        raise ValueError(f"training runtime {runtime!r} is not one of ['eager', 'compile']")
    iteration = net._iteration
    if runtime == "compile":
        for name in _ENCODER_STAGES:
            getattr(net, name).compile(dynamic=False)
        iteration = torch.compile(iteration, dynamic=False)
    if recompute:
        inner = iteration

        def iteration(*args):  # noqa: E306 - the wrapper must close over `inner`
            return checkpoint(inner, *args, use_reentrant=False)

    net.train_iteration = iteration if (runtime == "compile" or recompute) else None
    return net


def fused_optimizer_ok(params: Iterable[torch.nn.Parameter]) -> bool:
    """True when every parameter is a CUDA floating tensor (the fused AdamW kernel's requirement)."""
    params = list(params)
    return bool(params) and all(p.is_cuda and p.is_floating_point() for p in params)


def apply_memory_fraction() -> float | None:
    """Cap this process's GPU memory at `DEPTH_NET_GPU_MEMORY_FRACTION` when set; the fraction or None."""
    value = os.environ.get(MEMORY_FRACTION_ENV)
    if not value or not torch.cuda.is_available():
        return None
    fraction = float(value)
    torch.cuda.set_per_process_memory_fraction(fraction)
    return fraction
