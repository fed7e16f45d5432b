"""`fit(spec, status)`: one Lightning training built from the resolved spec.

Used by `model/actions/train.py` and by `automl/objective.py` (with a pruning callback).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.utilities.exceptions import SIGTERMException

from model import errors
from model.data.datamodule import StereoDataModule
from model.errors import CheckpointError, RunFailed, SpecError
from model.interrupt import interrupting, take_pending
from model.status import StatusLogger, results_dir_for
from model.training.callbacks import (LATEST_NAME, CheckpointWriter, NanInjector, StatusReporter, epoch_kpi,
                                      read_checkpoint_index)
from model.training.checkpoint_io import LocalCheckpointIO
from model.training.console import LIGHTNING_WARNINGS, RunProgressBar, quiet_lightning
from model.training.fast import apply_memory_fraction, resolve_runtime
from model.training.system import PRECISIONS, StereoSystem

__all__ = ["fit", "trainer_options", "check_hardware", "resume_checkpoint", "resolve_pretrained", "NAN_ENV"]

#: fault injection for tests: the global step whose input batch is turned into NaN
NAN_ENV = "DEPTH_NET_INJECT_NAN_AT_STEP"


def _devices(train: dict, cuda_count: int) -> tuple[str, int | list[int]]:
    """(accelerator, devices) from `num_gpus` / `gpu_ids`; CPU processes when no GPU is visible."""
    num = int(train.get("num_gpus", 1))
    ids = [int(i) for i in (train.get("gpu_ids") or [])]
    if cuda_count == 0:
        return "cpu", num  # num_gpus > 1 without a GPU: DDP over CPU processes (gloo)
    if len(ids) >= num:
        ids = ids[:num]
        bad = [i for i in ids if i >= cuda_count]
        if bad:
            raise SpecError(f"train.gpu_ids: {ids} names GPU {bad[0]}, but only {cuda_count} GPU(s) are "
                            f"visible (ids 0..{cuda_count - 1})")
        return "gpu", ids
    if num > cuda_count:
        raise SpecError(f"train.num_gpus: {num} but only {cuda_count} GPU(s) are visible")
    return "gpu", num


def check_hardware(spec: dict) -> tuple[str, int | list[int], int]:
    """Validate `num_gpus` / `gpu_ids` / `num_nodes` / `precision` against this machine.

    Returns:
        (accelerator, devices, world size). Raises SpecError naming the key.
    """
    train = spec["train"]
    accelerator, devices = _devices(train, torch.cuda.device_count())
    num_nodes = int(train.get("num_nodes", 1))
    world = (len(devices) if isinstance(devices, list) else devices) * num_nodes
    precision = train.get("precision", "fp32")
    if precision not in PRECISIONS:
        raise SpecError(f"train.precision: {precision!r} is not one of {list(PRECISIONS)}")
    if precision == "fp16" and accelerator == "cpu":
        raise SpecError("train.precision: fp16 needs a GPU; use bf16 or fp32 on CPU")
    if num_nodes > 1:
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK") if k not in os.environ]
        if missing:
            raise SpecError(f"train.num_nodes: {num_nodes} needs {', '.join(missing)} in the environment of "
                            "every node (and WORLD_SIZE = num_nodes * num_gpus)")
        env_world = os.environ.get("WORLD_SIZE")
        if env_world is not None and int(env_world) != world:
            raise SpecError(f"train.num_nodes * num_gpus = {world} but WORLD_SIZE={env_world} in the environment")
    return accelerator, devices, world


def trainer_options(spec: dict, out_dir: Path) -> dict:
    """The `pl.Trainer` keyword arguments the spec's `train` section asks for.

    Args:
        spec: the resolved spec.
        out_dir: the training results folder (loggers write under it).
    """
    train = spec["train"]
    accelerator, devices, world = check_hardware(spec)
    num_nodes = int(train.get("num_nodes", 1))
    precision = train.get("precision", "fp32")
    strategy: str | DDPStrategy = "auto"
    if world > 1:
        # spawn: only this process writes status.json / experiment.yaml; the workers just train.
        # The network holds only parameters its forward uses (bp2's unused keys are dropped on load).
        strategy = DDPStrategy(start_method="spawn", find_unused_parameters=False,
                               process_group_backend="gloo" if accelerator == "cpu" else "nccl")
    clip = float(train.get("clip_grad_norm") or 0.0)
    has_val = bool(((spec.get("dataset") or {}).get("val_dataset") or {}).get("data_sources"))
    return {
        "accelerator": accelerator,
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": strategy,
        "precision": PRECISIONS[precision],
        "max_epochs": int(train.get("num_epochs", 1)),
        "max_time": {"seconds": float(train["max_minutes"]) * 60} if train.get("max_minutes") else None,
        "check_val_every_n_epoch": int(train.get("validation_interval", 1)),
        "limit_val_batches": None if has_val else 0,
        "gradient_clip_val": clip if clip > 0 else None,
        "gradient_clip_algorithm": "norm",
        "log_every_n_steps": int(train.get("log_every_n_steps", 50)),
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,  # the datamodule shards train and val itself
        "enable_checkpointing": True,  # our CheckpointWriter is the one checkpoint callback
        "default_root_dir": str(out_dir),
        "logger": [CSVLogger(str(out_dir), name="csv_logs"), TensorBoardLogger(str(out_dir), name="tb_logs")],
        "enable_model_summary": False,
        "plugins": [LocalCheckpointIO()],  # no copy of each checkpoint in the system temp folder
    }


def resume_checkpoint(train: dict, out_dir: Path) -> Path | None:
    """`resume_training_checkpoint_path` when set (must exist), else `<out_dir>/dn_model_latest.pth` if present."""
    explicit = train.get("resume_training_checkpoint_path")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            what = "is a folder, not a checkpoint file" if path.is_dir() else "does not exist"
            raise CheckpointError(f"train.resume_training_checkpoint_path: {path} {what}")
        return path
    latest = out_dir / LATEST_NAME
    if (latest.exists() or latest.is_symlink()) and not latest.is_file():
        # training would run an epoch and then fail to write it: say so before anything starts
        raise CheckpointError(f"{latest} is in the way (not a checkpoint file; training writes its latest "
                              "checkpoint there): move it or choose another results_dir")
    return latest if latest.is_file() else None


def _load_weights(system: StereoSystem, path: Path, key: str) -> None:
    """Strictly load network weights (any format checkpoint.py reads); errors name the key."""
    from model.network.builtin import builtin_file
    from model.network.checkpoint import load_network_weights

    path = builtin_file(path, f"train.{key}") or path
    if not path.is_file():
        raise CheckpointError(f"train.{key}: {path} does not exist")
    load_network_weights(system.model, str(path), system.cfg)


def _worker_error(exc: BaseException) -> BaseException:
    """Turn a DDP worker's exception (re-raised here as text) back into our error class."""
    text = str(exc)
    for match in re.finditer(r"(?:model\.errors\.)?(\w+Error|RunFailed): (.+)", text):
        cls = getattr(errors, match.group(1), None)
        if isinstance(cls, type) and issubclass(cls, errors.DepthNetError):
            return cls(match.group(2).strip())
    return exc


