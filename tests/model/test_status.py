"""status.json reading: the kpi of the latest run in a folder, in either key shape."""

from __future__ import annotations

import math

from model.status import StatusLogger, read_kpi


def test_read_kpi_accepts_both_shapes_and_keeps_nan(tmp_path):
    path = tmp_path / "status.json"
    log = StatusLogger(path)
    log.write("STARTED", "run")
    log.write("SUCCESS", "done", kpi={"val/epe": 1.5, "bp2": float("nan")})
    kpi = read_kpi(path)
    assert kpi["epe"] == 1.5 and math.isnan(kpi["bp2"])


def test_a_failed_rerun_does_not_report_the_previous_runs_kpi(tmp_path):
    path = tmp_path / "status.json"
    first = StatusLogger(path)
    first.write("STARTED", "first run")
    first.write("SUCCESS", "done", kpi={"val/epe": 0.5})
    second = StatusLogger(path)  # the same results folder, run again: events are appended
    second.write("STARTED", "second run")
    second.write("FAILURE", "annotation file not found", verbosity="ERROR")
    assert read_kpi(path) == {}


def test_resumed_training_reports_its_own_epochs(tmp_path):
    path = tmp_path / "status.json"
    log = StatusLogger(path)
    log.write("STARTED", "first session")
    log.write("RUNNING", "epoch 1", kpi={"train_loss": 3.0})
    log.write("STARTED", "resumed session")
    log.write("RUNNING", "epoch 2", kpi={"train_loss": 2.0})
    assert read_kpi(path) == {"train_loss": 2.0}
