"""Gradient clipping with a fused optimizer under mixed precision (the fast training path's setup).

Lightning's mixed-precision plugin refuses to clip for any optimizer that unscales its own
gradients ("does not allow for gradient clipping ... Are you using a 'fused' optimizer?"), which
stopped every `train.runtime: compile` run with `clip_grad_norm` at its first step on an H100.
torch has fused SGD / AdamW kernels on the CPU too, so the same Lightning path runs here:
bf16-mixed, a fused optimizer, real `Trainer.fit`.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from model.training.system import clip_unscaled_gradients

CLIP = 1e-3


class _Tiny(pl.LightningModule):
    """One linear layer, fused SGD with lr 1 and no momentum: one step moves the weights by the clipped gradient."""

    def __init__(self, ours: bool) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(8, 1)
        self.ours = ours
        self.before: torch.Tensor | None = None
        self.grad_norm: float | None = None

    def training_step(self, batch, batch_idx):
        x, y = batch
        return ((self.layer(x) - y) ** 2).mean() * 1e3  # a gradient far above CLIP

    def on_before_optimizer_step(self, optimizer) -> None:
        self.before = torch.cat([p.detach().flatten().clone() for p in self.parameters()])
        self.grad_norm = float(torch.cat([p.grad.flatten() for p in self.parameters()]).norm())

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        if self.ours:
            clip_unscaled_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)
        else:
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0, momentum=0.0, fused=True)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        data = torch.utils.data.TensorDataset(torch.randn(4, 8, generator=g), torch.randn(4, 1, generator=g) + 5)
        return torch.utils.data.DataLoader(data, batch_size=4)


def _fit(module: pl.LightningModule, tmp_path, algorithm: str = "norm") -> None:
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", max_steps=1,
                         gradient_clip_val=CLIP, gradient_clip_algorithm=algorithm, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(tmp_path))
    trainer.fit(module)


def test_lightning_alone_refuses_to_clip_for_a_fused_optimizer(tmp_path):
    with pytest.raises(RuntimeError, match="fused"):
        _fit(_Tiny(ours=False), tmp_path)


def test_a_fused_optimizer_under_bf16_steps_with_the_clipped_gradient(tmp_path):
    module = _Tiny(ours=True)
    _fit(module, tmp_path)
    after = torch.cat([p.detach().flatten() for p in module.parameters()])
    step = float((after - module.before).norm())
    assert module.grad_norm > 100 * CLIP  # clipping had work to do
    assert step == pytest.approx(CLIP, rel=1e-3)  # lr 1: the step is the gradient, clipped to norm CLIP


def test_clip_by_value_is_honoured_too(tmp_path):
    module = _Tiny(ours=True)
    _fit(module, tmp_path, algorithm="value")
    after = torch.cat([p.detach().flatten() for p in module.parameters()])
    moved = (after - module.before).abs()
    assert float(moved.max()) == pytest.approx(CLIP, rel=1e-3)
