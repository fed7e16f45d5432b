"""Training callbacks: atomic checkpoints and per-epoch status.json lines."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint, RichProgressBar

from model.interrupt import interrupting
from model.status import StatusLogger

__all__ = ["CheckpointWriter", "StatusReporter", "NanInjector", "RunProgressBar", "LATEST_NAME",
           "checkpoint_name", "epoch_kpi", "read_checkpoint_index"]

LATEST_NAME = "dn_model_latest.pth"
INDEX_NAME = "checkpoints.json"


def checkpoint_name(epoch: int, step: int) -> str:
    """`model_epoch_{E:03d}_step_{S:05d}.pth` (E = 0-based epoch, S = optimizer steps so far)."""
    return f"model_epoch_{epoch:03d}_step_{step:05d}.pth"


def epoch_kpi(trainer: pl.Trainer) -> dict[str, float]:
    """`train_loss` (epoch mean) and every `val/*` metric Lightning holds right now."""
    kpi: dict[str, float] = {}
    metrics = trainer.callback_metrics
    for key in ("train_loss_epoch", "train_loss"):
        if key in metrics:
            kpi["train_loss"] = float(metrics[key])
            break
    for key, value in metrics.items():
        if key.startswith("val/"):
            kpi[key] = float(value)
    return kpi


class CheckpointWriter(Checkpoint):
    """Writes `model_epoch_*_step_*.pth` and `dn_model_latest.pth` every `interval` epochs.

    The last epoch (and an epoch after which the trainer stops early) always gets a checkpoint.
    `dn_model_latest.pth` is a hard link to the newest epoch file where the file system allows
    (a copy elsewhere), so it costs no disk. With `keep` > 0 only the newest `keep` epoch files
    and the best one (lowest monitor value, named in `checkpoints.json`) stay; older ones are
    deleted once the new checkpoint is in place - a bp2 checkpoint with optimizer state is
    ~120 MB, so keeping every epoch of a long run (or of every AutoML trial) fills a disk.

    A Lightning `Checkpoint` callback, so it runs after every other callback (a Timer or an
    early stop has decided by then). Each file is written under a temporary name and renamed,
    so a crash (or a NaN stop) never leaves a torn checkpoint; the previous files stay intact.

    Args:
        out_dir: the training results folder.
        interval: `train.checkpoint_interval` (epochs).
        monitor: metric that picks the best checkpoint (lower is better).
        keep: `train.checkpoints_to_keep`; 0 keeps every epoch file.
    """

    def __init__(self, out_dir: str | Path, interval: int = 1, monitor: str = "val/epe", keep: int = 0) -> None:
        self.out_dir = Path(out_dir)
        self.interval = max(1, int(interval))
        self.monitor = monitor
        self.keep = max(0, int(keep))

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint["kpi"] = epoch_kpi(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch, step = trainer.current_epoch, trainer.global_step
        last_epoch = trainer.max_epochs is not None and epoch + 1 >= trainer.max_epochs
        # trainer.should_stop: a time limit or early stop ends the run here; keep its final state
        if (epoch + 1) % self.interval and not last_epoch and not trainer.should_stop:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        named = self.out_dir / checkpoint_name(epoch, step)
        tmp = self.out_dir / f".{named.name}.tmp"
        trainer.save_checkpoint(str(tmp), weights_only=False)  # collective under DDP; rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, named)
            _link_or_copy(named, self.out_dir / LATEST_NAME)
            index = self._update_index(named, trainer.callback_metrics.get(self.monitor))
            if self.keep:
                self._prune(index)
        trainer.strategy.barrier("checkpoint_writer")

    def _prune(self, index: dict) -> None:
        """Delete epoch files beyond the newest `keep`, sparing the best one."""
        best = Path(index.get("best_checkpoint") or "").name
        # names sort by epoch then step (zero-padded), i.e. oldest first
        epochs = sorted(p for p in self.out_dir.glob("model_epoch_*_step_*.pth") if not p.name.startswith("."))
        for path in epochs[:-self.keep]:
            if path.name != best:
                path.unlink(missing_ok=True)

    def _update_index(self, named: Path, score) -> dict:
        """Record the best epoch checkpoint (lowest monitor value) in `checkpoints.json`; returns the index."""
        index = read_checkpoint_index(self.out_dir)
        value = float(score) if score is not None else math.nan
        best = index.get("best_score")
        # without any finite score yet, the newest checkpoint counts as the best
        if best is None or (math.isfinite(value) and value < best):
            index.update(best_checkpoint=str(named), best_score=value if math.isfinite(value) else None)
        index.update(latest_checkpoint=str(self.out_dir / LATEST_NAME), monitor=self.monitor)
        tmp = self.out_dir / f".{INDEX_NAME}.tmp"
        tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
        os.replace(tmp, self.out_dir / INDEX_NAME)
        return index


def _link_or_copy(source: Path, target: Path) -> None:
    """Atomically make `target` the same content as `source`: a hard link, else a copy."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # no hard links here (some network / FAT file systems)
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def read_checkpoint_index(out_dir: str | Path) -> dict:
    """`{best_checkpoint, best_score, latest_checkpoint, monitor}` of a training folder ({} if none)."""
    path = Path(out_dir) / INDEX_NAME
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def _hms(seconds: float) -> str:
    """`H:MM:SS` of a duration."""
    return str(_dt.timedelta(seconds=int(round(max(0.0, seconds)))))


