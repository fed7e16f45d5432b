"""What `depth_net train` prints: a real rate, one epoch line with validation metrics, no Lightning chatter."""

from __future__ import annotations

import logging

from rich.progress import Task

from model.training.console import RateColumn, epoch_line, quiet_lightning


def _task(completed: float, elapsed: float) -> Task:
    task = Task(id=0, description="Epoch 1/1", total=10, completed=completed, _get_time=lambda: 1000.0 + elapsed)
    task.start_time = 1000.0
    return task


def test_rate_is_seconds_per_step_when_steps_are_slow():
    column = RateColumn(style="")
    assert column.render(_task(2, 100.0)).plain == "50.0s/it"  # Rich's own speed says 0.00it/s here
    assert column.render(_task(500, 100.0)).plain == "5.00it/s"
    assert column.render(_task(0, 0.0)).plain == "-"


def test_epoch_line_lists_the_validation_metrics():
    line = epoch_line(2, 10, {"train_loss": 3.5, "val/loss": 2.0, "val/epe": 1.2345, "val/bp2": 0.1}, 64.0)
    assert line == "epoch 2/10 (0:01:04): train_loss 3.5, val_loss 2 | val epe 1.234 bp2 0.1"
    assert epoch_line(1, 1, {"train_loss": 1.0}, 1.0).endswith("| no validation this epoch")


def test_lightning_chatter_is_dropped_other_lines_kept():
    quiet_lightning()
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Keep()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info("GPU available: False, used: False")
        logger.info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        logger.info("Restoring states from the checkpoint path at x.pth")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == ["Restoring states from the checkpoint path at x.pth"]
