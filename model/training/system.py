"""The Lightning *system*: the FFS network, its loss, the validation metrics and the optimizer."""

from __future__ import annotations

import math
import random

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from model.config import NetworkConfig
from model.errors import RunFailed
from model.evaluation.metrics import METRIC_NAMES, compute_per_image
from model.network import build_network
from model.training.fast import fused_optimizer_ok, prepare_training_network, resolve_runtime
from model.training.loss import compute_sequence_loss
from model.training.optim import build_optimizer, build_scheduler

__all__ = ["StereoSystem", "PRECISIONS", "VAL_METRICS", "clip_unscaled_gradients"]

#: spec `train.precision` -> Lightning precision
PRECISIONS = {"fp32": "32-true", "fp16": "16-mixed", "bf16": "bf16-mixed"}
#: metrics logged (with a `val/` prefix) after every validation
VAL_METRICS = ("loss", *METRIC_NAMES)
_DIVISOR = 32  # the network needs H and W multiples of 32


def _pad_amounts(height: int, width: int) -> tuple[int, int, int, int]:
    """Centred (left, right, top, bottom) padding up to multiples of 32 (InputPadder's 'sintel')."""
    pad_h = (-height) % _DIVISOR
    pad_w = (-width) % _DIVISOR
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def clip_unscaled_gradients(module: pl.LightningModule, optimizer: torch.optim.Optimizer,
                            clip_val: float | None, algorithm: str | None) -> None:
    """`configure_gradient_clipping` that also clips for a fused optimizer when no GradScaler runs.

    Lightning's mixed-precision plugin refuses to clip for an optimizer that unscales its own
    gradients (fused AdamW / SGD: the fast training path), because under fp16 the gradients it
    would clip are still multiplied by the loss scale. Under bf16 and fp32 there is no scaler:
    the gradients are the true ones and torch clips them directly. Everything else (and fp16,
    which never gets a fused optimizer together with clipping) goes through Lightning.
    """
    scaler = getattr(module.trainer.precision_plugin, "scaler", None)
    if clip_val and getattr(optimizer, "_step_supports_amp_scaling", False) and scaler is None:
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, clip_val, foreach=True)
        else:
            torch.nn.utils.clip_grad_norm_(params, clip_val, foreach=True)
        return
    pl.LightningModule.configure_gradient_clipping(module, optimizer, clip_val, algorithm)


