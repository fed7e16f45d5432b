"""StereoDataModule loaders: mixed-size validation batches, no augmentation outside train."""

from __future__ import annotations

import pytest
import torch

from model.data.datamodule import StereoDataModule, build_split
from model.evaluation.metrics import compute_per_image


def _spec(val_sizes: list[list[int]], batch_size: int) -> dict:
    synthetic = [{"dataset_name": "Synthetic", "num_samples": 1, "seed": i, "image_size": size}
                 for i, size in enumerate(val_sizes)]
    return {
        "max_disparity": 64,
        "train_dataset": {"data_sources": synthetic[:1], "batch_size": 1, "workers": 0,
                          "augmentation": {"crop_size": [32, 32]}},
        "val_dataset": {"data_sources": synthetic, "batch_size": batch_size, "workers": 0},
    }


def test_validation_batch_of_mixed_sizes_is_padded_and_scored_per_image():
    spec = _spec([[40, 56], [32, 48], [40, 56]], batch_size=3)
    module = StereoDataModule(spec)
    module.setup()
    batches = list(module.val_dataloader())  # stacking 40x56 with 32x48 raised a RuntimeError
    assert len(batches) == 1
    batch = batches[0]
    assert batch["left"].shape == (3, 3, 40, 56) and batch["disp"].shape == (3, 1, 40, 56)
    singles = [module.val_set[i] for i in range(3)]
    pred = batch["disp"] + 0.75 * torch.arange(1, 4).view(3, 1, 1, 1)  # image i off by 0.75 * (i + 1)
    per_image = compute_per_image(pred, batch["disp"], 64, batch["valid"])
    for i, single in enumerate(singles):
        h, w = single["left"].shape[-2:]
        assert torch.equal(batch["left"][i, :, :h, :w], single["left"])
        assert torch.equal(batch["disp"][i, :, :h, :w], single["disp"])
        assert batch["valid"][i].sum() == single["valid"].sum()  # padding is never valid
        assert torch.equal(batch["left"][i, :, h:, :w], single["left"][:, -1:, :].expand(-1, 40 - h, -1))
        assert per_image["epe"][i].item() == pytest.approx(0.75 * (i + 1))
        assert per_image["n_valid"][i].item() == single["valid"].sum().item()


def test_equal_sizes_stack_unchanged_and_val_is_not_augmented():
    spec = _spec([[32, 48], [32, 48]], batch_size=2)
    spec["val_dataset"]["augmentation"] = {"crop_size": [16, 16], "color_aug_prob": 1.0}
    val = build_split(spec, "val")
    module = StereoDataModule(spec)
    module.setup()
    batch = next(iter(module.val_dataloader()))
    assert batch["left"].shape == (2, 3, 32, 48)
    assert torch.equal(batch["left"][1], val[1]["left"]) and batch["name"] == ["synthetic_0_000000",
                                                                                 "synthetic_1_000000"]
    train = next(iter(module.train_dataloader()))
    assert train["left"].shape == (1, 3, 32, 32)
