"""The small exception tree of depth_net.

`cli.main()` is the only place that catches these: a `SpecError` / `DataError` /
`CheckpointError` becomes one line on stderr and exit code 2; any other
`DepthNetError` (a run that started and then failed) is exit code 1.
"""

import re

__all__ = [
    "DepthNetError",
    "SpecError",
    "DataError",
    "CheckpointError",
    "ExportError",
    "RunFailed",
]


_WORKER_WRAP = re.compile(r"\ACaught \w+ in (DataLoader worker process \d+)\.\nOriginal Traceback", re.S)


class DepthNetError(Exception):
    """Base class of every error depth_net reports to the user.

    An error raised inside a DataLoader worker comes back re-created by PyTorch with the message
    "Caught DataError in DataLoader worker process N." and the worker's traceback; the user's
    one line must still name the file, so the original message is restored (the worker's
    traceback stays in `worker_traceback` for --debug).
    """

    exit_code = 1

    def __init__(self, *args: object) -> None:
        self.worker_traceback: str | None = None
        if len(args) == 1 and isinstance(args[0], str) and _WORKER_WRAP.match(args[0]):
            self.worker_traceback = args[0]
            last = args[0].rstrip().splitlines()[-1]
            args = (last.split(": ", 1)[1] if ": " in last else last,)
        super().__init__(*args)


class SpecError(DepthNetError, ValueError):
    """A spec / config value is wrong: names the dotted key, the value and what is allowed."""

    exit_code = 2


class DataError(DepthNetError):
    """An input file (annotation, image, disparity) is missing or malformed: names the file."""

    exit_code = 2


class CheckpointError(DepthNetError):
    """A checkpoint is missing, unsafe, or does not fit the configured network."""

    exit_code = 2


class ExportError(DepthNetError):
    """Export / engine building failed or is not available here."""

    exit_code = 2


class RunFailed(DepthNetError):
    """A run started but did not truly succeed (NaN loss, empty output, metric not computable)."""

    exit_code = 1
