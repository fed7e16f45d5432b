"""Worker processes: GPU slots, the trial loop, dead-worker detection and retry.

A worker opens the study by storage URL and name, reads the study's spec from the study's
user attrs (so `depth_net automl worker --storage URL --study NAME` on another machine needs
nothing else) and runs trials until the study's trial budget is spent or its deadline passes.
Queued (WAITING) retries are run first. A RUNNING trial whose worker process on this host
is gone is failed and queued again at once; on other hosts the storage heartbeat does it
(RDB storages) after `automl.grace_period` seconds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import optuna

from automl.interrupt import fail_interrupted
from automl.mps import shared_gpu
from automl.objective import WORKER_ATTR
from automl.seeding import current_run, reseed, worker_identity
from automl.study import make_study, open_existing_study, retry_trial
from model.errors import DepthNetError, SpecError
from model.interrupt import Interrupted

__all__ = ["worker_slots", "clean_zombies", "run_worker", "open_worker_study", "launch_workers", "trial_budget_left"]

REPO = Path(__file__).resolve().parents[1]
SPEC_ATTR = "spec"
STUDY_DIR_ATTR = "study_dir"
STOP_WAIT_S = 30.0  # how long an interrupted `automl run` waits for its workers to stop


def worker_slots(n_workers: int, trials_per_gpu: int, gpu_count: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each worker: GPU slots round-robin, "" (CPU) when no GPU."""
    if gpu_count <= 0:
        return [""] * n_workers
    slots = [str(gpu) for _ in range(max(1, trials_per_gpu)) for gpu in range(gpu_count)]
    return [slots[i % len(slots)] for i in range(n_workers)]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_zombies(study: optuna.Study) -> list[int]:
    """Fail (and queue again) RUNNING trials whose worker process on this host no longer exists.

    Returns the numbers of the trials failed here.
    """
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR) or {}
        if worker.get("host") != host or _pid_alive(int(worker.get("pid", 0) or 0)):
            continue
        storage = study._storage
        reason = f"worker process {worker.get('pid')} on {host} died"
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            if not storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process got there first
        failed.append(trial.number)
        retry_trial(study, storage.get_trial(trial._trial_id))
    return failed


def trial_budget_left(study: optuna.Study, n_trials: int) -> int:
    """Trials still to start: n_trials minus the original (non-retry) trials so far."""
    originals = sum("failed_trial" not in t.system_attrs for t in study.get_trials(deepcopy=False))
    return n_trials - originals


def _has_waiting(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def run_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    deadline: float | None = None,
    callbacks: list | None = None,
) -> int:
    """Run trials of `study` until the budget is spent, no retry is queued, or `deadline` passes.

    Returns the number of trials this worker ran. Failed trials (DepthNetError) do not stop it.
    SIGINT / SIGTERM (`Interrupted`) does: the trial in progress is failed as interrupted and
    queued again (automl/interrupt.py), its number added to the exception, which goes on up.
    """
    ran = 0
    current: dict[str, optuna.Trial] = {}

    def tracked(trial: optuna.Trial):
        current["trial"] = trial
        trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": os.getpid()})
        return objective(trial)

    try:
        while deadline is None or time.time() < deadline:
            clean_zombies(study)
            if trial_budget_left(study, n_trials) <= 0 and not _has_waiting(study):
                break
            study.optimize(tracked, n_trials=1, catch=(DepthNetError,), callbacks=callbacks)
            ran += 1
    except Interrupted as exc:
        if "trial" in current:
            number = fail_interrupted(study, current["trial"]._trial_id, exc.name)
            if number is not None:
                exc.trials.append(number)
        raise
    return ran


def open_worker_study(storage: str, study_name: str, run: int | None = None,
                      worker_index: int | None = None) -> tuple[optuna.Study, dict, Path]:
    """The study, its spec and its folder, from a storage URL and a study name only.

    The sampler is seeded for this worker (`worker_index`, else host:pid) in run `run` (else the
    study's newest run), so no two workers draw the same configurations.
    """
    summary = open_existing_study(storage, study_name, "start it with `depth_net automl run -e SPEC`")
    spec = summary.user_attrs.get(SPEC_ATTR)
    if not spec:
        raise SpecError(f"--study: study {study_name!r} has no spec; start it with `depth_net automl run -e SPEC`")
    study = make_study(spec["automl"], storage=storage, study_name=study_name)
    reseed(study, spec["automl"], current_run(study) if run is None else run, worker_identity(worker_index))
    return study, spec, Path(summary.user_attrs.get(STUDY_DIR_ATTR, "."))


def _worker_env(cuda_devices: str, threads: int) -> dict:
    env = dict(os.environ)
    env["CUDA_VISIBLE_DEVICES"] = cuda_devices
    # The workers import this checkout even when it is not pip-installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", str(threads))
    return env


def launch_workers(
    storage: str, study_name: str, n_workers: int, trials_per_gpu: int, deadline: float | None,
    log_dir: Path, poll: Callable[[], None] | None = None, run: int = 0,
) -> list[int]:
    """Start `n_workers` `depth_net automl worker` processes, one per GPU slot; wait for all.

    Returns their exit codes. `poll` is called about every 2 s while they run (progress).
    Worker i of run `run` samples with its own seed (automl/seeding.py).
    """
    import torch

    gpus = torch.cuda.device_count()
    slots = worker_slots(n_workers, trials_per_gpu, gpus)
    threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    log_dir.mkdir(parents=True, exist_ok=True)
    sharing = max(1, min(trials_per_gpu, n_workers))  # trials that really meet on one GPU
    with shared_gpu(sharing, gpus, log_dir) as (extra_env, note):
        if note:
            print(note, flush=True)
        return _run_workers(storage, study_name, slots, threads, deadline, log_dir, extra_env, poll, run)


def _run_workers(storage: str, study_name: str, slots: list[str], threads: int, deadline: float | None,
                 log_dir: Path, extra_env: dict, poll: Callable[[], None] | None, run: int) -> list[int]:
    procs = []
    for index, cuda in enumerate(slots):
        cmd = [sys.executable, "-m", "model.cli", "automl", "worker", "--storage", storage, "--study", study_name,
               "--run", str(run), "--worker-index", str(index)]
        if deadline is not None:
            cmd += ["--deadline", str(deadline)]
        log = open(log_dir / f"worker_{index}.log", "a", encoding="utf-8")
        env = {**_worker_env(cuda, threads), **extra_env}
        procs.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), log))
    try:
        while any(p.poll() is None for p, _ in procs):
            if poll is not None:
                poll()
            time.sleep(2.0)
    except Interrupted as exc:
        # each worker fails its own trial as interrupted; a worker that does not stop in time is killed
        for proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(exc.signum)
        stop_by = time.time() + STOP_WAIT_S
        for proc, _ in procs:
            try:
                proc.wait(timeout=max(0.1, stop_by - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
        exc.worker_pids = {proc.pid for proc, _ in procs}  # run_study fails what they left RUNNING
        raise
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            log.close()
    return [p.returncode for p, _ in procs]
