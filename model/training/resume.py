"""Whether a checkpoint can resume a training run, checked before anything is written.

`train.resume_training_checkpoint_path` (or a `dn_model_latest.pth` found in the results folder)
is handed to Lightning, which needs a whole training state: its own version tag, the optimizer and
scheduler states, the epoch and step. The network-weights reader (`model.network.checkpoint`)
accepts far more (a plain state dict, the upstream pickled module through a restricted unpickler),
so a weights-only file passed that check and then failed inside `trainer.fit` with a KeyError or an
UnpicklingError traceback, after the results folder was written. This loads the file the way
Lightning does (`weights_only=True`) and names what is missing.
"""

from __future__ import annotations

from pathlib import Path

from model.errors import CheckpointError

__all__ = ["check_resumable", "TRAINING_STATE_KEYS"]

#: what Lightning's checkpoint connector reads when it resumes a fit
TRAINING_STATE_KEYS = ("pytorch-lightning_version", "state_dict", "optimizer_states", "lr_schedulers", "epoch",
                       "global_step")


def check_resumable(path: str | Path, key: str = "train.resume_training_checkpoint_path") -> None:
    """CheckpointError (one line) unless `path` is a training checkpoint Lightning can resume from."""
    import pickle

    import torch

    hint = "to start from its weights, set train.pretrained_model_path instead"
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, OSError, AttributeError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{key}: {path} cannot be resumed: it does not load as a plain training checkpoint "
                              f"({reason[:160]}); {hint}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{key}: {path} cannot be resumed: it holds a {type(ckpt).__name__}, not a training "
                              f"checkpoint; {hint}")
    missing = [name for name in TRAINING_STATE_KEYS if name not in ckpt]
    if missing:
        raise CheckpointError(f"{key}: {path} cannot be resumed: it holds weights but no training state (no "
                              f"{', '.join(repr(m) for m in missing[:3])}); {hint}")
    if not isinstance(ckpt["optimizer_states"], list) or len(ckpt["optimizer_states"]) != 1:
        raise CheckpointError(f"{key}: {path} cannot be resumed: it holds {len(ckpt['optimizer_states'] or [])} "
                              f"optimizer states, training has 1; {hint}")
