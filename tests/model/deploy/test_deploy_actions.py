"""evaluate / inference with `onnx_file` through model.cli.main: deploy kpi shape, same metrics as
PyTorch at the engine size, drift report, bad combinations."""

from __future__ import annotations

import json

import pytest

from model.cli import main
from model.evaluation.metrics import METRIC_NAMES
from model.status import read_kpi, read_status

TEST = "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 2, seed: 5, image_size: [80, 120]}]"
INFER = "dataset.infer_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 2, seed: 6, image_size: [80, 120]}]"


def _last_kpi(folder):
    return [e for e in read_status(folder / "status.json") if e.get("kpi")][-1]["kpi"]


def test_onnx_evaluate_kpi_has_no_prefix_and_matches_pytorch(tmp_path, tiny_onnx, tiny_ckpt, capfd):
    assert main(["evaluate", f"results_dir={tmp_path}", f"evaluate.onnx_file={tiny_onnx}",
                 "evaluate.results_dir=" + str(tmp_path / "onnx"), TEST]) == 0
    kpi = _last_kpi(tmp_path / "onnx")
    assert set(kpi) == set(METRIC_NAMES)  # epe, bp1, bp2, bp3, d1, rmse: no val/ prefix
    assert (tmp_path / "onnx" / "metrics.json").is_file()
    # PyTorch at the engine's size (64 x 96, resized and rescaled) scores the same
    assert main(["evaluate", f"results_dir={tmp_path}", f"evaluate.checkpoint={tiny_ckpt}", "evaluate.input_height=64",
                 "evaluate.input_width=96", "evaluate.results_dir=" + str(tmp_path / "pyt"), TEST]) == 0
    pyt = _last_kpi(tmp_path / "pyt")
    assert set(pyt) == {f"val/{m}" for m in METRIC_NAMES}
    assert read_kpi(tmp_path / "pyt" / "status.json")["epe"] == pytest.approx(kpi["epe"], abs=1e-3)
    capfd.readouterr()


def test_drift_report(tmp_path, tiny_onnx, tiny_ckpt, capfd):
    out = tmp_path / "evaluate"
    assert main(["evaluate", f"results_dir={tmp_path}", f"evaluate.onnx_file={tiny_onnx.parent}",
                 f"evaluate.checkpoint={tiny_ckpt}", TEST]) == 0
    stdout = capfd.readouterr().out
    assert "drift: PyTorch vs onnx_file tiny.onnx" in stdout and "mean" in stdout
    report = json.loads((out / "drift.json").read_text())
    assert [r["name"] for r in report["per_image"]] == ["synthetic_5_000000", "synthetic_5_000001"]
    for row in report["per_image"]:
        assert 0 <= row["mean_abs_diff"] <= row["max_abs_diff"] <= 1e-3
        assert row["delta_epe"] == pytest.approx(row["deploy_epe"] - row["pyt_epe"])
    kpi = _last_kpi(out)
    assert kpi["drift/max_abs_diff"] <= 1e-3 and abs(kpi["drift/delta_epe"]) <= 1e-3
    assert set(METRIC_NAMES) <= set(kpi)
    assert yaml_value(out / "experiment.yaml", "evaluate", "onnx_file") == str(tiny_onnx)  # the file it picked


def yaml_value(path, section, key):
    import yaml

    return yaml.safe_load(path.read_text())[section][key]


def test_onnx_inference_writes_outputs(tmp_path, tiny_onnx, capfd):
    assert main(["inference", f"results_dir={tmp_path}", f"inference.onnx_file={tiny_onnx}", INFER,
                 "inference.save_raw_pfm=true", "dataset.infer_dataset.batch_size=2"]) == 0
    out = tmp_path / "inference"
    assert len(list((out / "pfm").glob("*.pfm"))) == 2 and len(list((out / "disparity").glob("*.png"))) == 2
    assert read_kpi(out / "status.json")["num_images"] == 2
    capfd.readouterr()


def test_fixed_engine_rejects_another_input_size(tmp_path, tiny_onnx, capfd):
    rc = main(["evaluate", f"results_dir={tmp_path / 'r'}", f"evaluate.onnx_file={tiny_onnx}", TEST,
               "evaluate.input_height=96", "evaluate.input_width=128"])
    err = capfd.readouterr().err
    assert rc == 2 and "fixed input of 64 x 96" in err and not (tmp_path / "r").exists()


def test_onnx_and_engine_together_is_an_error(tmp_path, tiny_onnx, capfd):
    rc = main(["inference", f"results_dir={tmp_path / 'r'}", f"inference.onnx_file={tiny_onnx}",
               f"inference.trt_engine={tiny_onnx}", INFER])
    err = capfd.readouterr().err
    assert rc == 2 and "set one of them, not both" in err and not (tmp_path / "r").exists()


def test_not_an_onnx_file(tmp_path, capfd):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    rc = main(["evaluate", f"results_dir={tmp_path / 'r'}", f"evaluate.onnx_file={bad}", TEST])
    err = capfd.readouterr().err
    assert rc == 2 and "bad.onnx: not a readable ONNX file" in err
