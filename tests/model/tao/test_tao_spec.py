"""NVIDIA TAO 7.0.1's FFS-bp2 reference spec, loaded and run unchanged but for its paths.

`experiment_fast_foundation_stereo.yaml` (next to this file) holds that spec's keys and
values; the test fills in its paths. Every action's spec check takes it as it is and
names the TAO keys it does not use in one note line. The end-to-end runs use the bp2
network of the spec (random bp2 weights in TAO's checkpoint layout, from the golden data)
on two Middlebury 2014 scenes cut down to 96 x 128 px (the data file is a path, so the
spec is unchanged); only three sizes are overridden, because a CPU test cannot afford
them (bp2 on 2 shared cores: the full-size evaluate alone took 3m22s):
`dataset.train_dataset.augmentation.crop_size` (320 x 736 does not fit a 96 x 128 scene),
`export.input_height` / `input_width` (the trace and the ONNX Runtime check at 480 x 736).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from model.cli import main
from model.data.io import read_image, read_pfm, write_pfm, write_png
from model.deploy.trt_engine import tensorrt_missing
from model.spec import load_spec
from model.status import read_status

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TAO_SPEC = HERE / "experiment_fast_foundation_stereo.yaml"
SCENES = ("Teddy", "Piano")
#: sizes a CPU test cannot afford at bp2 (see the module docstring)
CPU_SIZES = ["dataset.train_dataset.augmentation.crop_size=[64,96]", "export.input_height=64",
             "export.input_width=96"]


def _write_scenes(real: Path, out: Path) -> Path:
    """Two Middlebury 2014 scenes cropped to 96 x 128 (same crop in both views: disparities unchanged)."""
    lines = []
    for scene in SCENES:
        src, dst = real / "middlebury2014Q" / scene, out / scene
        dst.mkdir(parents=True)
        y, x = 200, 300
        for name in ("im0.png", "im1.png"):
            write_png(dst / name, read_image(src / name)[y:y + 96, x:x + 128])
        write_pfm(dst / "disp0GT.pfm", read_pfm(src / "disp0GT.pfm")[y:y + 96, x:x + 128])
        lines.append(f"{scene}/im0.png {scene}/im1.png {scene}/disp0GT.pfm")
    ann = out / "middlebury_96x128.txt"
    ann.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ann


@pytest.fixture(scope="module")
def tao(tmp_path_factory, shared_dir) -> dict:
    """The TAO spec with its paths filled in: {"spec": path, "tmp": folder, "ckpt": bp2 checkpoint}."""
    tmp = tmp_path_factory.mktemp("tao")
    golden = shared_dir / "data" / "golden" / "ffs_bp2_random_weights_fp16.pt"
    if not golden.is_file():
        pytest.skip(f"{golden} not found")
    raw = torch.load(golden, map_location="cpu", weights_only=True)
    ckpt = tmp / "model.pth"  # a TAO (Lightning) checkpoint: state_dict with the `model.` prefix
    torch.save({"state_dict": {f"model.{k}": v.float() if v.is_floating_point() else v for k, v in raw.items()}},
               ckpt)
    ann = _write_scenes(shared_dir / "data" / "real", tmp / "data")
    text = TAO_SPEC.read_text(encoding="utf-8")
    text = text.replace("@DATA@/middlebury2014Q.txt", str(ann)).replace("@TMP@", str(tmp)).replace("@CKPT@", str(ckpt))
    spec = tmp / "experiment_fast_foundation_stereo.yaml"
    spec.write_text(text, encoding="utf-8")
    return {"spec": spec, "tmp": tmp, "ckpt": ckpt}


def test_fixture_is_the_tao_spec_but_for_paths():
    """The copy keeps TAO's values (a few spot checks against the public file) and only path placeholders."""
    data = yaml.safe_load(TAO_SPEC.read_text(encoding="utf-8").replace("@", "x"))
    assert data["dataset"]["dataset_name"] == "StereoDataset" and data["dataset"]["min_depth"] == 0.0
    assert data["model"]["max_disparity"] == 192 and data["model"]["volume_dim"] == 28
    assert data["export"]["on_cpu"] is False and data["export"]["format"] == "onnx"
    assert data["gen_trt_engine"]["tensorrt"]["workspace_size"] == 4096
    assert data["gen_trt_engine"]["tensorrt"]["data_type"] == "fp16"
    assert data["train"]["num_nodes"] == 1 and data["evaluate"]["num_gpus"] == 1


@pytest.mark.parametrize("action", ["train", "evaluate", "inference", "export", "gen_trt_engine"])
def test_every_action_loads_it_with_one_note(tao, action, capsys):
    spec = load_spec(tao["spec"], action)
    err = capsys.readouterr().out.strip().splitlines()  # a note on stdout; stderr is for errors
    assert len(err) == 1 and err[0].startswith(f"note: {tao['spec']}: TAO keys accepted but not used here: ")
    for key in ("dataset.min_depth", "model.stereo_backbone.use_bn", "inference.num_nodes"):
        assert key in err[0]
    for used in ("train.num_nodes", "export.gpu_id", "export.on_cpu", "gen_trt_engine.verbose",
                 "tensorrt.workspace_size", "evaluate.num_gpus"):
        assert used not in err[0]  # these mean something here
    assert spec["gen_trt_engine"]["tensorrt"]["data_type"] == "FP16"  # TAO writes fp16
    assert spec["gen_trt_engine"]["tensorrt"]["workspace_size"] == 4096  # MiB, TAO's unit


