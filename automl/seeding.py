"""Distinct sampler seeds for parallel workers and resumed runs.

With one `automl.seed` for every process, two workers (or a resumed run and the run before
it) draw the same random start-up configurations: the same trial twice. Each run of a study
(`automl run`, counted in the study's user attrs) and each worker in it gets its own seed,
derived from `automl.seed`, the run number and the worker's identity (its index among the
workers `automl run` starts, or host:pid for a worker started by hand). The first run's
first worker keeps `automl.seed` itself, so a one-worker study is seeded as the spec says.

TPE's constant liar and the GP sampler both read RUNNING trials from the shared storage, so
a worker's model already counts the configurations the other workers are training.
"""

from __future__ import annotations

import hashlib
import os
import socket

import optuna

from automl.study import build_sampler

__all__ = ["RUNS_ATTR", "derive_seed", "start_run", "current_run", "reseed", "worker_identity"]

RUNS_ATTR = "runs"


def derive_seed(seed: int | None, run: int, worker: str) -> int | None:
    """The sampler seed of `worker` in run `run` (0-based) of a study seeded with `seed`.

    `seed` itself for run 0 / worker "0"; otherwise 31 bits of sha256("seed:run:worker").
    None stays None (an unseeded study).
    """
    if seed is None:
        return None
    if run == 0 and str(worker) == "0":
        return int(seed)
    digest = hashlib.sha256(f"{int(seed)}:{int(run)}:{worker}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def current_run(study: optuna.Study) -> int:
    """The number of the study's newest run (0 before any was counted)."""
    return max(0, int(study.user_attrs.get(RUNS_ATTR, 0)) - 1)


def start_run(study: optuna.Study) -> int:
    """Count one more run of the study (`automl run`, or a resume of it); returns its 0-based number."""
    run = int(study.user_attrs.get(RUNS_ATTR, 0))
    study.set_user_attr(RUNS_ATTR, run + 1)
    return run


def worker_identity(index: int | None) -> str:
    """A worker's identity: its index when `automl run` started it, else host:pid."""
    return str(index) if index is not None else f"{socket.gethostname()}:{os.getpid()}"


def reseed(study: optuna.Study, settings: dict, run: int, worker: str) -> int | None:
    """Give `study` a sampler like `automl.sampler` but seeded for this run and worker; returns the seed."""
    seed = derive_seed(settings.get("seed"), run, worker)
    study.sampler = build_sampler({**settings, "seed": seed})
    return seed
