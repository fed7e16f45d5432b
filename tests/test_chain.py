"""The deploy chain on CPU through `model.cli.main`, each step reading the previous step's output folder:

train (tiny, Synthetic, 1 epoch) -> evaluate -> inference -> export -> evaluate (ONNX, with the drift
report) -> inference (ONNX). gen_trt_engine needs TensorRT and a GPU (tests/model/deploy/test_trt_engine.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.cli import main
from model.config import NetworkConfig
from model.evaluation.metrics import METRIC_NAMES
from model.status import read_kpi, read_status


def _synthetic(num: int, seed: int) -> dict:
    return {"dataset_name": "Synthetic", "num_samples": num, "seed": seed, "image_size": [64, 96]}


def _spec(root: Path) -> Path:
    model = NetworkConfig.tiny().to_dict()
    model["stereo_backbone"]["edgenext_pretrained_path"] = None
    no_aug = {"crop_size": [64, 96], "min_scale": 0.0, "max_scale": 0.0, "stretch_prob": 0.0,
              "yjitter_prob": 0.0, "color_aug_prob": 0.0, "eraser_aug_prob": 0.0}
    spec = {
        "results_dir": str(root),
        "model": model,
        "dataset": {
            "max_disparity": 64,
            "train_dataset": {"data_sources": [_synthetic(2, 0)], "batch_size": 2, "workers": 0,
                              "augmentation": no_aug},
            "val_dataset": {"data_sources": [_synthetic(1, 7)], "batch_size": 1, "workers": 0},
            "test_dataset": {"data_sources": [_synthetic(2, 8)], "batch_size": 1, "workers": 0},
            "infer_dataset": {"data_sources": [_synthetic(2, 9)], "batch_size": 1, "workers": 0},
        },
        "train": {"num_epochs": 1, "seed": 0, "automl_policy": "off", "checkpoint_interval": 1,
                  "log_every_n_steps": 1},
        "evaluate": {"vis": False},
        "inference": {"vis": True, "save_raw_pfm": True},
        "export": {"input_height": 64, "input_width": 96, "max_abs_diff_tolerance": 1e-3},
    }
    path = root.parent / "chain.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _output_dir(step_dir: Path) -> str:
    """The results folder a finished step reports in its status.json (STARTED line)."""
    events = read_status(step_dir / "status.json")
    assert events[-1]["status"] == "SUCCESS", events[-1]
    return events[0]["results_dir"]


def test_train_to_onnx_inference(tmp_path, capfd):
    root = tmp_path / "runs"
    spec = str(_spec(root))

    def step(action: str, *overrides: str) -> None:
        rc = main([action, "-e", spec, *overrides])
        out = capfd.readouterr().out
        assert rc == 0 and "Execution status: PASS" in out, (action, out[-2000:])

    step("train")
    train_dir = _output_dir(root / "train")
    assert (Path(train_dir) / "dn_model_latest.pth").is_file()

    step("evaluate", f"evaluate.checkpoint={train_dir}")
    assert set(read_kpi(root / "evaluate" / "status.json")) >= set(METRIC_NAMES)
    step("inference", f"inference.checkpoint={train_dir}")
    assert len(list((root / "inference" / "pfm").glob("*.pfm"))) == 2

    step("export", f"export.checkpoint={train_dir}")
    export_dir = _output_dir(root / "export")
    assert read_kpi(root / "export" / "status.json")["max_abs_diff"] <= 1e-3

    onnx_eval = root / "evaluate_onnx"
    step("evaluate", f"evaluate.onnx_file={export_dir}", f"evaluate.checkpoint={train_dir}",
         f"evaluate.results_dir={onnx_eval}")
    kpi = [e for e in read_status(onnx_eval / "status.json") if e.get("kpi")][-1]["kpi"]
    assert set(METRIC_NAMES) <= set(kpi) and not any(k.startswith("val/") for k in kpi)
    assert kpi["drift/max_abs_diff"] <= 1e-3  # same size, same iterations: only the runtime differs
    assert kpi["epe"] == pytest.approx(read_kpi(root / "evaluate" / "status.json")["epe"], abs=1e-3)

    onnx_infer = root / "inference_onnx"
    step("inference", f"inference.onnx_file={_output_dir(root / 'export')}", f"inference.results_dir={onnx_infer}")
    pfms = sorted(p.name for p in (onnx_infer / "pfm").glob("*.pfm"))
    assert pfms == sorted(p.name for p in (root / "inference" / "pfm").glob("*.pfm")) and len(pfms) == 2
    picked = yaml.safe_load((onnx_infer / "experiment.yaml").read_text())["inference"]["onnx_file"]
    assert picked == str(Path(export_dir) / "depth_net.onnx")
