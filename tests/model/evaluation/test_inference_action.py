"""`depth_net inference` end to end: pictures, PFM, depth, PLY, sample names that never collide."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from model.cli import main
from model.data.io import read_image, read_pfm
from model.evaluation.annotate import colour_bar
from model.evaluation.visualize import colorize_depth, depth_range
from model.status import read_status


def _infer(tmp_path: Path, ckpt: Path, sources: str, *extra: str) -> list[str]:
    return ["inference", f"results_dir={tmp_path / 'runs'}", f"inference.checkpoint={ckpt}",
            f"dataset.infer_dataset.data_sources={sources}", *extra]


def _bar(width: int) -> int:
    """Rows of the colour bar under a map `width` px wide."""
    return colour_bar(width, 0.0, 1.0, cv2.COLORMAP_TURBO, "px").shape[0]


def test_inference_synthetic_writes_every_output(tmp_path, tiny_checkpoint, capfd):
    sources = "[{dataset_name: Synthetic, num_samples: 2, seed: 3, image_size: [64, 96]}]"
    rc = main(_infer(tmp_path, tiny_checkpoint, sources, "inference.save_raw_pfm=true", "inference.save_raw_npy=true",
                     "inference.focal_px=100", "inference.baseline_m=0.5"))
    out, err = capfd.readouterr()
    assert rc == 0 and "Execution status: PASS" in out, err
    run = tmp_path / "runs" / "inference"
    names = [f"synthetic_3_{i:06d}" for i in range(2)]
    bar = _bar(96)  # each map has its colour bar under it
    for name in names:
        picture = read_image(run / "disparity" / f"{name}.png")
        assert picture.shape == (64 + bar, 96, 3)
        assert read_image(run / "panels" / f"{name}.png").shape == (2 * (64 + bar), 192, 3)  # Synthetic has GT
        depth_png = read_image(run / "depth" / f"{name}.png")
        assert depth_png.shape == picture.shape and not np.array_equal(depth_png[:64], picture[:64])
        disp = read_pfm(run / "pfm" / f"{name}.pfm")
        assert np.array_equal(np.load(run / "npy" / f"{name}.npy"), disp)
        depth = np.load(run / "depth" / f"{name}.npy")
        assert disp.shape == depth.shape == (64, 96)
        ok = disp > 1e-3
        assert np.allclose(depth[ok], 100 * 0.5 / disp[ok], rtol=1e-5)
        header = (run / "pointcloud" / f"{name}.ply").read_bytes().split(b"end_header")[0]
        assert f"element vertex {int((depth > 0).sum() - (depth > 100).sum())}".encode() in header
    assert read_status(run / "status.json")[-1]["kpi"] == {"num_images": 2}


def test_a_rerun_replaces_the_earlier_outputs(tmp_path, tiny_checkpoint):
    first = "[{dataset_name: Synthetic, num_samples: 1, seed: 1, image_size: [64, 96]}]"
    second = "[{dataset_name: Synthetic, num_samples: 1, seed: 2, image_size: [64, 96]}]"
    assert main(_infer(tmp_path, tiny_checkpoint, first, "inference.save_raw_pfm=true")) == 0
    run = tmp_path / "runs" / "inference"
    (run / "notes.txt").write_text("mine", encoding="utf-8")  # not an output folder: kept
    assert main(_infer(tmp_path, tiny_checkpoint, second)) == 0  # other data, PFM off
    assert sorted(p.name for p in (run / "disparity").iterdir()) == ["synthetic_2_000000.png"]
    assert not (run / "pfm").exists() and (run / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_failed_rerun_keeps_the_earlier_outputs(tmp_path, tiny_checkpoint, capfd):
    """A rerun that fails mid-way (here: a network whose output overflows) deleted the earlier
    pictures first; now they stay until a run succeeds, and nothing of the failed run is left."""
    import torch

    from model.config import NetworkConfig
    from model.network import build_network

    first = "[{dataset_name: Synthetic, num_samples: 1, seed: 1, image_size: [64, 96]}]"
    second = "[{dataset_name: Synthetic, num_samples: 2, seed: 2, image_size: [64, 96]}]"
    assert main(_infer(tmp_path, tiny_checkpoint, first)) == 0
    run = tmp_path / "runs" / "inference"
    picture = (run / "disparity" / "synthetic_1_000000.png").read_bytes()
    net = build_network(NetworkConfig.tiny())
    state = {k: (torch.full_like(v, 3e38) if k.startswith("spx_gru.") else v) for k, v in net.state_dict().items()}
    huge = tmp_path / "huge.pth"
    torch.save({"state_dict": state, "spec": {"model": NetworkConfig.tiny().to_dict()}}, huge)
    capfd.readouterr()
    assert main(_infer(tmp_path, huge, second, "inference.save_raw_pfm=true")) == 1
    assert "non-finite" in capfd.readouterr().err
    assert sorted(p.name for p in (run / "disparity").iterdir()) == ["synthetic_1_000000.png"]
    assert (run / "disparity" / "synthetic_1_000000.png").read_bytes() == picture
    assert not (run / "pfm").exists() and not (run / ".previous_outputs").exists()
    # a run killed between setting the earlier outputs aside and finishing: the next run restores them first
    (run / ".previous_outputs").mkdir()
    (run / "disparity").rename(run / ".previous_outputs" / "disparity")
    (run / "disparity").mkdir()
    (run / "disparity" / "partial.png").write_bytes(b"half")
    assert main(_infer(tmp_path, huge, second)) == 1
    assert sorted(p.name for p in (run / "disparity").iterdir()) == ["synthetic_1_000000.png"]
    assert main(_infer(tmp_path, tiny_checkpoint, second)) == 0  # a run that succeeds replaces them
    assert sorted(p.name for p in (run / "disparity").iterdir()) == ["synthetic_2_000000.png", "synthetic_2_000001.png"]
    assert not (run / ".previous_outputs").exists()


def test_repeated_sample_names_never_overwrite(tmp_path, tiny_checkpoint):
    same = "{dataset_name: Synthetic, num_samples: 1, seed: 0, image_size: [64, 96]}"
    assert main(_infer(tmp_path, tiny_checkpoint, f"[{same}, {same}]")) == 0
    files = sorted(p.name for p in (tmp_path / "runs" / "inference" / "disparity").iterdir())
    assert files == ["synthetic_0_000000.png", "synthetic_0_000000_1.png"]


def test_inference_real_pairs_two_columns_and_scene_names(tmp_path, tiny_checkpoint, real_dir):
    ann = tmp_path / "pairs.txt"
    lines = [line for line in (real_dir / "middlebury2014Q.txt").read_text().splitlines()[:2]]
    ann.write_text("".join(" ".join(f"{real_dir}/{p}" for p in line.split()[:2]) + "\n" for line in lines))
    rc = main(_infer(tmp_path, tiny_checkpoint, f"[{{dataset_name: Middlebury, data_file: '{ann}'}}]",
                     "inference.input_height=64", "inference.input_width=96"))
    assert rc == 0
    run = tmp_path / "runs" / "inference"
    # Middlebury left images are all im0.png: outputs are named after the scene folder
    assert sorted(p.name for p in (run / "disparity").iterdir()) == ["Adirondack.png", "ArtL.png"]
    assert not (run / "panels").exists()  # 2-column lines: no GT panels
    left = read_image(real_dir / "middlebury2014Q" / "Adirondack" / "im0.png")
    h, w, _ = left.shape
    assert read_image(run / "disparity" / "Adirondack.png").shape == (h + _bar(w), w, 3)


def test_missing_checkpoint_for_inference(tmp_path, capfd):
    sources = "[{dataset_name: Synthetic, num_samples: 1}]"
    rc = main(_infer(tmp_path, tmp_path / "none.pth", sources))
    assert rc == 2 and "none.pth: file not found" in capfd.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("key", ["onnx_file", "trt_engine"])
def test_deploy_model_file_must_exist(tmp_path, key, capfd):
    sources = "[{dataset_name: Synthetic, num_samples: 1}]"
    rc = main(["inference", f"results_dir={tmp_path / 'runs'}", f"inference.{key}={tmp_path / 'm.bin'}",
               f"dataset.infer_dataset.data_sources={sources}"])
    assert rc == 2 and f"inference.{key}" in capfd.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_depth_picture_is_metres_with_its_own_scale(tmp_path, tiny_checkpoint):
    """depth/<name>.png was pixel-identical to disparity/<name>.png (1/depth is proportional to the
    disparity): it is now depth in metres, linear over its own near..far range, with its own bar."""
    sources = "[{dataset_name: Synthetic, num_samples: 1, seed: 3, image_size: [64, 96]}]"
    assert main(_infer(tmp_path, tiny_checkpoint, sources, "inference.focal_px=721.5", "inference.baseline_m=0.54")) == 0
    run = tmp_path / "runs" / "inference"
    name = "synthetic_3_000000"
    depth = np.load(run / "depth" / f"{name}.npy")
    assert depth.max() > 5.0  # metres
    depth_png = read_image(run / "depth" / f"{name}.png")
    disp_png = read_image(run / "disparity" / f"{name}.png")
    has = depth > 0
    assert not np.array_equal(depth_png, disp_png)  # not a copy of the disparity picture
    assert (depth_png[:64][~has] == 0).all()
    near, far = depth_range(depth, 100.0)
    assert np.array_equal(depth_png[:64], colorize_depth(depth, near, far))  # the picture is this scale in metres


def _raw_pfm_top_first(path: Path) -> np.ndarray:
    """A PFM parsed by hand (not by model.data.io): rows are stored bottom-up, so flip them."""
    kind, size, scale, body = path.read_bytes().split(b"\n", 3)
    width, height = map(int, size.split())
    assert kind == b"Pf" and float(scale) < 0  # one channel, little-endian
    return np.frombuffer(body, "<f4").reshape(height, width)[::-1]


def test_pfm_is_the_prediction_for_mixed_sizes_and_image_kinds(tmp_path, tiny_checkpoint):
    """Batch 3 over pairs of two sizes (one not a multiple of 32) and gray / RGBA / 16-bit files, all
    named left.png in different folders: one PFM per pair, at its size, equal to the prediction."""
    import cv2
    import torch

    from model.data.normalize import normalize_image
    from model.evaluation.predictor import TorchPredictor
    from model.network.checkpoint import load_network_from_checkpoint

    rng = np.random.default_rng(0)
    kinds = {"rgb": (64, 96), "gray": (50, 70), "rgba": (64, 96), "u16": (64, 96)}
    lines = []
    for kind, (h, w) in kinds.items():
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for side, img in (("left", image), ("right", np.roll(image, -3, axis=1))):
            if kind == "gray":
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            elif kind == "rgba":
                img = np.dstack([img, np.full((h, w), 128, np.uint8)])
            elif kind == "u16":
                img = img.astype(np.uint16) * 257
            (tmp_path / kind).mkdir(exist_ok=True)
            cv2.imwrite(str(tmp_path / kind / f"{side}.png"), img)
        lines.append(f"{kind}/left.png {kind}/right.png\n")
    (tmp_path / "pairs.txt").write_text("".join(lines))
    sources = f"[{{dataset_name: GenericDataset, data_file: '{tmp_path / 'pairs.txt'}'}}]"
    assert main(_infer(tmp_path, tiny_checkpoint, sources, "inference.save_raw_pfm=true",
                       "inference.batch_size=3")) == 0
    run = tmp_path / "runs" / "inference"
    assert sorted(p.stem for p in (run / "pfm").iterdir()) == sorted(kinds)
    net, _ = load_network_from_checkpoint(str(tiny_checkpoint), None)
    predictor = TorchPredictor(net.eval(), torch.device("cpu"))
    for kind, (h, w) in kinds.items():
        left, right = (normalize_image(read_image(tmp_path / kind / f"{s}.png"))[None] for s in ("left", "right"))
        expected = predictor(left, right)[0, 0].numpy()
        saved = _raw_pfm_top_first(run / "pfm" / f"{kind}.pfm")
        assert saved.shape == (h, w) and np.abs(saved - expected).max() < 1e-3, kind
        assert read_image(run / "disparity" / f"{kind}.png").shape == (h + _bar(w), w, 3)
