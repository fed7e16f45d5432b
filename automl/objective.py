"""One trial = one training run in `<study_dir>/trial_<n>/`, reporting the metric every epoch.

The trial's spec is the study's spec with the sampled parameters applied, its own results
folder, `automl.max_epochs` epochs and AutoML off (a trial never starts a study). Training is
`model.training.runner.fit` with a pruning callback: it reports the metric after every
validation epoch, and when the pruner says so, stops training cleanly (the checkpoint is
kept) and the trial ends as PRUNED. A failure records `fail_reason` and ends as FAIL, so it
never wins. A retried trial (its worker died) resumes from the newest checkpoint of the
trial it retries.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytorch_lightning as pl
import yaml

from automl.pareto import LATENCY, resolve_objectives
from automl.space import apply_params, suggest_params
from automl.study import record_latency
from model.errors import DepthNetError, RunFailed, SpecError
from model.evaluation.metrics import METRIC_NAMES
from model.interrupt import Interrupted
from model.status import StatusLogger

__all__ = ["StereoObjective", "PruningCallback", "trial_spec", "trial_dir", "retry_checkpoint", "check_trial_setup",
           "TRIAL_METRICS", "WORKER_ATTR"]

WORKER_ATTR = "worker"
LATEST_NAME = "dn_model_latest.pth"
# What a trial's training logs after each validation epoch (model/training/system.py).
TRIAL_METRICS = ("val/loss",) + tuple(f"val/{name}" for name in METRIC_NAMES)


def check_trial_setup(spec: dict, settings: dict) -> None:
    """Refuse, before any trial trains, a study whose trials could never report `automl.metric`.

    Otherwise every trial would train to its end and then fail, spending the whole budget.
    Args: spec: the resolved study spec; settings: its automl section (max_epochs filled).
    """
    from automl.pareto import LATENCY, resolve_objectives

    objectives = resolve_objectives(settings)
    key = "automl.objectives" if settings.get("objectives") else "automl.metric"
    metrics = [o.metric for o in objectives if o.metric != LATENCY]
    if not metrics:
        raise SpecError(f"{key}: latency_ms alone says nothing of accuracy; add a validation metric such as val/epe")
    for metric in metrics:
        if metric not in TRIAL_METRICS:
            hint = f"; did you mean 'val/{metric}'?" if f"val/{metric}" in TRIAL_METRICS else ""
            raise SpecError(f"{key}: {metric!r} is never logged by training; trials report the per-epoch "
                            f"validation metrics {', '.join(TRIAL_METRICS)}{hint}")
    metric = metrics[0]
    train = spec.get("train") or {}
    if not ((spec.get("dataset") or {}).get("val_dataset") or {}).get("data_sources"):
        raise SpecError(f"dataset.val_dataset.data_sources: none given; AutoML trials are ranked on {metric} "
                        "of the validation data")
    interval = int(train.get("validation_interval") or 1)
    max_epochs = int(settings.get("max_epochs") or train.get("num_epochs") or 1)
    if interval > max_epochs:
        raise SpecError(f"train.validation_interval: {interval} is more than automl.max_epochs {max_epochs}, so "
                        f"trials would never validate and never report {metric}; use at most {max_epochs}")


def trial_dir(study_dir: Path, number: int) -> Path:
    """`<study_dir>/trial_<n>`."""
    return Path(study_dir) / f"trial_{number}"


class PruningCallback(pl.Callback):
    """Reports `metric` to the trial after each validation epoch; stops training when pruned, or
    after the epoch in progress when the study's time budget (`deadline`, UNIX time) has passed."""

    def __init__(self, trial: optuna.Trial, metric: str, deadline: float | None = None, report: bool = True) -> None:
        """`report`: False in a multi-objective study (Optuna takes no intermediate values there):
        the curve goes to the trial's `curve` user attr instead and nothing is pruned."""
        self.trial = trial
        self.metric = metric
        self.deadline = deadline
        self.report = report
        self.curve: dict[str, float] = {}
        self.pruned_at: int | None = None
        self.out_of_time_at: int | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs before the checkpoint writer (Lightning orders Checkpoint callbacks last), which
        # then keeps this epoch's state because should_stop is set
        epoch = trainer.current_epoch + 1
        if self.deadline is None or time.time() < self.deadline or epoch >= (trainer.max_epochs or 0):
            return
        self.out_of_time_at = epoch
        trainer.should_stop = True

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.global_rank != 0:
            return
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return
        epoch = trainer.current_epoch + 1
        value = float(value)
        if not math.isfinite(value):
            return  # the runner fails a non-finite run; nothing to rank here
        if not self.report:
            self.curve[str(epoch)] = value
            self.trial.set_user_attr("curve", self.curve)
            return
        with warnings.catch_warnings():  # a resumed retry re-reports the epoch it resumed at
            warnings.filterwarnings("ignore", message=".*is already reported.*")
            self.trial.report(value, epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            trainer.should_stop = True


def retry_checkpoint(study_dir: Path, trial: optuna.trial.BaseTrial) -> Path | None:
    """The newest `dn_model_latest.pth` among the trials this one retries (newest first)."""
    if isinstance(trial, optuna.trial.FrozenTrial):
        attrs = trial.system_attrs
    else:  # a live Trial no longer exposes system attrs (Optuna 5): read them from its storage
        attrs = trial.study._storage.get_trial_system_attrs(trial._trial_id)
    history = list(attrs.get("retry_history", []))
    for number in reversed(history):
        path = trial_dir(study_dir, number) / LATEST_NAME
        if path.is_file():
            return path
    return None


def _drop_checkpoints(out_dir: Path) -> int:
    """Delete a trial folder's checkpoints and their index; logs and status.json stay. Returns how many."""
    removed = 0
    for path in [*out_dir.glob("*.pth"), out_dir / "checkpoints.json"]:
        if path.is_file():
            path.unlink()
            removed += path.suffix == ".pth"
    return removed


def trial_spec(spec: dict, params: dict[str, Any], out_dir: Path, max_epochs: int, resume: Path | None) -> dict:
    """The spec one trial trains with (a copy; `spec` is not changed)."""
    out = apply_params(spec, params)
    train = out.setdefault("train", {})
    out["results_dir"] = str(out_dir)
    train["results_dir"] = str(out_dir)
    train["num_epochs"] = int(max_epochs)
    train["automl_policy"] = "off"
    # a trial needs only its newest checkpoint (retry, hand-off); keeping every epoch of every
    # trial would fill the disk (~120 MB per bp2 checkpoint)
    train["checkpoints_to_keep"] = int(train.get("checkpoints_to_keep") or 0) or 1
    train["resume_training_checkpoint_path"] = str(resume) if resume else None
    return out


class StereoObjective:
    """Callable objective: trial -> training run -> the metric of the last epoch."""

    def __init__(self, spec: dict, study_dir: Path, space: list, fit=None, deadline: float | None = None) -> None:
        """Args: spec: the resolved study spec; study_dir: where trial folders go; space: the
        ParamSpec list; fit: the training function (default model.training.runner.fit);
        deadline: the end of the study's time budget (UNIX time): a trial still training then
        stops after its current epoch and ends as PRUNED (an unfinished run is not ranked)."""
        self.spec = spec
        self.deadline = deadline
        self.study_dir = Path(study_dir)
        self.space = space
        self.settings = spec.get("automl") or {}
        self.objectives = resolve_objectives(self.settings)
        # the accuracy metric: the learning curve, the pruner's signal
        self.metric = next(o.metric for o in self.objectives if o.metric != LATENCY)
        self.max_epochs = int(self.settings.get("max_epochs") or spec["train"].get("num_epochs", 1))
        self._fit = fit

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, {"host": socket.gethostname(), "pid": os.getpid()})
        params = suggest_params(trial, self.space)
        out_dir = trial_dir(self.study_dir, trial.number)
        resume = retry_checkpoint(self.study_dir, trial)
        spec = trial_spec(self.spec, params, out_dir, self.max_epochs, resume)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "experiment.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        status = StatusLogger(out_dir / "status.json")
        status.write("STARTED", f"automl trial {trial.number}", params=params, resumed_from=str(resume) if resume else None)
        callback = PruningCallback(trial, self.metric, self.deadline, report=len(self.objectives) == 1)
        start = time.time()
        try:
            result = self._train(spec, status, callback)
            value = self._value(result, self.metric)
        except Interrupted as exc:  # run_worker fails the trial and queues it again
            status.write("FAILURE", f"interrupted by {exc.name}: the next `automl run` resumes this trial from "
                         "its newest checkpoint", verbosity="WARNING", interrupted=exc.name)
            raise
        except DepthNetError as exc:
            self._fail(trial, status, str(exc))
            raise
        except Exception as exc:  # an OOM or a bug in one trial must not end the study
            self._fail(trial, status, f"{type(exc).__name__}: {exc}")
            raise RunFailed(f"trial {trial.number}: {type(exc).__name__}: {exc}") from exc
        trial.set_user_attr("duration_s", round(time.time() - start, 2))
        trial.set_user_attr("checkpoint", result.get("latest_checkpoint"))
        if callback.pruned_at is not None:
            message = f"pruned after epoch {callback.pruned_at}"
            if not self.settings.get("keep_pruned_checkpoints"):
                removed = _drop_checkpoints(out_dir)
                trial.set_user_attr("checkpoint", None)
                message += f"; {removed} checkpoint file(s) deleted (automl.keep_pruned_checkpoints keeps them)"
            status.write("SUCCESS", message, kpi=result.get("kpi"))
            raise optuna.TrialPruned(f"pruned after epoch {callback.pruned_at}")
        if callback.out_of_time_at is not None:
            reason = (f"time budget automl.timeout={self.settings.get('timeout')} s reached: stopped after epoch "
                      f"{callback.out_of_time_at} of {self.max_epochs}")
            trial.set_user_attr("stop_reason", reason)
            status.write("SUCCESS", reason, kpi=result.get("kpi"))
            raise optuna.TrialPruned(reason)
        if len(self.objectives) > 1:
            values = self._values(trial, spec, result)
            status.write("SUCCESS", f"automl trial {trial.number} finished", kpi=result.get("kpi"),
                         objectives=dict(zip([o.metric for o in self.objectives], values)))
            return values
        if self.settings.get("latency_budget_ms") is not None:
            record_latency(trial, _measure_latency_ms(spec, result["latest_checkpoint"]))
        status.write("SUCCESS", f"automl trial {trial.number} finished", kpi=result.get("kpi"))
        return value

    def _values(self, trial: optuna.Trial, spec: dict, result: dict) -> tuple[float, ...]:
        """The objectives of a multi-objective study; latency_ms is measured on the trained network
        (a user attr too; the latency budget picks the hand-off point, it is no constraint here)."""
        values = []
        for objective in self.objectives:
            if objective.metric == LATENCY:
                latency = _measure_latency_ms(spec, result["latest_checkpoint"])
                trial.set_user_attr(LATENCY, float(latency))
                values.append(float(latency))
            else:
                values.append(self._value(result, objective.metric))
        return tuple(values)

    def _train(self, spec: dict, status: StatusLogger, callback: PruningCallback) -> dict:
        fit = self._fit
        if fit is None:
            from model.training.runner import fit
        return fit(spec, status, callbacks=[callback])

    @staticmethod
    def _value(result: dict, metric: str) -> float:
        kpi = result.get("kpi") or {}
        value = kpi.get(metric)
        if value is None and metric.startswith("val/"):
            value = kpi.get(metric[4:])
        if value is None:
            raise RunFailed(f"automl.metric: {metric} was not in the trial's kpi (got {sorted(kpi)})")
        value = float(value)
        if not math.isfinite(value):
            raise RunFailed(f"automl.metric: {metric} is {value} (not finite)")
        return value

    @staticmethod
    def _fail(trial: optuna.Trial, status: StatusLogger, reason: str) -> None:
        reason = reason.splitlines()[0] if reason else "unknown error"
        trial.set_user_attr("fail_reason", reason)
        status.write("FAILURE", reason, verbosity="ERROR")


