"""Several trials on one GPU: CUDA MPS started and stopped by the harness, and a memory share per trial.

`shared_gpu(trials_per_gpu, gpu_count, folder)` is a context manager around the worker
processes. With more than one trial per GPU it

* starts the CUDA Multi-Process Service control daemon (`nvidia-cuda-mps-control -d`) with its
  pipe and log folders under `folder`, so the trials' kernels run concurrently on the GPU
  instead of time-slicing, and stops it (`quit`) when the workers are done, also on errors;
  where the driver offers no MPS (no control binary, or it does not start) it says so in one
  line and the trials share the GPU by time-slicing;
* gives every worker a memory share: `DEPTH_NET_GPU_MEMORY_FRACTION` = 0.95 / k, which the
  training applies with `torch.cuda.set_per_process_memory_fraction` (a trial that needs more
  fails with an out-of-memory error of its own instead of starving its neighbours;
  `model.training.fast.apply_memory_fraction`).

It yields the environment additions for the workers and a one-line note of what was done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from model.training.fast import MEMORY_FRACTION_ENV

__all__ = ["shared_gpu"]

_CONTROL = "nvidia-cuda-mps-control"


@contextlib.contextmanager
def shared_gpu(trials_per_gpu: int, gpu_count: int, folder: Path) -> Iterator[tuple[dict, str | None]]:
    """(environment for the workers, note or None) while k > 1 trials share each GPU."""
    if trials_per_gpu <= 1 or gpu_count <= 0:
        yield {}, None
        return
    env = {MEMORY_FRACTION_ENV: f"{0.95 / trials_per_gpu:.4f}"}
    share = f"{trials_per_gpu} trials per GPU, {0.95 / trials_per_gpu:.0%} of its memory each"
    control = shutil.which(_CONTROL)
    if control is None:
        yield env, f"CUDA MPS not available ({_CONTROL} not found): {share}, time-sliced"
        return
    pipes, logs = folder / "mps_pipe", folder / "mps_log"
    pipes.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    mps_env = {"CUDA_MPS_PIPE_DIRECTORY": str(pipes), "CUDA_MPS_LOG_DIRECTORY": str(logs)}
    started = subprocess.run([control, "-d"], env={**os.environ, **mps_env}, capture_output=True, text=True,
                             timeout=30)
    if started.returncode != 0:
        why = (started.stderr or started.stdout).strip().splitlines()[-1:] or [f"exit {started.returncode}"]
        yield env, f"CUDA MPS did not start ({why[0][:120]}): {share}, time-sliced"
        return
    try:
        yield {**env, **mps_env}, f"CUDA MPS started for the trials ({share})"
    finally:
        subprocess.run([control], input="quit\n", env={**os.environ, **mps_env}, capture_output=True, text=True,
                       timeout=30)
