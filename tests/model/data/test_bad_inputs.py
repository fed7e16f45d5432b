"""Bad data inputs: each is one DataError / SpecError line naming the file (or key) and the problem."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from model.data import io
from model.data.annotations import read_annotation_file
from model.data.augment import AugmentationConfig
from model.data.datasets import build_dataset
from model.errors import DataError, SpecError


def _one_line(err: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    for needle in needles:
        assert str(needle) in message, f"{needle!r} not in {message!r}"
    return message


def _source(name: str, data_file: Path) -> dict:
    return {"dataset_name": name, "data_file": str(data_file)}


def _build(name: str, data_file: Path, split: str = "val", **kwargs):
    return build_dataset(_source(name, data_file), split=split, augmentation=kwargs.pop("augmentation", None),
                         max_disparity=192, **kwargs)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder with a valid 8x10 pair, a 9x10 image and a KITTI-style disparity."""
    rng = np.random.default_rng(0)
    for name, shape in (("l.png", (8, 10, 3)), ("r.png", (8, 10, 3)), ("tall.png", (9, 10, 3))):
        io.write_png(tmp_path / name, rng.integers(0, 255, shape, dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "d.png"), np.full((8, 10), 2560, np.uint16))
    return tmp_path


def test_wrong_column_count(files):
    (files / "a.txt").write_text("# c\nl.png r.png\nl.png r.png d.png d.png d.png\n")
    with pytest.raises(DataError) as err:
        read_annotation_file(files / "a.txt")
    assert _one_line(err, files / "a.txt") == f"{files / 'a.txt'}:3: expected 2-4 columns, got 5"


def test_single_column(files):
    (files / "a.txt").write_text("l.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")
    _one_line(err, f"{files / 'a.txt'}:1", "got 1")


def test_missing_image_named_with_its_line(files):
    (files / "a.txt").write_text("l.png r.png d.png\nl.png nope.png d.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")
    _one_line(err, f"{files / 'a.txt'}:2", files / "nope.png", "not found")


