"""A checkpoint against the classic baseline (OpenCV StereoSGBM) on the shared real samples.

    python bench/vs_sgbm.py                                   # SGBM alone: reproduces BASELINES.md
    python bench/vs_sgbm.py --checkpoint runs/exp/train/dn_model_latest.pth --json out.json

Per scene of ../shared/data/real (Middlebury 2014Q, KITTI 2015 / 2012, FlyingThings3D), in one
run: StereoSGBM with the settings of ../shared/design/BASELINES.md (3-way, block 5, P1 = 8*3*25,
P2 = 32*3*25, uniqueness 10, speckle 100 / 2, numDisparities = the smallest multiple of 16 whose
range 0..numDisparities-1 reaches the scene's GT maximum, holes filled from the left neighbour) and, with --checkpoint, the network (eager fp32,
`valid_iters`, padded to /32 and cropped back). Both are scored by depth_net's own metrics over
all GT pixels (finite, > 0; the Middlebury mask is not applied, as in BASELINES.md), plus bp2
over the non-occluded pixels where the scene has a mask. Prints a table with the network / SGBM
ratio per metric and writes JSON. SGBM reproducing the BASELINES.md rows checks the metrics too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data import io  # noqa: E402
from model.data.annotations import read_annotation_lines  # noqa: E402
from model.data.datasets import build_dataset  # noqa: E402
from model.evaluation.metrics import METRIC_NAMES, compute_per_image  # noqa: E402

SOURCES = [("Middlebury", "middlebury2014Q.txt"), ("Kitti", "kitti2015.txt"), ("Kitti", "kitti2012.txt"),
           ("GenericDataset", "flyingthings3d.txt")]
NO_CAP = 1e6  # "all GT pixels": no max_disparity cut for this comparison


def sgbm(left_rgb: np.ndarray, right_rgb: np.ndarray, max_gt: float) -> np.ndarray:
    """StereoSGBM disparity [H, W] float32 with BASELINES.md's settings; holes take the left neighbour."""
    # SGBM searches 0 .. numDisparities - 1: the smallest multiple of 16 that reaches the GT maximum
    num_disp = int(math.ceil((max_gt + 1.0) / 16.0)) * 16
    matcher = cv2.StereoSGBM_create(minDisparity=0, numDisparities=num_disp, blockSize=5, P1=8 * 3 * 25,
                                    P2=32 * 3 * 25, uniquenessRatio=10, speckleWindowSize=100, speckleRange=2,
                                    mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    left = cv2.cvtColor(left_rgb, cv2.COLOR_RGB2BGR)
    right = cv2.cvtColor(right_rgb, cv2.COLOR_RGB2BGR)
    disp = matcher.compute(left, right).astype(np.float32) / 16.0
    return _fill_from_left(disp, disp >= 0)


def _fill_from_left(disp: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each invalid pixel takes the nearest valid value to its left (0 where the row has none yet)."""
    width = disp.shape[1]
    index = np.where(ok, np.arange(width)[None, :], -1)
    index = np.maximum.accumulate(index, axis=1)  # last valid column at or left of each pixel
    filled = np.take_along_axis(disp, np.maximum(index, 0), axis=1)
    return np.where(index >= 0, filled, 0.0).astype(np.float32)


def _score(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None) -> dict:
    per = compute_per_image(torch.from_numpy(pred)[None, None], torch.from_numpy(gt)[None, None], NO_CAP,
                            None if mask is None else torch.from_numpy(mask)[None, None])
    return {k: float(v[0]) for k, v in per.items()}


def _network(checkpoint: str):
    from model.evaluation.runtime import FastForward
    from model.network.checkpoint import load_network_from_checkpoint
    from model.network.padding import InputPadder

    net, _ = load_network_from_checkpoint(checkpoint)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fast = FastForward(net.eval().to(device), "eager", "fp32")

    def predict(sample: dict) -> np.ndarray:
        left, right = sample["left"][None].to(device), sample["right"][None].to(device)
        padder = InputPadder(left.shape, divis_by=32)
        with torch.inference_mode():
            return padder.unpad(fast(*padder.pad(left, right)))[0, 0].cpu().numpy()

    return predict


def _middlebury2003(real: Path, folder: Path) -> Path | None:
    """An annotation file for Middlebury 2003 cones (im2 / im6, disp2.png = 4 x disparity, 0 = no GT),
    which has no dataset class: the GT goes to .npy for GenericDataset, the images are linked."""
    scene = real / "middlebury2003" / "cones"
    if not (scene / "disp2.png").is_file():
        return None
    gt = cv2.imread(str(scene / "disp2.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 4.0
    np.save(folder / "cones_disp.npy", np.where(gt > 0, gt, np.inf).astype(np.float32))
    for name, image in (("cones.png", "im2.png"), ("cones_right.png", "im6.png")):
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to((scene / image).resolve())
    data_file = folder / "middlebury2003.txt"
    data_file.write_text("cones.png cones_right.png cones_disp.npy\n", encoding="utf-8")
    return data_file


def run(real: Path, checkpoint: str | None, sources: list[tuple[str, str]] = SOURCES,
        brief: bool = False) -> list[dict]:
    """One row per scene: {scene, sgbm: {metrics}, net: {metrics} (with a checkpoint)}, printed as it comes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vs_sgbm_") as tmp:
        extra = _middlebury2003(real, Path(tmp))
        if extra is not None and sources is SOURCES:
            sources = [*sources, ("GenericDataset", str(extra))]
        return _run(real, checkpoint, sources, _brief_line if brief else _line)


def _run(real: Path, checkpoint: str | None, sources: list[tuple[str, str]], line) -> list[dict]:
    predict = _network(checkpoint) if checkpoint else None
    rows = []
    for name, fname in sources:
        data_file = real / fname
        if not data_file.is_file():
            continue
        ds = build_dataset({"dataset_name": name, "data_file": str(data_file)}, split="test", augmentation=None,
                           max_disparity=int(NO_CAP))
        lines = read_annotation_lines(data_file)
        for i in range(len(ds)):
            sample = ds[i]
            columns = lines[i][1]
            gt, _ = ds.read_disparity(columns[2])
            gt = np.where(np.isfinite(gt) & (gt > 0), gt, np.inf).astype(np.float32)  # all GT pixels
            nocc = io.read_mask(columns[3]) if len(columns) > 3 else None
            left_rgb = sample["left_rgb"].permute(1, 2, 0).numpy()
            right_rgb = (io.read_image(columns[1])[..., :3]).astype(np.uint8)
            scene = f"{Path(fname).name.split('.')[0]}/{sample['name']}"
            preds = {"sgbm": sgbm(left_rgb, right_rgb, float(gt[np.isfinite(gt)].max()))}
            if predict is not None:
                preds["net"] = predict(sample)
            row = {"scene": scene}
            for key, pred in preds.items():
                row[key] = _score(pred, gt, None)
                if nocc is not None:
                    row[key]["bp2_nocc"] = _score(pred, gt, nocc)["bp2"]
            rows.append(row)
            print(line(row), flush=True)
    return rows


def _line(row: dict) -> str:
    cells = [f"{row['scene']:34s}"]
    for m in METRIC_NAMES:
        s = row["sgbm"][m]
        cell = f"{s:7.3f}"
        if "net" in row:
            n = row["net"][m]
            cell = f"{n:7.3f} vs {s:6.3f} (x{n / s:.2f})" if s else f"{n:7.3f} vs {s:6.3f}"
        cells.append(cell)
    if "bp2_nocc" in row["sgbm"]:
        net = f"{row['net']['bp2_nocc']:.4f} vs " if "net" in row else ""
        cells.append(f"bp2 non-occluded {net}{row['sgbm']['bp2_nocc']:.4f}")
    return " | ".join(cells)


def _brief_line(row: dict) -> str:
    """`scene  epe net / sgbm  bp2 net / sgbm  d1 net / sgbm` (SGBM alone without a network)."""
    cells = [f"{row['scene']:30s}"]
    for m in ("epe", "bp2", "d1"):
        net = f"{row['net'][m]:6.3f} / " if "net" in row else ""
        cells.append(f"{m} {net}{row['sgbm'][m]:6.3f}")
    return "  ".join(cells) + ("   (network / SGBM)" if "net" in row else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
    parser.add_argument("--checkpoint", default=None, help="network checkpoint to compare (any supported format)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--brief", action="store_true", help="epe / bp2 / d1 only, one short line per scene")
    args = parser.parse_args(argv)
    if not args.real.is_dir():
        parser.error(f"--real {args.real}: folder not found")
    head = "net vs sgbm (ratio)" if args.checkpoint else "sgbm"
    if not args.brief:
        print(f"{'scene':34s} | " + " | ".join(f"{m} [{head}]" for m in METRIC_NAMES))
    rows = run(args.real, args.checkpoint, brief=args.brief)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
