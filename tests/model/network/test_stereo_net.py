"""The tiny network: shapes in both modes, a fast train step, gradients reach every parameter."""

from __future__ import annotations

import time

import pytest
import torch

from model.config import NetworkConfig
from model.network import build_network
from model.network.padding import InputPadder


@pytest.fixture(scope="module")
def tiny_net():
    torch.manual_seed(0)
    return build_network(NetworkConfig.tiny())


def test_test_mode_shape_and_default_iters(tiny_net):
    left, right = torch.randn(2, 1, 3, 64, 96).unbind(0)
    tiny_net.eval()
    with torch.no_grad():
        disp = tiny_net(left, right)
        disp_more = tiny_net(left, right, iters=3)
    assert disp.shape == (1, 1, 64, 96) and torch.isfinite(disp).all()
    assert not torch.equal(disp, disp_more)  # iters is honoured


def test_train_step_is_fast_and_reaches_every_parameter(tiny_net):
    cfg = tiny_net.cfg
    left, right = torch.randn(2, 1, 3, 64, 96).unbind(0)
    tiny_net.train()
    tiny_net.zero_grad(set_to_none=True)
    tiny_net(left, right, test_mode=False)  # warm-up (allocator, lazy init)
    tiny_net.zero_grad(set_to_none=True)
    start = time.process_time()  # CPU time: robust to other processes sharing the cores
    init_disp, preds = tiny_net(left, right, test_mode=False)
    loss = init_disp.mean() + sum(p.mean() for p in preds)
    loss.backward()
    elapsed = time.process_time() - start
    assert init_disp.shape == (1, 1, 16, 24)
    assert len(preds) == cfg.train_iters and all(p.shape == (1, 1, 64, 96) for p in preds)
    no_grad = [n for n, p in tiny_net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == []
    assert elapsed < 1.0, f"tiny train step took {elapsed:.2f} s of CPU time"


def test_batch_items_are_independent_in_eval(tiny_net):
    left, right = torch.randn(2, 2, 3, 64, 96).unbind(0)
    tiny_net.eval()
    with torch.no_grad():
        both = tiny_net(left, right)
        first = tiny_net(left[:1], right[:1])
    assert (both[:1] - first).abs().max() < 1e-3


def test_input_padder_round_trip():
    x = torch.arange(2 * 3 * 50 * 70, dtype=torch.float32).reshape(2, 3, 50, 70)
    padder = InputPadder(x.shape, divis_by=32)
    (padded,) = padder.pad(x)
    assert padded.shape[-2:] == (64, 96)
    assert padder.pads == (13, 13, 7, 7)
    assert torch.equal(padder.unpad(padded), x)
    assert torch.equal(padded[..., 0, 13:83], x[..., 0, :])  # replicate: top rows copy row 0
    same = InputPadder((64, 96))
    assert same.pads == (0, 0, 0, 0) and same.pad(x)[0] is x


def test_nan_input_gives_nan_output_not_a_crash():
    """A diverging run (NaN features / disparity) must surface as NaN for the NaN guards, not as
    an out-of-bounds gather inside the geometry lookup."""
    net = build_network(NetworkConfig.tiny()).eval()
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    left[0, 0, 10, 10] = float("nan")
    with torch.no_grad():
        out = net(left, right)
    assert out.shape == (1, 1, 64, 96)
    assert torch.isnan(out).any()