class StatusReporter(pl.Callback):
    """Appends a RUNNING line to status.json after every epoch (rank 0 only).

    Fields: `epoch` (1-based completed epochs), `max_epoch`, `step`, `max_step`,
    `time_per_epoch`, `eta` (H:MM:SS) and `kpi` (`train_loss`, `val/loss`, `val/epe`, ...).
    """

    def __init__(self, status: StatusLogger) -> None:
        self.status = status
        self._start = time.monotonic()
        self._durations: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        self._durations.append(time.monotonic() - self._start)
        per_epoch = sum(self._durations[-3:]) / len(self._durations[-3:])
        done = trainer.current_epoch + 1
        max_epoch = int(trainer.max_epochs or done)
        max_step = trainer.estimated_stepping_batches
        kpi = epoch_kpi(trainer)
        loss = kpi.get("train_loss", math.nan)
        self.status.write(
            "RUNNING",
            f"epoch {done}/{max_epoch}: train_loss {loss:.4f}",
            kpi=kpi,
            epoch=done,
            max_epoch=max_epoch,
            step=int(trainer.global_step),
            max_step=int(max_step) if math.isfinite(max_step) else None,
            time_per_epoch=_hms(per_epoch),
            eta=_hms(per_epoch * (max_epoch - done)),
        )


class RunProgressBar(RichProgressBar):
    """Rich progress bar showing the loss and the ETA of the whole run (not just the epoch)."""

    def __init__(self) -> None:
        super().__init__(leave=True)
        self._run_start: float | None = None
        self._first_step = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._run_start, self._first_step = time.monotonic(), trainer.global_step

    def _stop_progress(self) -> None:
        if interrupting() and self.progress is not None:
            self.progress.live.transient = True  # an interruption ends with its one line, not a half bar
        super()._stop_progress()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        done = trainer.global_step - self._first_step
        total = trainer.estimated_stepping_batches
        if self._run_start is not None and done > 0 and math.isfinite(total):
            per_step = (time.monotonic() - self._run_start) / done
            items["eta"] = _hms(per_step * max(0, total - trainer.global_step))
        return items


class NanInjector(pl.Callback):
    """Fault injection for tests: the loss of optimizer step `step` becomes NaN before backward.

    The NaN then flows through the real backward (every gradient turns NaN) and the real
    non-finite check, as in a diverging run. The runner installs it when
    `DEPTH_NET_INJECT_NAN_AT_STEP` is set.
    """

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss) -> None:
        if trainer.global_step == self.step:
            loss.mul_(float("nan"))  # in place: the tensor Lightning back-propagates