def _saved_kpi(path: Path) -> dict:
    """The kpi stored in one of our checkpoints ({} when absent)."""
    ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    return dict(ckpt.get("kpi") or {})


def resolve_pretrained(train: dict) -> None:
    """`pretrained_model_path` may name a results folder, as every other checkpoint key may: the file
    it holds (a train dir's dn_model_latest.pth, a results root's train/, a study's best/) replaces
    it in `train`, and a one-line note says which. A file is left as it is."""
    value = train.get("pretrained_model_path")
    if not value or not Path(value).is_dir():
        return
    from model.model_files import resolve_model_file

    path, note = resolve_model_file(value, "checkpoint", "train", name="pretrained_model_path")
    if note:
        print(note)
    train["pretrained_model_path"] = str(path)


def _set_cudnn(cudnn: dict) -> None:
    """TAO's `train.cudnn.benchmark` / `deterministic`; null leaves PyTorch's setting."""
    for flag in ("benchmark", "deterministic"):
        if cudnn.get(flag) is not None:
            setattr(torch.backends.cudnn, flag, bool(cudnn[flag]))


def fit(spec: dict, status: StatusLogger, callbacks=(), echo: bool | None = None) -> dict:
    """Run one training from the resolved spec.

    Resumes from `train.resume_training_checkpoint_path`, else from `dn_model_latest.pth` in the
    results folder when there is one; otherwise starts from `train.pretrained_model_path` (any
    checkpoint format) or from scratch. A non-finite loss or gradient raises `RunFailed`.

    Args:
        spec: the resolved spec (`load_spec(..., "train")`).
        status: the action's status.json writer (RUNNING lines per epoch).
        callbacks: extra Lightning callbacks (e.g. an Optuna pruning callback).
        echo: print the start ("fine-tuning from X"), the device, one line per epoch with its
            validation metrics and the checkpoint paths on stdout; None: only when no extra
            callbacks are given (an AutoML trial reports through its own table).
    Returns:
        `{"kpi": last epoch kpi, "best_checkpoint": path, "latest_checkpoint": path}`.
    """
    train = spec["train"]
    out_dir = results_dir_for(spec, "train")
    out_dir.mkdir(parents=True, exist_ok=True)
    apply_memory_fraction()  # a trial that shares its GPU (automl.trials_per_gpu) keeps to its share
    seed = int(train.get("seed", 0))
    pl.seed_everything(seed, workers=False, verbose=False)
    echo = not callbacks if echo is None else echo
    resolve_pretrained(train)
    quiet_lightning()
    options = trainer_options(spec, out_dir)
    system = StereoSystem(spec)
    ckpt = resume_checkpoint(train, out_dir)
    if ckpt is not None:
        _load_weights(system, ckpt, "resume_training_checkpoint_path")  # clear errors before Lightning's
        start = f"resuming training from {ckpt}"
    elif train.get("pretrained_model_path"):
        _load_weights(system, Path(train["pretrained_model_path"]), "pretrained_model_path")
        start = f"fine-tuning from {train['pretrained_model_path']}"
    else:
        start = "training from scratch"
    status.write("RUNNING", start)
    if echo:
        devices = options["devices"]
        where = "the CPU" if options["accelerator"] == "cpu" else f"GPU {devices}"
        runtime = resolve_runtime(train.get("runtime", "auto"), "cpu" if options["accelerator"] == "cpu" else "cuda")
        if runtime == "compile":  # H100, builtin recipe, cold cache: 192 s to the first optimizer step
            where += " (train.runtime compile: the first steps wait minutes for the compiler; eager for short runs)"
        print(f"train: {start} on {where}, {options['max_epochs']} epoch(s) -> {out_dir}", flush=True)
    _set_cudnn(train.get("cudnn") or {})
    extra = list(callbacks)
    # Lightning logs "Received SIGTERM" itself; the command's one interruption line says it (model/interrupt.py)
    logging.getLogger("pytorch_lightning.trainer.connectors.signal_connector").setLevel(logging.WARNING)
    if os.environ.get(NAN_ENV):
        extra.append(NanInjector(int(os.environ[NAN_ENV])))
    trainer = pl.Trainer(
        callbacks=[CheckpointWriter(out_dir, int(train.get("checkpoint_interval", 1)),
                                    keep=int(train.get("checkpoints_to_keep") or 0)), StatusReporter(status, echo),
                   RunProgressBar(), *extra],
        **options,
    )
    with warnings.catch_warnings():
        for pattern in LIGHTNING_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        try:
            trainer.fit(system, datamodule=StereoDataModule(spec["dataset"], seed),
                        ckpt_path=str(ckpt) if ckpt is not None else None)
        except errors.DepthNetError:
            raise
        except SIGTERMException:  # Lightning saw our SIGTERM first: the command's one interruption
            raise take_pending(signal.SIGTERM) from None
        except Exception as exc:  # noqa: BLE001 - DDP workers' errors arrive as text
            if interrupting():  # e.g. a DataLoader worker stopped by the same Ctrl-C
                raise take_pending(signal.SIGINT) from None
            mapped = _worker_error(exc)
            if mapped is exc:
                raise
            raise mapped from None
    kpi = epoch_kpi(trainer)
    latest = out_dir / LATEST_NAME
    if not kpi and ckpt is not None:  # nothing left to train: report what the checkpoint holds
        kpi = _saved_kpi(ckpt)
    if not latest.is_file():
        raise RunFailed(f"{out_dir}: training ended without writing {LATEST_NAME}")
    index = read_checkpoint_index(out_dir)
    best = index.get("best_checkpoint") or str(latest)
    if echo:
        print(f"train: checkpoint {latest}" + (f" (best: {best})" if best != str(latest) else ""), flush=True)
    return {"kpi": kpi, "best_checkpoint": best, "latest_checkpoint": str(latest)}
