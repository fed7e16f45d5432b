"""Parity with the TAO reference (golden case A, fp16-stored weights run in fp32 on CPU)."""

from __future__ import annotations

import pytest
import torch

from model.network.disparity import soft_argmin
from model.network.key_layout import to_native_key


def test_eval_case_a_matches_reference(bp2_net, golden_dir):
    golden = torch.load(golden_dir / "golden_A.pt", weights_only=True)
    logits = {}
    bp2_net.classifier.register_forward_hook(lambda m, i, o: logits.__setitem__("x", o))
    assert bp2_net.cfg.valid_iters == int(golden["iters"]) == 8
    bp2_net.eval()
    with torch.no_grad():
        disp = bp2_net(golden["left"], golden["right"])  # iters=None -> valid_iters
    assert disp.shape == golden["disparity"].shape == (1, 1, 128, 160)
    assert (disp - golden["disparity"]).abs().max() <= 1e-3
    assert (soft_argmin(logits["x"]) - golden["init_disp"]).abs().max() <= 1e-3


def test_train_case_a_matches_reference(bp2_net, golden_dir):
    """Train mode (batch-statistics BN, dropout off), 3 iterations.

    The batch-norm running statistics the forward writes match to ~1e-7, which pins every BN input.
    The outputs are ill-conditioned in train mode: with BN on batch statistics, fp32 rounding noise
    grows ~300x through the 3D hourglass (this network's own 1- vs 2-thread results differ by up to
    3.6e-3 px in init_disp and a 1e-6 input change moves it by 6e-3 px), so the outputs are checked
    at that noise floor: max |diff| <= 2e-2 px (we see 3.6e-3 / 6.2e-3) and mean |diff| <= 2e-3 px.
    The reference's own fp32 output carries that noise: the same network run in float64 differs
    from golden_A_train by 2.7e-3 (init_disp) and 6.6e-3 px (predictions), so no fp32
    reimplementation can promise 1e-3 here; eval mode (running BN statistics) is checked at 1e-3.
    """
    golden = torch.load(golden_dir / "golden_A_train.pt", weights_only=True)
    bp2_net.train()
    for module in bp2_net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.eval()
    init_disp, preds = bp2_net(golden["left"], golden["right"], iters=int(golden["iters"]), test_mode=False)
    assert init_disp.shape == golden["init_disp"].shape and len(preds) == len(golden["disp_preds"]) == 3
    for got, want in [(init_disp, golden["init_disp"]), *zip(preds, golden["disp_preds"])]:
        diff = (got.detach() - want).abs()
        assert diff.max() <= 2e-2 and diff.mean() <= 2e-3, (float(diff.max()), float(diff.mean()))
    ours = bp2_net.state_dict()
    stats = golden["bn_running_stats_after_forward"]
    assert len(stats) == 102
    for key, want in stats.items():
        got = ours[to_native_key(key)]
        assert (got.double() - want.double()).abs().max() <= 1e-5, key


def test_inference_path_keeps_case_a_parity(bp2_net, golden_dir):
    """The optimised inference path (BN folded, GRU gates fused, mask head skipped) on case A."""
    from model.evaluation.runtime import FastForward

    golden = torch.load(golden_dir / "golden_A.pt", weights_only=True)
    fast = FastForward(bp2_net.eval(), "eager", "fp32")
    with torch.no_grad():
        disp = fast(golden["left"], golden["right"])
    assert (disp - golden["disparity"]).abs().max() <= 1e-3


@pytest.mark.gpu
@pytest.mark.parametrize("runtime", ["cudagraph", "compile"])
def test_fp32_fast_runtimes_keep_case_a_parity_on_gpu(bp2_net, golden_dir, runtime):
    """The fp32 fast paths on a GPU (TF32 off): case A within 1e-3 px, as eager on the CPU.

    On the GPU machine `../shared` does not travel: point DEPTH_NET_SHARED at a copy.
    """
    from model.evaluation.runtime import FastForward

    golden = torch.load(golden_dir / "golden_A.pt", weights_only=True)
    fast = FastForward(bp2_net.eval().cuda(), runtime, "fp32", inplace=True)
    left, right = golden["left"].cuda(), golden["right"].cuda()
    for _ in range(2):  # the second call replays the captured / compiled graph
        disp = fast(left, right).cpu()
    assert (disp - golden["disparity"]).abs().max() <= 1e-3
