"""`depth_net evaluate` end to end on a random tiny network: Synthetic and one real KITTI pair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from model.cli import main
from model.config import NetworkConfig
from model.data.datasets import build_dataset
from model.evaluation.evaluator import evaluate_dataset
from model.evaluation.predictor import TorchPredictor
from model.network import build_network
from model.status import read_kpi, read_status

SYNTH = "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 3, seed: 4, image_size: [64, 96]}]"


def _evaluate(tmp_path: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["evaluate", f"results_dir={tmp_path / 'runs'}", f"evaluate.checkpoint={ckpt}", SYNTH, *extra]


def test_evaluate_synthetic_pass_kpi_files_and_pictures(tmp_path, tiny_checkpoint, capfd):
    rc = main(_evaluate(tmp_path, tiny_checkpoint, "evaluate.vis=true", "evaluate.save_raw_pfm=true"))
    out, err = capfd.readouterr()
    assert rc == 0, err
    assert "Execution status: PASS" in out
    # the spec says bp2 (the default model section), the checkpoint holds the tiny network: said once
    notes = [line for line in out.splitlines() if "other widths than the spec's model section" in line]
    assert len(notes) == 1 and f"evaluate.checkpoint: {tiny_checkpoint}" in notes[0]
    assert "max_disparity 64 (spec 192)" in notes[0] and "running the checkpoint's network" in notes[0]
    run = tmp_path / "runs" / "evaluate"
    events = read_status(run / "status.json")
    assert [e["status"] for e in events][0] == "STARTED" and events[-1]["status"] == "SUCCESS"
    kpi = events[-1]["kpi"]
    assert set(kpi) == {"val/epe", "val/bp1", "val/bp2", "val/bp3", "val/d1", "val/rmse"}
    assert read_kpi(run / "status.json")["epe"] == pytest.approx(kpi["val/epe"])
    rows = list(csv.DictReader(open(run / "metrics_per_image.csv")))
    assert [r["name"] for r in rows] == [f"synthetic_4_{i:06d}" for i in range(3)]
    assert sum(float(r["epe"]) for r in rows) / 3 == pytest.approx(kpi["val/epe"], rel=1e-4)
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["summary"]["num_images"] == 3 and len(summary["per_image"]) == 3
    assert sorted(p.name for p in (run / "vis").iterdir()) == [f"synthetic_4_{i:06d}.png" for i in range(3)]
    assert len(list((run / "pfm").glob("*.pfm"))) == 3
    # the network actually evaluated (the checkpoint's own tiny config) is what experiment.yaml records
    resolved = yaml.safe_load((run / "experiment.yaml").read_text())
    assert NetworkConfig.from_dict(resolved["model"]) == NetworkConfig.tiny()
    # a rerun with the pictures and PFMs off leaves none of the earlier ones behind
    assert main(_evaluate(tmp_path, tiny_checkpoint, "evaluate.vis=false")) == 0
    assert not (run / "vis").exists() and not (run / "pfm").exists() and (run / "metrics.json").is_file()


def test_kpi_matches_direct_computation_and_batch_size(tmp_path, tiny_checkpoint):
    assert main(_evaluate(tmp_path, tiny_checkpoint, "evaluate.batch_size=2")) == 0
    kpi = read_kpi(tmp_path / "runs" / "evaluate" / "status.json")
    net = build_network(NetworkConfig.tiny())
    net.load_state_dict(torch.load(tiny_checkpoint, weights_only=True)["state_dict"])
    data = build_dataset({"dataset_name": "Synthetic", "num_samples": 3, "seed": 4, "image_size": [64, 96]},
                         split="test", augmentation=None, max_disparity=416)
    summary, _ = evaluate_dataset(TorchPredictor(net.eval(), torch.device("cpu")), data, 416, batch_size=1)
    for name in ("epe", "bp1", "bp2", "bp3", "d1", "rmse"):
        assert kpi[name] == pytest.approx(summary[name], rel=1e-4, abs=1e-5), name


def test_spec_model_that_does_not_fit_the_checkpoint_is_exit_2(tmp_path, tiny_checkpoint, capfd):
    argv = _evaluate(tmp_path, tiny_checkpoint, *[f"model.{k}={v}" for k, v in (
        ("gru_hidden", 16), ("disp_head_input_dim", 16), ("cnet_conv04_widths", "[16,8]"))])
    rc = main(argv)
    err = capfd.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()


def test_nan_network_is_fail_exit_1(tmp_path, capfd):
    torch.manual_seed(0)
    net = build_network(NetworkConfig.tiny())
    # finite but huge weights in the final upsampling head: the GRU loop stays finite, the output
    # disparity overflows (weights that already hold NaN are refused up front, next test)
    state = {k: (torch.full_like(v, 3e38) if k.startswith("spx_gru.") else v)
             for k, v in net.state_dict().items()}
    ckpt = tmp_path / "huge.pth"
    torch.save({"state_dict": state, "spec": {"model": NetworkConfig.tiny().to_dict()}}, ckpt)
    rc = main(_evaluate(tmp_path, ckpt))
    out, err = capfd.readouterr()
    assert rc == 1 and "Execution status: FAIL" in out and "PASS" not in out
    events = read_status(tmp_path / "runs" / "evaluate" / "status.json")
    assert events[-1]["status"] == "FAILURE"


@pytest.mark.parametrize("broken", ["nan", "int"])
def test_weights_with_nan_or_integer_values_are_refused_naming_file_and_key(tmp_path, capfd, broken):
    """They were loaded: NaN weights failed only after the earlier outputs were cleared, int ones gave PASS."""
    net = build_network(NetworkConfig.tiny())
    bad = {"nan": lambda v: torch.full_like(v, float("nan")), "int": lambda v: v.to(torch.int32)}[broken]
    state = {k: (bad(v) if k.startswith("spx_gru.") else v) for k, v in net.state_dict().items()}
    ckpt = tmp_path / f"{broken}.pth"
    torch.save({"state_dict": state, "spec": {"model": NetworkConfig.tiny().to_dict()}}, ckpt)
    rc = main(_evaluate(tmp_path, ckpt))
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and str(ckpt) in lines[0] and "'spx_gru." in lines[0], err
    assert ("NaN or inf" if broken == "nan" else "int32 values") in lines[0]
    assert not (tmp_path / "runs").exists()


def test_no_valid_gt_is_fail_metric_not_computable(tmp_path, tiny_checkpoint, capfd):
    import cv2
    import numpy as np

    from model.data.io import write_pfm

    image = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "l.png"), image)
    cv2.imwrite(str(tmp_path / "r.png"), image)
    write_pfm(tmp_path / "d.pfm", np.full((64, 96), np.inf, np.float32))  # no pixel has GT
    (tmp_path / "ann.txt").write_text("l.png r.png d.pfm\n")
    rc = main(["evaluate", f"results_dir={tmp_path / 'runs'}", f"evaluate.checkpoint={tiny_checkpoint}",
               f"dataset.test_dataset.data_sources=[{{dataset_name: Middlebury, data_file: '{tmp_path / 'ann.txt'}'}}]"])
    out, err = capfd.readouterr()
    assert rc == 1 and "metric could not be computed" in err and "Execution status: FAIL" in out
    assert read_status(tmp_path / "runs" / "evaluate" / "status.json")[-1]["status"] == "FAILURE"


def test_odd_image_size_is_padded_and_cropped_back(tmp_path, tiny_checkpoint):
    odd = "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 1, image_size: [50, 70]}]"
    assert main(["evaluate", f"results_dir={tmp_path / 'runs'}", f"evaluate.checkpoint={tiny_checkpoint}", odd,
                 "evaluate.save_raw_pfm=true"]) == 0
    from model.data.io import read_pfm

    pfm = next((tmp_path / "runs" / "evaluate" / "pfm").glob("*.pfm"))
    assert read_pfm(pfm).shape == (50, 70)


def test_evaluate_real_kitti_pair(tmp_path, tiny_checkpoint, real_dir):
    ann = tmp_path / "kitti_one.txt"
    ann.write_text((real_dir / "kitti2015.txt").read_text().splitlines()[0].replace(
        "kitti2015/", f"{real_dir}/kitti2015/") + "\n")
    rc = main(["evaluate", f"results_dir={tmp_path / 'runs'}", f"evaluate.checkpoint={tiny_checkpoint}",
               f"dataset.test_dataset.data_sources=[{{dataset_name: Kitti, data_file: '{ann}'}}]",
               "evaluate.input_height=64", "evaluate.input_width=192", "evaluate.vis=true"])
    assert rc == 0
    rows = list(csv.DictReader(open(tmp_path / "runs" / "evaluate" / "metrics_per_image.csv")))
    assert [r["name"] for r in rows] == ["000000_10"]
    # KITTI 2015 GT is sparse: roughly 20 % of 375 x 1242 pixels, scored at full resolution
    assert 0.1 * 375 * 1242 < int(rows[0]["n_valid"]) < 0.4 * 375 * 1242
    assert (tmp_path / "runs" / "evaluate" / "vis" / "000000_10.png").is_file()