def _measure_latency_ms(spec: dict, checkpoint: str, repeats: int = 5) -> float:
    """Median forward time (ms) of the trained network at the export input size (default 320 x 736).

    On a CUDA GPU the forward is the one evaluate / inference deploy: `evaluate.runtime` and
    `evaluate.precision` (`FastForward`: eager, torch.compile or CUDA graphs; fp32 / bf16 / fp16),
    warmed up first (compile and capture happen on the first calls). On the CPU it is eager fp32,
    the only CPU mode that needs no per-trial compilation.
    """
    import torch

    from model.evaluation.runtime import FastForward
    from model.network.checkpoint import load_network_from_checkpoint

    net, _ = load_network_from_checkpoint(checkpoint)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    section = spec.get("evaluate") or {}
    runtime, precision = "eager", "fp32"
    if device.type == "cuda":
        runtime, precision = section.get("runtime", "eager"), section.get("precision", "fp32")
    forward = FastForward(net.to(device), runtime, precision, key="evaluate", device=device, inplace=True)
    export = spec.get("export") or {}
    h, w = int(export.get("input_height") or 320), int(export.get("input_width") or 736)
    left = torch.zeros(1, 3, h, w, device=device)  # [B, 3, H, W]
    warmup = 1 if runtime == "eager" else 3
    times = []
    for _ in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        forward(left, left)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times[warmup:])
