"""What `depth_net train` shows on the terminal: a progress bar with a real rate, one line per
epoch with its validation metrics, and none of Lightning's per-run chatter.

Lightning prints "GPU available / TPU available", a tip about its cloud logger and a few
internal notices on every `Trainer` (so once per AutoML trial); `quiet_lightning()` drops
those (the runner prints the device itself) and `LIGHTNING_WARNINGS` lists the warnings
that only concern Lightning's internals or the logging interval.
"""

from __future__ import annotations

import logging
import math
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from rich.progress import ProgressColumn
from rich.text import Text

from model.interrupt import interrupting
from model.training.callbacks import epoch_line, hms  # noqa: F401 - epoch_line re-exported

__all__ = ["RunProgressBar", "RateColumn", "quiet_lightning", "epoch_line", "LIGHTNING_WARNINGS"]

#: Lightning info lines that repeat per Trainer and say nothing the run's own lines do not
_CHATTER = ("GPU available", "TPU available", "HPU available", "IPU available", "💡 Tip", "Tip:",
            "Loading `train_dataloader`", "`Trainer.fit` stopped", "LOCAL_RANK", "You are using a CUDA device")
#: warnings (regexes) about Lightning's internals or a logging interval longer than a tiny epoch
LIGHTNING_WARNINGS = (r".*LeafSpec.*is deprecated.*", r".*smaller than the logging interval.*",
                      r".*does not have many workers.*", r".*predefined seed.*")


class _DropChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(prefix) or prefix in message[:40] for prefix in _CHATTER)


_FILTER = _DropChatter()


def quiet_lightning() -> None:
    """Drop Lightning's per-Trainer chatter from its loggers (idempotent)."""
    for name in ("pytorch_lightning", "lightning.pytorch", "pytorch_lightning.utilities.rank_zero",
                 "lightning.pytorch.utilities.rank_zero", "lightning_fabric"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


class RateColumn(ProgressColumn):
    """Steps per second over the task so far, or seconds per step when slower than one per second.

    Rich's own speed averages a 30 s window and is None (shown as 0.00it/s) when a step takes
    longer than that, which is every step of a bp2 training on a CPU.
    """

    def __init__(self, style) -> None:
        self.style = style
        super().__init__()

    def render(self, task) -> Text:
        elapsed, done = task.elapsed, task.completed
        if not elapsed or not done:
            return Text("-", style=self.style)
        rate = done / elapsed
        return Text(f"{rate:.2f}it/s" if rate >= 1 else f"{1 / rate:.1f}s/it", style=self.style)


class RunProgressBar(RichProgressBar):
    """Rich progress bar: 1-based epochs, the loss, a real rate and the ETA of the whole run."""

    def __init__(self) -> None:
        super().__init__(leave=True)
        self._run_start: float | None = None
        self._first_step = 0

    def _stop_progress(self) -> None:
        if interrupting() and self.progress is not None:
            self.progress.live.transient = True  # an interruption ends with its one line, not a half bar
        super()._stop_progress()

    def configure_columns(self, trainer: pl.Trainer) -> list:
        columns = super().configure_columns(trainer)
        columns[-1] = RateColumn(style=self.theme.processing_speed)
        return columns

    def _get_train_description(self, current_epoch: int) -> str:
        text = f"Epoch {current_epoch + 1}" + (f"/{self.trainer.max_epochs}" if self.trainer.max_epochs else "")
        return f"{text:{len(self.validation_description)}}"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._run_start, self._first_step = time.monotonic(), trainer.global_step

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        done = trainer.global_step - self._first_step
        total = trainer.estimated_stepping_batches
        if self._run_start is not None and done > 0 and math.isfinite(total):
            per_step = (time.monotonic() - self._run_start) / done
            items["eta"] = hms(per_step * max(0, total - trainer.global_step))
        return items