def test_corrupt_png(files):
    (files / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (files / "a.txt").write_text("bad.png r.png d.png\n")
    dataset = _build("Kitti", files / "a.txt")
    with pytest.raises(DataError) as err:
        dataset[0]
    _one_line(err, f"{files / 'a.txt'}:1", files / "bad.png", "cannot decode")  # PRODUCT: file and line


def test_corrupt_pfm_bad_header(files):
    (files / "d.pfm").write_bytes(b"P7\n10 8\n-1.0\n" + bytes(320))
    (files / "a.txt").write_text("l.png r.png d.pfm\n")
    with pytest.raises(DataError) as err:
        _build("Middlebury", files / "a.txt")[0]
    message = _one_line(err, f"{files / 'a.txt'}:1", files / "d.pfm", "not a PFM file")
    assert message.count("a.txt") == 1


def test_truncated_pfm(files):
    (files / "d.pfm").write_bytes(b"Pf\n10 8\n-1.0\n" + bytes(100))
    with pytest.raises(DataError) as err:
        io.read_pfm(files / "d.pfm")
    _one_line(err, files / "d.pfm", "truncated", "100 bytes, expected 320")


def test_pfm_zero_scale(files):
    (files / "d.pfm").write_bytes(b"Pf\n10 8\n0\n" + bytes(320))
    with pytest.raises(DataError) as err:
        io.read_pfm(files / "d.pfm")
    _one_line(err, files / "d.pfm", "scale")


def test_left_right_size_mismatch(files):
    (files / "a.txt").write_text("l.png tall.png d.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")[0]
    _one_line(err, files / "l.png", files / "tall.png", "8x10", "9x10")


def test_disparity_size_mismatch(files):
    cv2.imwrite(str(files / "small.png"), np.ones((4, 5), np.uint16))
    (files / "a.txt").write_text("l.png r.png small.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")[0]
    _one_line(err, files / "small.png", "4x5", "8x10")


def test_empty_annotation_file(files):
    (files / "a.txt").write_text("# only a comment\n\n   \n")
    with pytest.raises(DataError) as err:
        _build("GenericDataset", files / "a.txt")
    _one_line(err, files / "a.txt", "no samples")


def test_missing_annotation_file(files):
    with pytest.raises(DataError) as err:
        _build("GenericDataset", files / "absent.txt")
    _one_line(err, files / "absent.txt", "not found")
    with pytest.raises(DataError) as err:  # a folder is named as one, not as "not found"
        _build("GenericDataset", files)
    _one_line(err, files, "is a folder", "annotation file")


def test_unknown_dataset_name(files):
    with pytest.raises(SpecError) as err:
        build_dataset({"dataset_name": "SceneFlowX", "data_file": "x.txt"}, split="val", augmentation=None,
                      max_disparity=192, where="dataset.val_dataset.data_sources[0]")
    _one_line(err, "dataset.val_dataset.data_sources[0].dataset_name", "'SceneFlowX'", "Middlebury", "Synthetic")


def test_missing_data_file_key():
    with pytest.raises(SpecError) as err:
        build_dataset({"dataset_name": "Kitti"}, split="val", augmentation=None, max_disparity=192)
    _one_line(err, "data_source.data_file", "required")


def test_8bit_png_for_kitti_disparity(files):
    cv2.imwrite(str(files / "d8.png"), np.full((8, 10), 40, np.uint8))
    (files / "a.txt").write_text("l.png r.png d8.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")[0]
    _one_line(err, files / "d8.png", "uint8", "16-bit")


def test_colour_png_as_kitti_disparity(files):
    (files / "a.txt").write_text("l.png r.png r.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt")[0]
    _one_line(err, files / "r.png", "single-channel")


def test_float_image_rejected(files):
    cv2.imwrite(str(files / "f.tiff"), np.ones((8, 10, 3), np.float32))
    with pytest.raises(DataError) as err:
        io.read_image(files / "f.tiff")
    _one_line(err, files / "f.tiff", "float32")


def test_unknown_disparity_extension(files):
    (files / "a.txt").write_text("l.png r.png l.jpg\n")
    (files / "l.jpg").write_bytes((files / "l.png").read_bytes())
    with pytest.raises(DataError) as err:
        _build("GenericDataset", files / "a.txt")[0]
    _one_line(err, files / "l.jpg", ".pfm, .png or .npy")


def test_training_line_without_disparity(files):
    (files / "a.txt").write_text("l.png r.png d.png\nl.png r.png\n")
    with pytest.raises(DataError) as err:
        _build("Kitti", files / "a.txt", split="train")
    _one_line(err, f"{files / 'a.txt'}:2", "disparity column")


def test_horizontal_flip_without_right_gt(files):
    (files / "a.txt").write_text("l.png r.png d.png\n")
    with pytest.raises(SpecError) as err:
        _build("Kitti", files / "a.txt", split="train", augmentation={"h_flip_prob": 0.5})
    _one_line(err, "augmentation.h_flip_prob", "0.5", "Kitti")


@pytest.mark.parametrize("knobs,key", [({"v_flip_prob": 1.5}, "v_flip_prob"), ({"crop_size": [320]}, "crop_size"),
                                       ({"min_scale": 0.5, "max_scale": 0.1}, "min_scale"),
                                       ({"brightness": [1.4, 0.6]}, "brightness"), ({"hue": 0.7}, "hue"),
                                       ({"stretch_prob": "often"}, "stretch_prob")])
def test_bad_augmentation_values(knobs, key):
    with pytest.raises(SpecError) as err:
        AugmentationConfig.from_dict(knobs, prefix="dataset.train_dataset.augmentation")
    _one_line(err, f"dataset.train_dataset.augmentation.{key}")


def test_bad_augmentation_names_the_splits_augmentation_key(files):
    """It named `dataset.train_dataset.data_sources[0].augmentation.min_scale`, a key that does not exist."""
    (files / "a.txt").write_text("l.png r.png d.png\n")
    with pytest.raises(SpecError) as err:
        _build("Kitti", files / "a.txt", split="train", augmentation={"min_scale": 0.5, "max_scale": 0.1},
               where="dataset.train_dataset.data_sources[0]")
    _one_line(err, "dataset.train_dataset.augmentation.min_scale: 0.5")
    assert "data_sources" not in str(err.value)


def test_bad_synthetic_size():
    with pytest.raises(SpecError) as err:
        build_dataset({"dataset_name": "Synthetic", "image_size": [4, 96]}, split="val", augmentation=None,
                      max_disparity=192)
    _one_line(err, "image_size", "[4, 96]")


def test_non_utf8_annotation_file(files):
    (files / "a.txt").write_bytes(b"l.png r.png \xff\xfe\n")
    with pytest.raises(DataError) as err:
        read_annotation_file(files / "a.txt")
    _one_line(err, files / "a.txt", "cannot read")
