"""SIGINT / SIGTERM as one clean event: the `Interrupted` exception, raised at a safe point.

`model.cli.main` runs every command inside `interruptible()`. The first SIGINT or SIGTERM
raises `Interrupted` in the main thread, so every layer can record what it was doing on the
way out (a trial marked failed, a status.json line) and the command ends with one line and
exit code 128 + signal (130 for SIGINT, 143 for SIGTERM). Later signals are ignored while
that cleanup runs.

`Interrupted` is a BaseException, not a KeyboardInterrupt: Lightning answers a
KeyboardInterrupt with `sys.exit(1)`, and `except Exception` blocks must not swallow it.

A signal that arrives while the main thread is inside a storage transaction (Optuna
storages, SQLAlchemy), a status.json write or a checkpoint write (model/training/callbacks.py)
is held back and raised ~50 ms after that code returns (an ITIMER_REAL re-check), so neither
a journal lock file, a torn checkpoint nor a `.tmp` file is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType
from typing import Iterator

__all__ = ["Interrupted", "interruptible", "interrupting", "take_pending", "SIGNALS"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_RECHECK_S = 0.05
# Code a signal must not cut in half: the files it lives in (path fragments, "/"-separated) ...
# multiprocessing: a batch handed over from a DataLoader worker (its shared-memory file descriptor
# travels over a socket; cut short, the worker prints a ConnectionResetError traceback).
# Weakref callbacks (WeakValueDictionary's `remove`, weakref.finalize) run wherever an object dies:
# an exception there is printed ("Exception ignored in") and dropped, and the command went on to
# the end (seen once in CI under load: a SIGINT swallowed, "Execution status: PASS").
_CRITICAL = ("/optuna/storages/", "/sqlalchemy/", "/multiprocessing/", "/model/training/callbacks.py",
             "/model/status.py", "/automl/interrupt.py", "/weakref.py", "/_weakrefset.py")
# ... and functions: an exception in a finalizer is only printed ("Exception ignored in"), and a
# DataLoader cut short while it stops its worker processes leaves them running.
_CRITICAL_FUNCTIONS = ("__del__", "_shutdown_workers")


class Interrupted(BaseException):
    """The command was asked to stop (SIGINT / SIGTERM).

    Attributes: signum; name ("SIGINT"); exit_code (128 + signum); trials (numbers of the
    trials marked failed because of it); notes (what was kept, to say on the one line);
    worker_pids (worker processes that were stopped with it, whose trials are to be checked).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        self.exit_code = 128 + self.signum
        self.trials: list[int] = []
        self.notes: list[str] = []
        self.worker_pids: set[int] = set()

    def __str__(self) -> str:
        text = f"interrupted by {self.name}"
        if self.trials:
            numbers = ", ".join(str(n) for n in sorted(set(self.trials)))
            text += (f": trial(s) {numbers} marked failed (interrupted) and queued again; the next "
                     "`automl run` resumes them from their newest checkpoints")
        return "; ".join([text, *self.notes])


def _in_critical_code(frame: FrameType | None) -> bool:
    """Whether the main thread is inside code a signal must not cut in half."""
    while frame is not None:
        name = frame.f_code.co_filename.replace(os.sep, "/")
        if frame.f_code.co_name in _CRITICAL_FUNCTIONS or any(part in name for part in _CRITICAL):
            return True
        frame = frame.f_back
    return False


class _Handler:
    """The signal handler: remembers the first signal and raises it as Interrupted once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.raised = False
        self.pid = os.getpid()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self.pid:  # a forked child (a DataLoader worker): its parent stops it
            if signum == signal.SIGTERM:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return  # SIGINT (Ctrl-C reaches the whole process group): ignored, as the parent handles it
        if signum != signal.SIGALRM and self.signum is None:
            self.signum = signum
        if self.signum is None or self.raised:
            return  # a stray alarm, or a second Ctrl-C while the first one is being handled
        if _in_critical_code(frame):
            signal.setitimer(signal.ITIMER_REAL, _RECHECK_S)  # try again once that code returns
            return
        self.raised = True
        raise Interrupted(self.signum)


_active: list[_Handler] = []


def interrupting() -> bool:
    """Whether this process received SIGINT / SIGTERM (raised already or about to be)."""
    return bool(_active) and _active[-1].signum is not None and _active[-1].pid == os.getpid()


def take_pending(signum: int) -> Interrupted:
    """The `Interrupted` for a signal that other code noticed first (Lightning raises its own
    SIGTERMException when it sees SIGTERM while ours waits for a checkpoint write to end).

    Marks the signal as raised, so it is not raised a second time during the cleanup.
    """
    if _active:
        handler = _active[-1]
        signal.setitimer(signal.ITIMER_REAL, 0)
        handler.raised = True
        signum = handler.signum or signum
    return Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[_Handler | None]:
    """Within the block, SIGINT / SIGTERM raise `Interrupted` (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    handler = _Handler()
    previous = {s: signal.getsignal(s) for s in (*SIGNALS, signal.SIGALRM)}
    for signum in previous:
        signal.signal(signum, handler)
    _active.append(handler)
    try:
        yield handler
    finally:
        _active.remove(handler)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, old in previous.items():
            signal.signal(signum, old)
