"""Lightning's checkpoint writer, replaced by one that writes where it is told and nowhere else.

Lightning's `TorchCheckpointIO` saves through an fsspec transaction, which for a local path writes
the whole checkpoint into a `tempfile.mkstemp()` file in the system temp folder and moves it into
place afterwards: a write cut short (disk full, the process killed) left that file in /tmp, and a
full /tmp failed a run whose results disk had room. `CheckpointWriter` already writes each
checkpoint under a temporary name in the results folder and renames it, so this plugin writes the
bytes straight to that name, and removes the partial file when the write fails.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

__all__ = ["LocalCheckpointIO"]


class LocalCheckpointIO(TorchCheckpointIO):
    """`save_checkpoint` serialises in memory, then writes `path` directly; an OSError (ENOSPC,
    EFBIG, EIO) removes the partial file and propagates."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("LocalCheckpointIO.save_checkpoint takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "wb") as fh:
                fh.write(buffer.getbuffer())
        except BaseException:
            target.unlink(missing_ok=True)
            raise
