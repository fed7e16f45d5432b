"""The small exception tree of depth_net.

`cli.main()` is the only place that catches these: a `SpecError` / `DataError` /
`CheckpointError` becomes one line on stderr and exit code 2; any other
`DepthNetError` (a run that started and then failed) is exit code 1.
"""

__all__ = [
    "DepthNetError",
    "SpecError",
    "DataError",
    "CheckpointError",
    "ExportError",
    "RunFailed",
]


class DepthNetError(Exception):
    """Base class of every error depth_net reports to the user."""

    exit_code = 1


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