def test_tao_keys_that_mean_something_are_used(tmp_path):
    spec = load_spec(None, "inference", [
        "dataset.baseline=0.193", "dataset.focal_x=1998.8", "inference.batch_size=-1",
        "dataset.train_dataset.augmentation.color_aug_brightness=0.3",
        "dataset.train_dataset.augmentation.color_aug_hue_range=[-0.05,0.04]",
        "gen_trt_engine.batch_size=2", "gen_trt_engine.max_width=1536", "train.optim.momentum=0.8"])
    assert spec["inference"]["baseline_m"] == 0.193 and spec["inference"]["focal_px"] == 1998.8
    assert spec["inference"]["batch_size"] is None
    aug = spec["dataset"]["train_dataset"]["augmentation"]
    assert aug["brightness"] == pytest.approx([0.7, 1.3]) and aug["hue"] == pytest.approx(0.05)
    trt = spec["gen_trt_engine"]["tensorrt"]
    assert (trt["min_batch_size"], trt["opt_batch_size"], trt["max_batch_size"], trt["max_width"]) == (2, 2, 2, 1536)
    from model.training.optim import build_optimizer

    sgd = build_optimizer([torch.nn.Parameter(torch.zeros(1))], {"optimizer": "SGD", "lr": 0.1, "momentum": 0.8})
    assert sgd.param_groups[0]["momentum"] == 0.8


@pytest.mark.parametrize("override, key", [
    ("dataset.dataset_name=MonoDataset", "dataset.dataset_name"),
    ("export.format=xdl", "export.format"),
    ("export.input_channel=1", "export.input_channel"),
    ("dataset.train_dataset.augmentation.input_mean=[0.5,0.5,0.5]", "input_mean"),
    ("gen_trt_engine.tensorrt.workspace_size=4", "workspace_size"),
])
def test_values_we_cannot_honour_are_one_line(tmp_path, override, key, capfd):
    rc = main(["export", f"results_dir={tmp_path / 'r'}", override])
    err = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and key in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "r").exists()


def _run(action: str, tao: dict, *extra: str) -> tuple[int, str, str]:
    return main([action, "-e", str(tao["spec"]), *extra])


def test_evaluate_and_inference_pass(tao, capfd):
    assert _run("evaluate", tao) == 0
    out, err = capfd.readouterr()
    assert "Execution status: PASS" in out and "Traceback" not in err and f"{len(SCENES)} test images" in out
    assert np.isfinite(read_status(tao["tmp"] / "result" / "evaluate" / "status.json")[-1]["kpi"]["val/epe"])
    assert _run("inference", tao) == 0
    out, _ = capfd.readouterr()
    run = tao["tmp"] / "result" / "inference"
    assert "Execution status: PASS" in out
    assert sorted(p.name for p in (run / "pfm").iterdir()) == [f"{s}.pfm" for s in sorted(SCENES)]  # save_raw_pfm


def test_export_passes_and_names_the_cpu_fallback(tao, capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _run("export", tao, *CPU_SIZES) == 0
    ours = [f"{w.filename}:{w.lineno}" for w in caught
            if issubclass(w.category, torch.jit.TracerWarning) and str(REPO / "model") in w.filename]
    assert ours == []  # no TracerWarning from our own code (shape checks skipped under tracing)
    out, err = capfd.readouterr()
    assert "Execution status: PASS" in out and (tao["tmp"] / "model_onnx.onnx").is_file()
    if not torch.cuda.is_available():  # on_cpu: false with no GPU: one line, not a crash
        assert "note: export.on_cpu: false, but no CUDA GPU is visible" in out


def test_gen_trt_engine_passes_or_says_what_is_missing(tao, capfd):
    if not (tao["tmp"] / "model_onnx.onnx").is_file():
        assert _run("export", tao, *CPU_SIZES) == 0
    capfd.readouterr()
    rc = _run("gen_trt_engine", tao)
    out, err = capfd.readouterr()
    if tensorrt_missing() is None:
        assert rc == 0 and "Execution status: PASS" in out
    else:
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and "NVIDIA GPU" in lines[0] and "ONNX Runtime" in lines[0]
        assert not (tao["tmp"] / "model.engine").exists()


def test_train_fine_tunes_from_the_tao_checkpoint(tao, capfd):
    rc = _run("train", tao, "--automl-policy", "off", *CPU_SIZES[:1])
    out, err = capfd.readouterr()
    assert rc == 0 and "Execution status: PASS" in out, err[-2000:]
    run = tao["tmp"] / "result" / "train"
    assert (run / "dn_model_latest.pth").is_file()
    # what train prints: the start, one line per epoch with its validation metrics, the checkpoint
    assert f"train: fine-tuning from {tao['ckpt']}" in out
    assert "epoch 1/1 (" in out and "| val epe " in out
    assert f"train: checkpoint {run / 'dn_model_latest.pth'}" in out
    for chatter in ("GPU available", "TPU available", "Tip:", "LeafSpec", "0.00it/s", "Epoch 0/0"):
        assert chatter not in out + err
    kpi = read_status(run / "status.json")[-1]["kpi"]
    assert np.isfinite(kpi["epe"] if "epe" in kpi else kpi["val/epe"])
