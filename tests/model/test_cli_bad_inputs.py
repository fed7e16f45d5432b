"""Bad inputs: one line on stderr naming the problem, exit code 2, nothing written.

Each case runs `depth_net <action>` in-process with `results_dir` under tmp_path and
asserts the results dir was never created. `capfd` also catches what native code
(OpenCV) prints on the stderr file descriptor.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from model.cli import main
from model.data.io import write_pfm

RGB = np.full((32, 48, 3), 120, np.uint8)


def _png(path: Path, image: np.ndarray = RGB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _pfm(path: Path, shape=(32, 48)) -> Path:
    write_pfm(path, np.full(shape, 5.0, np.float32))
    return path


def _ann(tmp: Path, lines: list[str], name: str = "ann.txt") -> Path:
    path = tmp / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _good_pair(tmp: Path) -> tuple[str, str, str]:
    return str(_png(tmp / "l.png")), str(_png(tmp / "r.png")), str(_pfm(tmp / "d.pfm"))


def _spec(tmp: Path, text: str = "") -> Path:
    path = tmp / "spec.yaml"
    path.write_text(f"results_dir: {tmp / 'runs'}\n" + text, encoding="utf-8")
    return path


def _source(data_file: Path, name: str = "GenericDataset") -> str:
    return f"dataset.test_dataset.data_sources=[{{dataset_name: {name}, data_file: '{data_file}'}}]"


def _check_bad(tmp_path: Path, capfd, argv: list[str], needle: str, action_dir: str = "evaluate") -> None:
    rc = main(argv)
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert "Execution status: PASS" not in out
    assert not (tmp_path / "runs").exists(), "results dir must not be created on a bad input"


def _evaluate(tmp_path: Path, *overrides: str, text: str = "") -> list[str]:
    return ["evaluate", "-e", str(_spec(tmp_path, text)), *overrides]


# --------------------------------------------------------------------------- spec file / overrides
def test_malformed_yaml(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="evaluate:\n  vis: [true\n"), "malformed YAML")


def test_yaml_duplicate_key(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="train:\n  seed: 1\n  seed: 2\n"), "duplicate key 'seed'")


def test_spec_not_a_mapping(tmp_path, capfd):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    _check_bad(tmp_path, capfd, ["evaluate", "-e", str(path)], "must be a mapping")


def test_missing_spec_file(tmp_path, capfd):
    _check_bad(tmp_path, capfd, ["evaluate", "-e", str(tmp_path / "nope.yaml")], "spec file not found")


def test_unknown_top_level_key(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="evalute:\n  vis: true\n"), "evalute: unknown key")


def test_unknown_nested_key(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="train:\n  optim:\n    learning_rate: 0.1\n"),
               "train.optim.learning_rate: unknown key")


def test_wrong_type(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="train:\n  num_epochs: ten\n"),
               "train.num_epochs: got 'ten' (a string); allowed: an integer in [1, 100000]")


def test_boolean_where_number_expected(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "train.optim.lr=true"), "train.optim.lr: got true")


def test_out_of_range_value(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, text="train:\n  optim:\n    lr: 5\n"),
               "train.optim.lr: 5 is not allowed; allowed: a number in (0.0, 1.0]")


def test_enum_violation(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.precision=int8"),
               "evaluate.precision: 'int8' is not allowed; allowed: one of 'fp32', 'bf16', 'fp16'")


def test_list_length_wrong(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "dataset.train_dataset.augmentation.crop_size=[320]"),
               "crop_size: [320] has 1 items; allowed: a list of 2 integers")


def test_negative_batch_size(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.batch_size=-4"), "evaluate.batch_size: -4 is not allowed")


def test_width_rule_broken(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "model.mask_widths=[32,15]"), "model.mask_widths: [32, 15]")


def test_override_of_unknown_key(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.checkpiont=x.pth"),
               "override 'evaluate.checkpiont=x.pth': evaluate.checkpiont: unknown key (did you mean 'checkpoint'?)")


def test_bad_override_syntax(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.vis"), "expected dotted.key=value")


def test_bad_override_yaml_value(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.gpu_ids=[0,1"), "value is not valid YAML")


def test_unknown_cli_flag(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "--bogus"), "unrecognized arguments: --bogus")


def test_unknown_action(tmp_path, capfd):
    _check_bad(tmp_path, capfd, ["evaluat", "-e", str(_spec(tmp_path))], "unknown action 'evaluat'")


# --------------------------------------------------------------------------- data
def test_unknown_dataset_name(tmp_path, capfd):
    ann = _ann(tmp_path, [" ".join(_good_pair(tmp_path))])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann, "Kitty")),
               "dataset.test_dataset.data_sources[0].dataset_name: 'Kitty' is not allowed")


def test_data_file_missing_for_file_dataset(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "dataset.test_dataset.data_sources=[{dataset_name: Kitti}]"),
               "data_sources[0].data_file: required key is missing")


def test_empty_data_sources(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, "evaluate.checkpoint=x.pth"),
               "dataset.test_dataset.data_sources: empty")


def test_annotation_file_not_found(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(tmp_path / "missing.txt")), "missing.txt")


def test_empty_annotation_file(tmp_path, capfd):
    ann = _ann(tmp_path, ["# only a comment", ""])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), str(ann))


def test_wrong_column_count(tmp_path, capfd):
    left, right, disp = _good_pair(tmp_path)
    ann = _ann(tmp_path, [f"{left} {right} {disp}", f"{left} {right} {disp} {disp} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), f"{ann}:2")


def test_missing_image(tmp_path, capfd):
    left, right, disp = _good_pair(tmp_path)
    ann = _ann(tmp_path, [f"{left} {tmp_path / 'gone.png'} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), "gone.png: file not found")


def test_a_folder_given_as_an_image_is_called_a_folder(tmp_path, capfd):
    left, right, disp = _good_pair(tmp_path)
    (tmp_path / "scene").mkdir()
    ann = _ann(tmp_path, [f"{left} {tmp_path / 'scene'} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), f"{tmp_path / 'scene'}: is a folder, not a file")


def test_corrupt_png(tmp_path, capfd):
    left, right, disp = _good_pair(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not image data")
    ann = _ann(tmp_path, [f"{bad} {right} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), "bad.png")


def test_corrupt_pfm(tmp_path, capfd):
    left, right, _ = _good_pair(tmp_path)
    bad = tmp_path / "bad.pfm"
    bad.write_bytes(b"Pf\n48 32\n-1.0\n" + b"\0" * 100)  # far too few bytes for 48 x 32 floats
    ann = _ann(tmp_path, [f"{left} {right} {bad}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), "bad.pfm")


def test_left_right_size_mismatch(tmp_path, capfd):
    left, _, disp = _good_pair(tmp_path)
    right = _png(tmp_path / "small.png", np.zeros((16, 48, 3), np.uint8))
    ann = _ann(tmp_path, [f"{left} {right} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), "sizes differ")


def test_disparity_size_mismatch(tmp_path, capfd):
    left, right, _ = _good_pair(tmp_path)
    disp = _pfm(tmp_path / "wrong.pfm", (16, 24))
    ann = _ann(tmp_path, [f"{left} {right} {disp}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann)), "wrong.pfm")


# --------------------------------------------------------------------------- checkpoint / outputs
SYNTH = "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 1, image_size: [64, 96]}]"


def test_checkpoint_not_set(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH), "evaluate.checkpoint: required")


def test_missing_checkpoint(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={tmp_path / 'no.pth'}"),
               "no.pth: file not found")


def test_unwritable_results_dir(tmp_path, capfd):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    argv = ["evaluate", "-e", str(_spec(tmp_path)), SYNTH, f"results_dir={blocker}/sub"]
    _check_bad(tmp_path, capfd, argv, "is a file, not a folder")
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_only_runtime_on_cpu(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={tmp_path / 'no.pth'}",
                                          "evaluate.runtime=cudagraph"),
               "evaluate.runtime: 'cudagraph' needs a CUDA GPU")


def test_input_height_without_width(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, "evaluate.input_height=64"),
               "evaluate.input_height / evaluate.input_width: set both or neither")


def test_input_size_not_multiple_of_32(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, "evaluate.input_width=100"), "multiple of 32")


def test_inference_focal_without_baseline(tmp_path, capfd):
    argv = ["inference", "-e", str(_spec(tmp_path)), "inference.focal_px=700"]
    _check_bad(tmp_path, capfd, argv, "inference.focal_px / inference.baseline_m: set both")


def test_inference_that_would_write_nothing(tmp_path, capfd):
    argv = ["inference", "-e", str(_spec(tmp_path)), "inference.vis=false"]
    _check_bad(tmp_path, capfd, argv, "writes nothing")


@pytest.mark.parametrize("argv", [["evaluate", "--help"], ["--help"]])
def test_help_exits_zero(argv, capfd):
    assert main(argv) == 0
    assert "depth_net" in capfd.readouterr().out


def test_corrupt_checkpoint(tmp_path, capfd):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={bad}"), "bad.pth")


# --------------------------------------------------------------------------- convert
def test_convert_missing_dataset_root_creates_nothing(tmp_path, capfd):
    _check_bad(tmp_path, capfd, ["convert", "-e", str(_spec(tmp_path)), f"convert.dataset_root={tmp_path / 'absent'}",
                                 "convert.dataset_name=Kitti", f"convert.output_dir={tmp_path / 'runs' / 'ann'}"],
               f"convert.dataset_root: '{tmp_path / 'absent'}' is not an existing folder")


@pytest.mark.parametrize("overrides, needle", [
    (["convert.left_pattern=image_2/*_10.png", "convert.right_pattern=nowhere/*_10.png"], "matches no file"),
    (["convert.split=[0.5,0.2,0.2]"], "convert.split"),
    (["convert.dataset_name=FSD"], "convert.left_pattern: required"),
])
def test_convert_bad_patterns_or_split_create_nothing(tmp_path, capfd, overrides, needle):
    root = tmp_path / "kitti"
    for folder in ("image_2", "image_3"):
        _png(root / folder / "000000_10.png")
    _check_bad(tmp_path, capfd, ["convert", "-e", str(_spec(tmp_path)), f"convert.dataset_root={root}",
                                 "convert.dataset_name=Kitti", *overrides], needle)


# --------------------------------------------------------------------------- spec values / results dir
@pytest.mark.parametrize("override, needle", [
    ("train.optim.lr=.nan", "train.optim.lr: got .nan"),
    ("train.clip_grad_norm=.inf", "train.clip_grad_norm: got .inf"),
    ("inference.max_depth_m=.inf", "inference.max_depth_m: got .inf"),
])
def test_non_finite_number(tmp_path, capfd, override, needle):
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, override), needle)


def test_empty_results_dir_is_refused(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)  # '' would mean the current folder: nothing may land here
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, "results_dir=''"), "results_dir: '' is not allowed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_results_dir_that_cannot_be_created(tmp_path, capfd, tiny_ckpt):
    too_long = tmp_path / "runs" / ("x" * 300)  # the OS refuses a 300-character folder name
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={tiny_ckpt}",
                                          f"evaluate.results_dir={too_long}"),
               "names are limited to 255 bytes")


def test_the_later_override_is_named(tmp_path, capfd):
    argv = _evaluate(tmp_path, "dataset.test_dataset.data_sources=[{dataset_name: Synthetic}]",
                     "dataset.test_dataset.data_sources.0.num_samples=-1")
    _check_bad(tmp_path, capfd, argv, "override 'dataset.test_dataset.data_sources.0.num_samples=-1'")


# --------------------------------------------------------------------------- evaluate without GT
def test_evaluate_on_pairs_without_disparity(tmp_path, capfd, tiny_ckpt):
    left, right, _ = _good_pair(tmp_path)
    ann = _ann(tmp_path, [f"{left} {right}"])
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, _source(ann), f"evaluate.checkpoint={tiny_ckpt}"),
               "evaluate needs a disparity column")


# --------------------------------------------------------------------------- train: data and checkpoints
def _train(tmp_path: Path, *overrides: str, model: dict | None = None) -> list[str]:
    from model.config import NetworkConfig

    model = model or NetworkConfig.tiny().to_dict()
    text = yaml.safe_dump({"model": model, "train": {"num_epochs": 1, "automl_policy": "off"}})
    return ["train", "-e", str(_spec(tmp_path, text)), *overrides]


def _train_source(data_file: Path, split: str = "train") -> str:
    return f"dataset.{split}_dataset.data_sources=[{{dataset_name: GenericDataset, data_file: '{data_file}'}}]"


@pytest.mark.parametrize("policy", ["off", "auto"])
def test_train_without_data_sources(tmp_path, capfd, policy):
    _check_bad(tmp_path, capfd, _train(tmp_path, f"train.automl_policy={policy}"),
               "dataset.train_dataset.data_sources: empty", "train")


def test_train_annotation_file_not_found(tmp_path, capfd):
    _check_bad(tmp_path, capfd, _train(tmp_path, _train_source(tmp_path / "missing.txt")), "missing.txt", "train")


def test_train_left_right_size_mismatch(tmp_path, capfd):
    left, _, disp = _good_pair(tmp_path)
    right = _png(tmp_path / "small.png", np.zeros((16, 48, 3), np.uint8))
    ann = _ann(tmp_path, [f"{left} {right} {disp}"])
    _check_bad(tmp_path, capfd, _train(tmp_path, _train_source(ann), "dataset.train_dataset.workers=0"),
               "sizes differ", "train")


def test_train_val_image_missing(tmp_path, capfd):
    left, right, disp = _good_pair(tmp_path)
    good = _ann(tmp_path, [f"{left} {right} {disp}"])
    bad = _ann(tmp_path, [f"{left} {tmp_path / 'gone.png'} {disp}"], "val.txt")
    _check_bad(tmp_path, capfd, _train(tmp_path, _train_source(good), _train_source(bad, "val")), "gone.png", "train")


@pytest.mark.parametrize("key", ["pretrained_model_path", "resume_training_checkpoint_path"])
def test_train_checkpoint_that_is_not_a_checkpoint(tmp_path, capfd, key):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    _check_bad(tmp_path, capfd, _train(tmp_path, SYNTH.replace("test_dataset", "train_dataset"),
                                       f"train.{key}={bad}"), "bad.pth", "train")


def test_train_pretrained_with_other_widths(tmp_path, capfd, tiny_ckpt):
    from model.config import NetworkConfig

    wider = {**NetworkConfig.tiny().to_dict(), "disp_head_intermediate": 16}
    argv = _train(tmp_path, SYNTH.replace("test_dataset", "train_dataset"),
                  f"train.pretrained_model_path={tiny_ckpt}", model=wider)
    _check_bad(tmp_path, capfd, argv, "disp_head_intermediate", "train")


@pytest.mark.parametrize("action, folder", [("evaluate", "vis"), ("inference", "disparity")])
def test_a_file_where_an_output_folder_goes_is_refused_before_anything_is_written(
        tmp_path, capfd, tiny_ckpt, action, folder):
    """It stopped the run at the first image with a FileExistsError traceback (exit 1)."""
    blocker = tmp_path / "runs" / action / folder
    blocker.parent.mkdir(parents=True)
    blocker.write_text("mine")
    infer = SYNTH.replace("test_dataset", "infer_dataset")
    argv = [action, "-e", str(_spec(tmp_path)), SYNTH if action == "evaluate" else infer,
            f"{action}.checkpoint={tiny_ckpt}", f"dataset.{'test' if action == 'evaluate' else 'infer'}_dataset.workers=0"]
    if action == "evaluate":
        argv.append("evaluate.vis=true")
    rc = main(argv)
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2 and len(lines) == 1 and f"{blocker} is in the way" in lines[0], (rc, err)
    assert "Execution status: PASS" not in out
    assert blocker.read_text() == "mine" and sorted(p.name for p in blocker.parent.iterdir()) == [folder]


def test_a_checkpoint_of_another_network_names_its_file(tmp_path, capfd):
    """'state dict: unexpected key ...' did not say which file."""
    ckpt = tmp_path / "other.pth"
    torch.save({"state_dict": {"foo": torch.zeros(3)}}, ckpt)
    _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={ckpt}"),
               f"{ckpt}: unexpected key 'foo'")


def test_a_legacy_pickle_is_one_line_without_torchs_warning(tmp_path, capfd):
    import pickle

    import warnings

    ckpt = tmp_path / "p4.pth"
    ckpt.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with warnings.catch_warnings(record=True) as seen:  # on a terminal a warning is 2 more lines on stderr
        warnings.simplefilter("always")
        _check_bad(tmp_path, capfd, _evaluate(tmp_path, SYNTH, f"evaluate.checkpoint={ckpt}"), str(ckpt))
    assert not [w for w in seen if "pickle protocol" in str(w.message)]


def test_gen_trt_engine_names_a_missing_onnx_file_before_asking_for_tensorrt(tmp_path, capfd):
    """Without TensorRT it said only 'TensorRT is not installed', even for an ONNX path with a typo."""
    missing = tmp_path / "typo.onnx"
    argv = ["gen_trt_engine", "-e", str(_spec(tmp_path)), f"gen_trt_engine.onnx_file={missing}"]
    _check_bad(tmp_path, capfd, argv, str(missing))
