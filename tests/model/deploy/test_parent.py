"""Parent results folders for checkpoint / onnx_file / trt_engine: each kind, ambiguous, empty, missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.model_files import resolve_model_file
from model.errors import CheckpointError, DataError


def _touch(*paths: Path) -> None:
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_a_file_is_used_as_is(tmp_path):
    _touch(tmp_path / "a.pth")
    assert resolve_model_file(tmp_path / "a.pth", "checkpoint", "evaluate") == (tmp_path / "a.pth", None)


def test_train_results_dir_gives_latest(tmp_path):
    train = tmp_path / "train"
    _touch(train / "dn_model_latest.pth", train / "model_epoch_000_step_00001.pth",
           train / "model_epoch_001_step_00002.pth")
    for folder in (train, tmp_path):  # the train folder, or the results root above it
        path, note = resolve_model_file(folder, "checkpoint", "export")
        assert path == train / "dn_model_latest.pth"
        assert note.startswith(f"export.checkpoint: {folder} is a folder; using {path}")


def test_automl_study_dir_gives_best(tmp_path):
    _touch(tmp_path / "trial_0" / "train" / "dn_model_latest.pth", tmp_path / "trial_1" / "train" / "dn_model_latest.pth",
           tmp_path / "best" / "dn_model_latest.pth", tmp_path / "study.db")
    path, note = resolve_model_file(tmp_path, "checkpoint", "evaluate")
    assert path == tmp_path / "best" / "dn_model_latest.pth" and "best/" in note


def test_best_folder_with_one_other_checkpoint(tmp_path):
    _touch(tmp_path / "best" / "model_epoch_009_step_00100.pth")
    assert resolve_model_file(tmp_path, "checkpoint", "evaluate")[0] == tmp_path / "best" / "model_epoch_009_step_00100.pth"


def test_export_dir_gives_its_onnx(tmp_path):
    export = tmp_path / "export"
    _touch(export / "depth_net.onnx", export / "status.json", export / ".depth_net.onnx.tmp12",
           export / "old.failed.onnx")
    for folder in (export, tmp_path):
        assert resolve_model_file(folder, "onnx_file", "inference")[0] == export / "depth_net.onnx"


def test_engine_dir_gives_its_engine(tmp_path):
    _touch(tmp_path / "gen_trt_engine" / "depth_net.engine", tmp_path / "gen_trt_engine" / "depth_net.engine.json")
    path, note = resolve_model_file(tmp_path, "trt_engine", "evaluate")
    assert path == tmp_path / "gen_trt_engine" / "depth_net.engine" and "gen_trt_engine/" in note


@pytest.mark.parametrize("key,names,error", [
    ("checkpoint", ["model_epoch_000_step_00001.pth", "model_epoch_001_step_00002.pth"], CheckpointError),
    ("onnx_file", ["a.onnx", "b.onnx"], DataError),
    ("trt_engine", ["fp16.engine", "fp32.engine"], DataError),
])
def test_ambiguous_folder(tmp_path, key, names, error):
    _touch(*(tmp_path / n for n in names))
    with pytest.raises(error) as info:
        resolve_model_file(tmp_path, key, "evaluate")
    msg = str(info.value)
    assert f"evaluate.{key}: folder {tmp_path} is ambiguous: 2" in msg and names[0] in msg and "\n" not in msg


@pytest.mark.parametrize("key,error,want", [("checkpoint", CheckpointError, "dn_model_latest.pth"),
                                            ("onnx_file", DataError, "one .onnx file"),
                                            ("trt_engine", DataError, "one .engine file")])
def test_empty_folder(tmp_path, key, error, want):
    _touch(tmp_path / "status.json", tmp_path / "best" / "notes.txt")
    with pytest.raises(error, match=f"inference.{key}: folder .* holds no {want}"):
        resolve_model_file(tmp_path, key, "inference")


def test_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pth: file not found"):
        resolve_model_file(tmp_path / "nope.pth", "checkpoint", "evaluate")
