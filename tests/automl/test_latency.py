"""The AutoML latency measurement runs the deploy forward (FastForward with evaluate.runtime / precision)."""

from __future__ import annotations

import math

import pytest
import torch

from automl.objective import _measure_latency_ms
from model.config import NetworkConfig
from model.evaluation import runtime
from model.network import build_network


# evaluate asks for CUDA graphs at bf16; the latency runs at the export size
SPEC = {"evaluate": {"runtime": "cudagraph", "precision": "bf16"}, "export": {"input_height": 64, "input_width": 96}}


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = NetworkConfig.tiny()
    path = tmp_path / "tiny.pth"
    torch.save({"state_dict": build_network(cfg).state_dict(), "spec": {"model": cfg.to_dict()}}, path)
    return path


def _spy(monkeypatch) -> list:
    """Record how the real FastForward is built (runtime, precision, valid_iters default)."""
    built = []

    class Recording(runtime.FastForward):
        def __init__(self, net, run="eager", precision="fp32", *args, **kwargs):
            built.append((run, precision, kwargs.get("iters")))
            super().__init__(net, run, precision, *args, **kwargs)

    monkeypatch.setattr(runtime, "FastForward", Recording)
    return built


def test_cpu_latency_is_eager_fp32_whatever_evaluate_asks(monkeypatch, tiny_checkpoint):
    built = _spy(monkeypatch)
    if torch.cuda.is_available():
        pytest.skip("the CPU fallback is what this checks")
    ms = _measure_latency_ms(SPEC, str(tiny_checkpoint), repeats=2)
    assert math.isfinite(ms) and ms > 0
    assert built == [("eager", "fp32", None)]  # the network's valid_iters, as evaluate runs it


@pytest.mark.gpu
def test_gpu_latency_uses_the_evaluate_runtime(monkeypatch, tiny_checkpoint):
    built = _spy(monkeypatch)
    ms = _measure_latency_ms(SPEC, str(tiny_checkpoint), repeats=3)
    assert math.isfinite(ms) and ms > 0
    assert built == [("cudagraph", "bf16", None)]
