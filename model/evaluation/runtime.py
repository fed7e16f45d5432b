"""Fast inference runtimes for the PyTorch network: eager, torch.compile, CUDA graphs.

`FastForward(net, runtime, precision, iters)` is a callable `(left, right) -> disparity`
over padded inputs (H, W multiples of 32). It is the same network modules in every
mode; only how the forward is launched changes:

* `eager`     - plain PyTorch (any device);
* `compile`   - `torch.compile` with Inductor's CUDA graphs (what `mode="reduce-overhead"` sets)
                and its layout optimisation off (`COMPILE_OPTIONS`), shapes static per input
                size; the first call per size compiles (tens of seconds);
* `cudagraph` - the whole forward (all GRU iterations) captured once per input shape
                into a CUDA graph and replayed: the forward is launch-bound (hundreds
                of small kernels per iteration), and replay removes the CPU launch cost.

Precision `bf16` / `fp16` runs the convolutions under autocast; the network keeps the
cosine volume, the soft-argmin, the geometry lookups and the disparity accumulation
in fp32 (see `stereo_net.py`), which is what holds accuracy.

With `optimize=True` (the default) the network is first rewritten for inference
(`model/network/fusion.py`): BatchNorms folded into their convs, and for half precision the
conv / linear weights cast once; `compile` at half precision also runs channels-last with
odd channel counts padded to multiples of 8 and the 1x3x3 / classifier 3D convs as 2D convs
(all exact rewrites). `inplace=False` does that on a copy and leaves `net` as is.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Callable

import torch

from model.errors import SpecError

__all__ = ["FastForward", "check_mode", "RUNTIMES", "PRECISIONS"]

RUNTIMES = ("eager", "compile", "cudagraph")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

#: Inductor options for `compile`: `mode="reduce-overhead"` (its CUDA graphs) with the layout
#: optimisation off. That optimisation re-lays convolutions channels-last on its own, so their
#: cuDNN cache keys differ from the eager warm-up's and cuDNN searches again inside Inductor's
#: CUDA-graph pool, which keeps every trial workspace reserved (H100, 480 x 640, 8 iterations:
#: fp32 40.7 GB held, 38.0 ms; with it off 0.67 GB, 35.8 ms; fp16 15.3 GB -> 0.47 GB; bf16
#: unchanged, ~0.45 GB, ~10 ms). The channels-last that helps at half precision is ours
#: (`channels_last`), set on the weights before compiling.
COMPILE_OPTIONS = {"triton.cudagraphs": True, "layout_optimization": False}


def check_mode(runtime: str, precision: str, device: torch.device, key: str = "inference") -> None:
    """SpecError (one line) when `runtime` / `precision` is unknown or not available on `device`."""
    if runtime not in RUNTIMES:
        raise SpecError(f"{key}.runtime: {runtime!r} is not one of {list(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise SpecError(f"{key}.precision: {precision!r} is not one of {list(PRECISIONS)}")
    if device.type != "cuda" and runtime == "cudagraph":
        raise SpecError(f"{key}.runtime: 'cudagraph' needs a CUDA GPU (running on {device.type}); "
                        f"use {key}.runtime=eager or compile")
    if device.type != "cuda" and precision != "fp32":
        raise SpecError(f"{key}.precision: {precision!r} needs a CUDA GPU (running on {device.type}); "
                        f"use {key}.precision=fp32")


def _allow_recompiles(sizes: int) -> None:
    """Let Dynamo compile the forward for `sizes` input shapes.

    Each new input size compiles the forward again (static shapes); past Dynamo's
    `recompile_limit` (8) it would silently run the rest eagerly, e.g. from the ninth
    Middlebury image size of an evaluate on. Raised as sizes arrive, never lowered.
    """
    import torch._dynamo.config as dynamo_config

    name = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    if getattr(dynamo_config, name) < sizes:
        setattr(dynamo_config, name, sizes)
    if getattr(dynamo_config, "accumulated_recompile_limit", sizes) < sizes:
        dynamo_config.accumulated_recompile_limit = sizes


class FastForward:
    """Inference forward of `net` launched by `runtime` at `precision`.

    Args:
        net: the network in eval mode, already on its device.
        runtime: "eager" | "compile" | "cudagraph".
        precision: "fp32" | "bf16" | "fp16" (half precisions need CUDA).
        iters: GRU iterations baked into each captured graph (None = the network's valid_iters).
        key: the spec section named in errors (e.g. "inference").
        device: where `net` runs (default: the device of its first parameter, else the CPU).
        optimize: fold BatchNorms, fuse the GRU gate convs, run activations in place and
            (half precision) pre-cast weights for inference; the three rewrites below need it.
        inplace: apply those rewrites to `net` itself (saves a weight copy) instead of a copy.
        channels_last: store conv weights channels-last (NHWC / NDHWC, what cuDNN's half
            kernels use) so the activations follow; needs `optimize`. None (the default): on for
            `compile` at half precision, where it removes cuDNN's layout transforms around each
            conv (H100, bf16, 8 iterations: 480 x 640 13.7 -> 12.4 ms, 320 x 736 11.6 -> 10.1 ms,
            bench/network_gpu.py), off elsewhere (CUDA graphs alone gain nothing from it).
        pad_channels: carry the cost volume and the GRU's odd-width tensors with zero channels
            up to multiples of 8 (`fusion.pad_volume_channels` / `pad_gru_channels`, same result);
            needs `optimize`. None (the default): on at half precision with channels-last, where
            cuDNN's NHWC kernels want multiples of 8 (H100, compile bf16, 480 x 640, 8
            iterations, one run: 12.95 ms without, 11.10 ms with, 10.65 ms with `convs_2d` too);
            off otherwise.
        convs_2d: run the 3^3 / 1x3x3 Conv3ds as 2D convs plus a shifted sum along disparity
            (`fusion.Conv3dAsConv2d`); needs `optimize`. None (the default): on for `compile` at
            half precision with channels-last, where the sum fuses into the next kernel.
        cudnn_benchmark: let cuDNN time its algorithms once per input size (`compile` /
            `cudagraph`, static shapes) instead of taking its heuristic pick. None (the default):
            on for both; the search runs outside the CUDA-graph pools (`_capture`'s warm-up,
            `_benchmark_outside_graph_pool`), so its trial workspaces are freed. `eager` keeps
            the process setting.
    """

    def __init__(self, net: torch.nn.Module, runtime: str = "eager", precision: str = "fp32",
                 iters: int | None = None, key: str = "inference",
                 device: torch.device | None = None, optimize: bool = True, inplace: bool = False,
                 channels_last: bool | None = None, pad_channels: bool | None = None,
                 convs_2d: bool | None = None, cudnn_benchmark: bool | None = None) -> None:
        if device is None:
            first = next(iter(net.parameters()), None)
            device = first.device if first is not None else torch.device("cpu")
        check_mode(runtime, precision, device, key)
        dtype = PRECISIONS[precision]
        half = dtype is not None
        if channels_last is None:
            channels_last = runtime == "compile" and half
        if pad_channels is None:
            pad_channels = channels_last and half
        if convs_2d is None:
            convs_2d = runtime == "compile" and channels_last and half
        if cudnn_benchmark is None:
            cudnn_benchmark = runtime != "eager"
        net = net.eval()
        if optimize:
            from model.network.fusion import (cast_weights, convs3d_as_convs2d, fold_batch_norms, fuse_gru_gates,
                                              inplace_activations, pad_gru_channels, pad_volume_channels,
                                              to_channels_last)

            net = net if inplace else copy.deepcopy(net)
            fold_batch_norms(net)
            fuse_gru_gates(net)
            inplace_activations(net)
            if pad_channels:
                pad_volume_channels(net)
                pad_gru_channels(net)
            if half:
                cast_weights(net, dtype)
            if channels_last:
                to_channels_last(net)
            if convs_2d:
                convs3d_as_convs2d(net)
        self.net = net
        self.device = device
        self.runtime = runtime
        self.precision = precision
        self.iters = iters
        self.cudnn_benchmark = cudnn_benchmark
        self._dtype = dtype
        self._graphs: dict[tuple, tuple] = {}  # cudagraph: one capture per input shape
        self._compiled_shapes: set[tuple] = set()  # compile: the shapes Dynamo has compiled for
        self._fn: Callable = self._forward
        if runtime == "compile":
            self._fn = torch.compile(self._forward, dynamic=False, options=COMPILE_OPTIONS)

    def _cudnn_flags(self) -> contextlib.AbstractContextManager:
        """cuDNN settings for one call, set outside the traced / captured forward.

        * fp32 means fp32: cuDNN's TF32 convolutions (on by default) drift ~1e-2 px from the
          reference, so they are off for fp32.
        * `compile` and `cudagraph` run static shapes, so cuDNN benchmarks its algorithms once
          per input size (`benchmark=True`) instead of taking its heuristic pick, unless
          `cudnn_benchmark` says otherwise; `eager` keeps the process setting (an evaluate over
          per-image sizes would benchmark every size).
        """
        if self.device.type != "cuda":
            return contextlib.nullcontext()
        benchmark = self.cudnn_benchmark if self.runtime != "eager" else torch.backends.cudnn.benchmark
        allow_tf32 = self._dtype is not None and torch.backends.cudnn.allow_tf32
        return torch.backends.cudnn.flags(enabled=True, benchmark=benchmark, deterministic=False,
                                          allow_tf32=allow_tf32)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)

    def _forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.net(left, right, iters=self.iters, test_mode=True).float()

    @torch.inference_mode()
    def __call__(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Disparity [B,1,H,W] (fp32) for normalised [B,3,H,W] inputs on the network's device."""
        with self._cudnn_flags():
            return self._call(left, right)

    def _call(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        key = (tuple(left.shape), left.dtype)
        if self.runtime == "compile" and key not in self._compiled_shapes:
            self._compiled_shapes.add(key)
            _allow_recompiles(len(self._compiled_shapes))
            if self.device.type == "cuda" and self.cudnn_benchmark:
                self._benchmark_outside_graph_pool(left, right)
        if self.runtime != "cudagraph":
            return self._fn(left, right)
        if key not in self._graphs:
            self._graphs[key] = self._capture(left, right)
        graph, static_left, static_right, static_out = self._graphs[key]
        static_left.copy_(left)
        static_right.copy_(right)
        graph.replay()
        return static_out.clone()

    def _benchmark_outside_graph_pool(self, left: torch.Tensor, right: torch.Tensor) -> None:
        """One eager forward before the first compiled call of a new input size.

        cuDNN's algorithm search (benchmark=True) allocates a trial workspace per candidate.
        Inductor's first calls run inside its CUDA-graph memory pool, which keeps every segment
        it ever held, so a search there stays reserved for good. The eager forward runs the same
        convolutions at the same shapes and layouts, so cuDNN searches here, on the ordinary
        allocator, and the compiled calls find its choices cached (H100, 480 x 640, 8
        iterations: compile bf16 612 -> 472 MB). Only while the layouts match: with Inductor's
        own layout optimisation on, fp16 still searched two 1x1 convs in the pool (15.3 GB) and
        fp32 others (40.7 GB), hence `COMPILE_OPTIONS`.
        """
        self._forward(left, right)
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()

    def _capture(self, left: torch.Tensor, right: torch.Tensor) -> tuple:
        """Warm up on a side stream (cuDNN picks its algorithms there), then capture one forward."""
        static_left, static_right = left.clone(), right.clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._forward(static_left, static_right)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._forward(static_left, static_right)
        return graph, static_left, static_right, static_out

