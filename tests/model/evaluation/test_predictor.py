"""TorchPredictor: padding to /32, cropping back, and the resize path's disparity scaling."""

from __future__ import annotations

import torch

from model.evaluation.predictor import TorchPredictor


class _ConstantDisparity(torch.nn.Module):
    """A stand-in network: records input sizes and predicts 10 px everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, left, right, iters=None, test_mode=True):
        self.seen.append(tuple(left.shape[-2:]))
        return torch.full((left.shape[0], 1, *left.shape[-2:]), 10.0)


def test_pads_to_multiple_of_32_and_crops_back():
    net = _ConstantDisparity()
    out = TorchPredictor(net, torch.device("cpu"))(torch.zeros(2, 3, 50, 70), torch.zeros(2, 3, 50, 70))
    assert net.seen == [(64, 96)]
    assert out.shape == (2, 1, 50, 70)


def test_resize_scales_disparity_by_width_ratio():
    net = _ConstantDisparity()
    pred = TorchPredictor(net, torch.device("cpu"), input_hw=(32, 64))
    out = pred(torch.zeros(1, 3, 40, 128), torch.zeros(1, 3, 40, 128))
    assert net.seen == [(32, 64)]
    assert out.shape == (1, 1, 40, 128)
    assert torch.allclose(out, torch.full_like(out, 20.0))  # 10 px at width 64 is 20 px at width 128
