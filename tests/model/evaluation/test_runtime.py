"""Fast inference runtimes: mode checks on CPU; CUDA-graph / compile parity on a GPU."""

from __future__ import annotations

import pytest
import torch

from model.config import NetworkConfig
from model.errors import SpecError
from model.evaluation.runtime import FastForward
from model.network import build_network


@pytest.fixture()
def tiny_net():
    torch.manual_seed(0)
    return build_network(NetworkConfig.tiny()).eval()


def test_eager_equals_plain_forward(tiny_net):
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = tiny_net(left, right, iters=3)
    assert torch.equal(FastForward(tiny_net, "eager", "fp32", iters=3, optimize=False)(left, right), want)
    # the inference rewrites (BN folded into convs) move the result by float rounding only
    fast = FastForward(tiny_net, "eager", "fp32", iters=3)
    assert fast.net is not tiny_net and (fast(left, right) - want).abs().max().item() <= 1e-4


@pytest.mark.parametrize("runtime,precision,needle", [
    ("cudagraph", "fp32", "'cudagraph' needs a CUDA GPU"),
    ("eager", "bf16", "'bf16' needs a CUDA GPU"),
    ("turbo", "fp32", "inference.runtime: 'turbo' is not one of"),
    ("eager", "int8", "inference.precision: 'int8' is not one of"),
])
def test_unavailable_modes_are_named(tiny_net, runtime, precision, needle):
    with pytest.raises(SpecError) as err:
        FastForward(tiny_net, runtime, precision, key="inference")
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.gpu
@pytest.mark.parametrize("runtime", ["cudagraph", "compile"])  # eager fp32 vs fast fp32, same weights
def test_fast_runtimes_match_eager_on_gpu(tiny_net, runtime):
    net = tiny_net.cuda()
    left, right = torch.randn(2, 3, 64, 96, device="cuda"), torch.randn(2, 3, 64, 96, device="cuda")
    want = FastForward(net, "eager", "fp32", iters=4)(left, right)
    fast = FastForward(net, runtime, "fp32", iters=4)
    for _ in range(2):  # the second call replays the captured graph
        got = fast(left, right)
    assert (got - want).abs().max().item() <= 1e-3
    # new inputs of the same shape go through the same graph
    left2 = torch.randn_like(left)
    assert (fast(left2, right) - FastForward(net, "eager", "fp32", iters=4)(left2, right)).abs().max() <= 1e-3


@pytest.mark.gpu
def test_a_gpu_index_this_machine_lacks_is_named():
    from model.evaluation.predictor import pick_device

    count = torch.cuda.device_count()
    assert pick_device({"gpu_ids": [count - 1]}, "inference") == torch.device(f"cuda:{count - 1}")
    with pytest.raises(SpecError, match=rf"inference.gpu_ids: GPU {count} does not exist"):
        pick_device({"gpu_ids": [count]}, "inference")


@pytest.mark.gpu
@pytest.mark.parametrize("runtime,precision,want", [
    ("compile", "bf16", True), ("compile", "fp32", False), ("cudagraph", "bf16", False)])
def test_compile_at_half_precision_runs_channels_last(tiny_net, runtime, precision, want):
    fast = FastForward(tiny_net.cuda(), runtime, precision, iters=2)
    conv = next(m for m in fast.net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) is want
    assert not conv.weight.is_contiguous() if want else conv.weight.is_contiguous()


def test_compile_keeps_compiling_past_dynamos_recompile_limit(monkeypatch):
    import torch._dynamo.config as dynamo_config

    from model.evaluation.runtime import _allow_recompiles

    monkeypatch.setattr(dynamo_config, "recompile_limit", 8)
    _allow_recompiles(3)
    assert dynamo_config.recompile_limit == 8  # never lowered
    _allow_recompiles(11)  # an eleventh input size still compiles instead of falling back to eager
    assert dynamo_config.recompile_limit == 11


@pytest.mark.parametrize("runtime,precision", [("compile", "fp16"), ("compile", "bf16"), ("compile", "fp32"),
                                               ("cudagraph", "fp16")])
def test_cudnn_search_is_on_for_static_shape_runtimes(tiny_net, runtime, precision):
    # built for a GPU without running on one: the settings are what the calls would run under
    fast = FastForward(tiny_net, runtime, precision, iters=1, device=torch.device("cuda"))
    with fast._cudnn_flags():
        assert torch.backends.cudnn.benchmark is True
    off = FastForward(tiny_net, runtime, precision, iters=1, device=torch.device("cuda"), cudnn_benchmark=False)
    with off._cudnn_flags():
        assert torch.backends.cudnn.benchmark is False


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_compile_keeps_no_cudnn_search_workspace_at_480x640(precision):
    """cuDNN's search must not run inside Inductor's CUDA-graph pool, which keeps what it held.

    bp2 widths, random weights, 480 x 640, 8 iterations (H100): with Inductor's layout
    optimisation on, compile fp32 kept 40.7 GB and fp16 15.3 GB; as built ~0.7 / ~0.5 GB.
    """
    torch.manual_seed(0)
    net = build_network(NetworkConfig()).eval().cuda()
    left, right = torch.randn(2, 1, 3, 480, 640, device="cuda").unbind(0)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()
    fast = FastForward(net, "compile", precision, iters=8, inplace=True)
    for _ in range(3):
        disp = fast(left, right)
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # what stays reserved now is the graph pool (and the output)
    assert torch.isfinite(disp).all()
    assert (torch.cuda.memory_reserved() - before) / 2**30 < 2.0
