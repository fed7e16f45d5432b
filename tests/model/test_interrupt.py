"""model/interrupt.py in-process: a real signal becomes one Interrupted (exit code 128 + signal), waits
while storage / status / checkpoint code runs, is raised once, and the previous handlers come back."""

from __future__ import annotations

import os
import signal
import time

import pytest

from model.interrupt import Interrupted, interruptible, interrupting
from model.status import StatusLogger, read_status


def _wait_for_signal(seconds: float = 5.0) -> None:
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(0.01)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_is_one_interrupted_with_its_exit_code(signum: int, code: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as info:
        with interruptible():
            os.kill(os.getpid(), signum)
            _wait_for_signal()
    assert info.value.exit_code == code and str(info.value) == f"interrupted by {signal.Signals(signum).name}"
    assert signal.getsignal(signum) is before and not interrupting()


def test_a_second_signal_during_the_cleanup_is_ignored() -> None:
    with interruptible():
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for_signal()
        os.kill(os.getpid(), signal.SIGINT)  # the cleanup is not cut short
        _wait_for_signal(0.3)
        assert interrupting()


def test_a_signal_waits_for_a_status_write_to_finish(tmp_path, monkeypatch) -> None:
    import builtins

    status = StatusLogger(tmp_path / "status.json")
    real_open = builtins.open

    def slow_open(*args, **kwargs):  # the signal arrives in the middle of status.json's write
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        return real_open(*args, **kwargs)

    import model.status

    monkeypatch.setattr(model.status, "open", slow_open, raising=False)
    with pytest.raises(Interrupted):
        with interruptible():
            status.write("RUNNING", "epoch 1")  # finishes: the signal is held back until it returns
            _wait_for_signal()
    assert read_status(tmp_path / "status.json")[-1]["message"] == "epoch 1"


def test_a_signal_inside_a_weakref_callback_is_raised_after_it_not_dropped() -> None:
    """Python drops an exception raised in a weakref callback; the signal must wait and come out after it."""
    import weakref

    class _Object:
        pass

    started = time.monotonic()
    with pytest.raises(Interrupted) as info:
        with interruptible():
            obj = _Object()
            weakref.finalize(obj, os.kill, os.getpid(), signal.SIGINT)  # the signal arrives inside weakref.py
            del obj
            time.sleep(5)  # the deferred Interrupted comes here ~50 ms later
    assert info.value.exit_code == 130 and time.monotonic() - started < 2
