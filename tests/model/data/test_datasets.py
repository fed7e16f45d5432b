"""Datasets by name: the sample contract, decodings, real samples, names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.data.base import unique_names
from model.data.datasets import DATASET_NAMES, build_dataset
from model.data.normalize import normalize_image

FILE_DATASETS = [n for n in DATASET_NAMES if n != "Synthetic"]


def _check_contract(sample: dict, h: int, w: int) -> None:
    assert set(sample) == {"left", "right", "disp", "valid", "has_gt", "name", "left_path", "left_rgb"}
    for key in ("left", "right"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (3, h, w)
    for key in ("disp", "valid"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (1, h, w)
    assert set(torch.unique(sample["valid"]).tolist()) <= {0.0, 1.0}
    assert (sample["disp"][sample["valid"] == 0] == 0).all()
    assert sample["left_rgb"].dtype == torch.uint8 and sample["left_rgb"].shape == (3, h, w)
    torch.testing.assert_close(sample["left"], normalize_image(sample["left_rgb"].permute(1, 2, 0).numpy()))
    assert isinstance(sample["has_gt"], bool) and isinstance(sample["name"], str)


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_every_file_dataset_decodes_its_encoding(make_dataset, name):
    data_file, truth = make_dataset(name)
    dataset = build_dataset({"dataset_name": name.upper(), "data_file": str(data_file)},
                            split="val", augmentation=None, max_disparity=192)
    sample = dataset[0]
    _check_contract(sample, 16, 24)
    assert sample["has_gt"] and sample["name"] == "left"
    expected_valid = truth > 0
    np.testing.assert_array_equal(sample["valid"][0].numpy(), expected_valid)
    np.testing.assert_allclose(sample["disp"][0].numpy(), np.where(expected_valid, truth, 0), rtol=1e-6, atol=1e-3)


def test_max_disparity_invalidates_large_gt(make_dataset):
    data_file, truth = make_dataset("Kitti")
    sample = build_dataset({"dataset_name": "kitti", "data_file": str(data_file)},
                           split="test", augmentation=None, max_disparity=20)[0]
    np.testing.assert_array_equal(sample["valid"][0].numpy(), (truth > 0) & (truth < 20))


def test_synthetic_contract_and_determinism():
    source = {"dataset_name": "SYNTHETIC", "num_samples": 2, "seed": 3, "image_size": [32, 48]}
    dataset = build_dataset(source, split="val", augmentation={"crop_size": [16, 16]}, max_disparity=64)
    sample = dataset[1]
    _check_contract(sample, 32, 48)  # not augmented outside "train"
    assert sample["valid"].all() and sample["name"] == "synthetic_3_000001"
    again = build_dataset(source, split="val", augmentation=None, max_disparity=64)[1]
    assert torch.equal(sample["disp"], again["disp"]) and torch.equal(sample["left"], again["left"])
    assert not torch.equal(dataset[0]["disp"], sample["disp"])


@pytest.mark.parametrize("split", ["val", "test", "infer"])
def test_augmentation_never_applied_outside_train(split):
    source = {"dataset_name": "Synthetic", "num_samples": 1, "seed": 0, "image_size": [32, 48]}
    aug = {"crop_size": [16, 16], "color_aug_prob": 1.0, "eraser_aug_prob": 1.0, "v_flip_prob": 1.0}
    plain = build_dataset(source, split=split, augmentation=None, max_disparity=64)[0]
    with_aug = build_dataset(source, split=split, augmentation=aug, max_disparity=64)[0]
    assert torch.equal(plain["left_rgb"], with_aug["left_rgb"]) and torch.equal(plain["disp"], with_aug["disp"])
    train = build_dataset(source, split="train", augmentation=aug, max_disparity=64)[0]
    assert train["left"].shape == (3, 16, 16)


def test_real_middlebury_inf_and_mask(real_dir):
    dataset = build_dataset({"dataset_name": "middlebury", "data_file": str(real_dir / "middlebury2014Q.txt")},
                            split="test", augmentation=None, max_disparity=192)
    assert [dataset.names[i] for i in range(4)] == ["Adirondack", "ArtL", "Piano", "Teddy"]
    sample = dataset[1]
    _check_contract(sample, 277, 347)
    # valid = finite GT and mask == 255 (non-occluded): PROVENANCE mask_nocc_frac 0.7591
    assert sample["valid"].mean().item() == pytest.approx(0.7591, abs=1e-3)
    disp = sample["disp"][sample["valid"] > 0]
    assert disp.min().item() >= 19.25 and disp.max().item() <= 55.5


def test_real_kitti_and_flyingthings(real_dir):
    kitti = build_dataset({"dataset_name": "Kitti", "data_file": str(real_dir / "kitti2015.txt")},
                          split="val", augmentation=None, max_disparity=192)
    sample = kitti[0]
    _check_contract(sample, 375, 1242)
    assert sample["name"] == "000000_10" and 0.15 < sample["valid"].mean().item() < 0.25
    things = build_dataset({"dataset_name": "GenericDataset", "data_file": str(real_dir / "flyingthings3d.txt")},
                           split="test", augmentation=None, max_disparity=192)[0]
    _check_contract(things, 540, 960)  # RGBA images -> 3 channels


def test_real_inference_pairs_have_no_gt(real_dir):
    dataset = build_dataset({"dataset_name": "GenericDataset", "data_file": str(real_dir / "infer_pairs.txt")},
                            split="infer", augmentation=None, max_disparity=192)
    sample = dataset[1]
    assert not sample["has_gt"] and sample["valid"].sum() == 0 and sample["disp"].sum() == 0
    assert sample["left_path"].endswith("kitti2015/000000_10/image_2/000000_10.png")


def test_middlebury2003_through_generic_divisor(real_dir, tmp_path):
    cones = real_dir / "middlebury2003/cones"
    (tmp_path / "cones.txt").write_text(f"{cones}/im2.png {cones}/im6.png {cones}/disp2.png\n")
    source = {"dataset_name": "GenericDataset", "data_file": str(tmp_path / "cones.txt"), "disp_png_divisor": 4}
    sample = build_dataset(source, split="test", augmentation=None, max_disparity=192)[0]
    assert sample["disp"].max().item() == pytest.approx(55.0)
    assert sample["valid"].mean().item() == pytest.approx(0.9678, abs=2e-3)


def test_unique_names():
    assert unique_names(["/d/Adirondack/im0.png", "/d/ArtL/im0.png", "/k/000000_10.png"]) == [
        "Adirondack", "ArtL", "000000_10"]
    assert unique_names(["/t/A/0001/left/0006.png", "/t/B/0002/left/0006.png", "/t/A/0001/left/0007.png"]) == [
        "A_0001", "B_0002", "0007"]
    names = unique_names(["/a/x/0006.png", "/a/y/0006.png", "/a/x/0007.png", "/a/y/0007.png"])
    assert names == ["x_0006", "y_0006", "x_0007", "y_0007"]
    assert unique_names(["/a/im0.png", "/a/im0.png"]) == ["im0_1", "im0_2"]


def test_training_workers_get_distinct_reproducible_augmentation():
    source = {"dataset_name": "Synthetic", "num_samples": 1, "seed": 0, "image_size": [32, 48]}
    aug = {"crop_size": [16, 16], "color_aug_prob": 1.0}
    dataset = build_dataset(source, split="train", augmentation=aug, max_disparity=64)
    first, second = dataset[0], dataset[0]  # a new draw each time (each epoch)
    assert not torch.equal(first["left"], second["left"])
    again = build_dataset(source, split="train", augmentation=aug, max_disparity=64)
    assert torch.equal(again[0]["left"], first["left"])


def test_set_epoch_keys_augmentation_on_seed_epoch_index():
    source = {"dataset_name": "Synthetic", "num_samples": 2, "seed": 0, "image_size": [32, 48]}
    aug = {"crop_size": [16, 16], "color_aug_prob": 1.0}
    dataset = build_dataset(source, split="train", augmentation=aug, max_disparity=64, seed=7)
    dataset.set_epoch(3)
    first = dataset[1]["left"]
    assert torch.equal(first, dataset[1]["left"])  # the same within an epoch (any worker, any fetch order)
    dataset.set_epoch(4)
    assert not torch.equal(first, dataset[1]["left"])
    resumed = build_dataset(source, split="train", augmentation=aug, max_disparity=64, seed=7)
    resumed.set_epoch(3)
    assert torch.equal(resumed[1]["left"], first)
    other_seed = build_dataset(source, split="train", augmentation=aug, max_disparity=64, seed=8)
    other_seed.set_epoch(3)
    assert not torch.equal(other_seed[1]["left"], first)


def test_dataloader_workers_augment_differently_and_reproducibly():
    source = {"dataset_name": "Synthetic", "num_samples": 4, "seed": 0, "image_size": [32, 48]}
    dataset = build_dataset(source, split="train", augmentation={"crop_size": [16, 16]}, max_disparity=64)

    def epoch() -> torch.Tensor:
        loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2)
        return torch.cat([batch["disp"] for batch in loader])  # [4,1,16,16]

    torch.manual_seed(0)
    a, b = epoch(), epoch()
    torch.manual_seed(0)
    assert torch.equal(epoch(), a) and not torch.equal(a, b)