class StereoSystem(pl.LightningModule):
    """FFS network + sequence loss; validation metrics; AdamW/SGD with a per-step schedule.

    Args:
        spec: the resolved spec (its `model`, `dataset.max_disparity`, `train` sections are read;
            the whole dict is stored in every checkpoint).
    """

    def __init__(self, spec: dict) -> None:
        super().__init__()
        self.spec = spec
        self.cfg = NetworkConfig.from_dict(spec["model"])
        self.model = build_network(self.cfg)
        self.max_disparity = float(spec.get("dataset", {}).get("max_disparity") or self.cfg.max_disparity)
        self.seed = int(spec.get("train", {}).get("seed", 0))
        self._last_loss: torch.Tensor | None = None
        train = spec.get("train", {})
        self.check_gradients = train.get("precision", "fp32") != "fp16"
        self.runtime = "eager"  # resolved in on_fit_start, when the device is known
        # fast path: non-finite steps are skipped on the device (fused AdamW's found_inf) and
        # counted there; the host looks at the count every `log_every_n_steps` steps, not every step
        self.check_every = max(1, int(train.get("log_every_n_steps") or 50))
        self._bad_steps: torch.Tensor | None = None

    # ------------------------------------------------------------------ forward
    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Inference: disparity `[B,1,H,W]` with `valid_iters` iterations (H, W multiples of 32)."""
        return self.model(left, right, iters=self.cfg.valid_iters, test_mode=True)

    # ------------------------------------------------------------------ train
    def on_fit_start(self) -> None:
        train = self.spec.get("train", {})
        self.runtime = resolve_runtime(train.get("runtime", "auto"), self.device.type)
        prepare_training_network(self.model, self.runtime, recompute=bool(train.get("recompute_iterations")))

    def on_train_epoch_start(self) -> None:
        # Reseed every epoch from (seed, epoch, rank): a run resumed at an epoch boundary draws
        # the same random numbers (dropout, main-process augmentation) as an uninterrupted one.
        mix = (self.seed * 1_000_003 + self.current_epoch * 7919 + self.global_rank) % (2**31)
        torch.manual_seed(mix)
        np.random.seed(mix)
        random.seed(mix)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        init_disp, preds = self.model(batch["left"], batch["right"], iters=self.cfg.train_iters, test_mode=False)
        loss, parts = compute_sequence_loss(init_disp, preds, batch["disp"], batch["valid"], self.max_disparity)
        self._last_loss = loss.detach()
        size = batch["left"].shape[0]
        if self.runtime == "compile" and self.trainer.world_size == 1:
            # no host sync per step: the epoch mean accumulates on the device; the progress bar
            # (which reads a number, a sync) gets the step loss only every `check_every` steps
            self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=size)
            if self.global_step % self.check_every == 0:
                self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=size)
        else:
            self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=size,
                     sync_dist=True)
        self.log("train_epe", parts["epe"], on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # After backward (and the DDP all-reduce / AMP unscale), before the weights change:
        # a non-finite loss or gradient stops the run, so no checkpoint ever holds it.
        loss = self._last_loss
        if self._deferred_check(optimizer):
            bad = ~torch.isfinite(loss).all() if loss is not None else torch.zeros((), dtype=torch.bool)
            grads = [p.grad for p in self.parameters() if p.grad is not None]
            if grads:
                bad = bad | ~torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()
            bad = bad.float()
            optimizer.found_inf = bad  # the fused kernel skips this step on the device when set
            self._bad_steps = bad if self._bad_steps is None else self._bad_steps + bad
            if (self.global_step + 1) % self.check_every == 0:
                self._raise_if_diverged()
            return
        bad_loss = loss is not None and not bool(torch.isfinite(loss).all())
        bad_grad = False
        if self.check_gradients:  # fp16 overflows are the GradScaler's business, not a failure
            grads = [p.grad for p in self.parameters() if p.grad is not None]
            bad_grad = bool(grads) and not bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all())
        failed = self.trainer.strategy.reduce_boolean_decision(bad_loss or bad_grad, all=False)
        if failed:
            what = (f"non-finite loss ({float(loss)})" if bad_loss else "non-finite gradient" if bad_grad
                    else "non-finite loss or gradient on another rank")
            self._diverged(what)

    def _deferred_check(self, optimizer: torch.optim.Optimizer) -> bool:
        """The sync-free check: fast runtime, one process, and an optimizer that honours found_inf."""
        return (self.runtime == "compile" and self.check_gradients and self.trainer.world_size == 1
                and bool(optimizer.defaults.get("fused")))

    def _raise_if_diverged(self) -> None:
        """Look at the device-side count of skipped non-finite steps (one host sync)."""
        if self._bad_steps is not None and float(self._bad_steps) > 0:
            self._diverged(f"{int(float(self._bad_steps))} step(s) with a non-finite loss or gradient "
                           "(skipped, the weights are unchanged)")

    def _diverged(self, what: str) -> None:
        raise RunFailed(
            f"training diverged at step {self.global_step} (epoch {self.current_epoch}): {what}; lower "
            f"train.optim.lr or set train.clip_grad_norm; the last checkpoint is intact"
        )

    def on_train_epoch_end(self) -> None:
        self._raise_if_diverged()

    # ------------------------------------------------------------------ validation
    # Epoch metrics are exact sums over images, reduced over all ranks at the epoch end: every
    # image counts once whatever the batch size or the number of GPUs (a mean of per-rank means
    # would weight a rank's images by how many images that rank happened to score).
    def on_validation_epoch_start(self) -> None:
        # [loss * images, images, sum of each metric over scored images, scored images]
        self._val_sums = torch.zeros(3 + len(METRIC_NAMES), dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        left, right, gt, valid = batch["left"], batch["right"], batch["disp"], batch["valid"]
        height, width = left.shape[-2:]
        pads = _pad_amounts(height, width)
        if any(pads):  # images replicate-padded, GT zero (= invalid) padded
            left, right = F.pad(left, pads, mode="replicate"), F.pad(right, pads, mode="replicate")
            gt, valid = F.pad(gt, pads), F.pad(valid, pads)
        init_disp, preds = self.model(left, right, iters=self.cfg.valid_iters, test_mode=False)
        loss, _ = compute_sequence_loss(init_disp, preds, gt, valid, self.max_disparity)
        top = pads[2]
        pred = preds[-1][..., top : top + height, pads[0] : pads[0] + width].float()
        per_image = compute_per_image(pred, batch["disp"], self.max_disparity, batch["valid"])
        # on several ranks a padded-in repeat of an image is not counted (see val_dataloader)
        own = torch.ones(left.shape[0], dtype=torch.bool, device=left.device)
        if "index" in batch and self.trainer.world_size > 1:
            own = (batch["index"].to(left.device) % self.trainer.world_size) == self.global_rank
        keep = (per_image["n_valid"] > 0) & own  # images without GT do not enter the per-image means
        sums = self._val_sums
        sums[0] += loss.detach().double() * own.sum()
        sums[1] += own.sum()
        sums[2] += keep.sum()
        for i, name in enumerate(METRIC_NAMES):
            sums[3 + i] += per_image[name][keep].double().sum()

    def on_validation_epoch_end(self) -> None:
        sums = self.trainer.strategy.reduce(self._val_sums, reduce_op="sum")
        if sums[1] > 0:
            self.log("val/loss", (sums[0] / sums[1]).float())
        if sums[2] > 0:
            for i, name in enumerate(METRIC_NAMES):
                self.log(f"val/{name}", (sums[3 + i] / sums[2]).float())

    # ------------------------------------------------------------------ optimizers
    def configure_optimizers(self) -> dict:
        train = self.spec.get("train", {})
        optim = train.get("optim", {})
        # fp16 keeps a GradScaler: a fused optimizer unscales inside its step, after the
        # clipping, so with fp16 and clipping the optimizer is the unfused one (see below)
        scaled_clip = train.get("precision") == "fp16" and float(train.get("clip_grad_norm") or 0.0) > 0
        fused = (resolve_runtime(train.get("runtime", "auto"), self.device.type) == "compile"
                 and fused_optimizer_ok(self.model.parameters()) and not scaled_clip)
        optimizer = build_optimizer(self.model.parameters(), optim, fused=fused)
        total = self.trainer.estimated_stepping_batches
        total = int(total) if math.isfinite(total) else 1
        scheduler = build_scheduler(optimizer, optim, max(1, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        clip_unscaled_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["spec"] = self.spec
        # RNG streams are reseeded from (seed, epoch, rank) every epoch; this records the scheme.
        checkpoint["rng"] = {"seed": self.seed, "reseed": "per epoch from (seed, epoch, rank)"}
