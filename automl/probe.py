"""Run-time estimate for `depth_net automl plan --probe`: time real training steps, no study.

One epoch = ceil(train samples / batch size) optimizer steps at the spec's crop size; a step is
timed on the device training would use (forward with train_iters, loss, backward, AdamW), after
one untimed warm-up step. Validation time is not included, so the estimate is a lower bound.
"""

from __future__ import annotations

import math
import time

import torch

__all__ = ["probe_seconds_per_epoch"]


def _steps_per_epoch(spec: dict) -> tuple[int, int]:
    from model.data.datamodule import build_split

    section = (spec.get("dataset") or {}).get("train_dataset") or {}
    batch = int(section.get("batch_size") or 1)
    train = build_split(spec.get("dataset") or {}, "train")
    samples = len(train) if train is not None else 0
    return max(1, math.ceil(samples / batch)), batch


def _crop(spec: dict) -> tuple[int, int]:
    aug = ((spec.get("dataset") or {}).get("train_dataset") or {}).get("augmentation") or {}
    h, w = aug.get("crop_size") or (320, 736)
    return int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32)


def probe_seconds_per_epoch(spec: dict, steps: int = 2) -> dict:
    """Seconds per training epoch of `spec`, measured from `steps` timed optimizer steps."""
    from model.config import NetworkConfig
    from model.network import build_network
    from model.training.loss import compute_sequence_loss

    cfg = NetworkConfig.from_dict(spec.get("model"), prefix="model")
    steps_per_epoch, batch = _steps_per_epoch(spec)
    h, w = _crop(spec)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = build_network(cfg).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    left, right = torch.randn(batch, 3, h, w, device=device), torch.randn(batch, 3, h, w, device=device)
    gt = torch.rand(batch, 1, h, w, device=device) * (cfg.max_disparity / 4)
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        init_disp, preds = net(left, right, test_mode=False)
        loss, _ = compute_sequence_loss(init_disp, preds, gt, None, cfg.max_disparity)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms up (allocator, cuDNN algorithm choice)
            times.append(time.perf_counter() - start)
    step_s = sorted(times)[len(times) // 2]
    return {"step_s": round(step_s, 3), "steps_per_epoch": steps_per_epoch, "batch": batch, "crop": [h, w],
            "device": device.type, "seconds_per_epoch": round(step_s * steps_per_epoch, 1)}
