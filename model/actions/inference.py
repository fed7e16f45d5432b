"""`depth_net inference`: disparity for every pair of dataset.infer_dataset.

Per sample (named after the left image's stem, or its scene folder; a repeated
name gets `_1`, `_2`... so outputs never overwrite each other):
`disparity/<name>.png` (colourised, with a colour bar in px, with `inference.vis`),
`panels/<name>.png` (left / prediction / GT / error, when the sample has GT),
`pfm/<name>.pfm` (`save_raw_pfm`), `npy/<name>.npy` (`save_raw_npy`), and with
`focal_px` and `baseline_m` (or TAO's `dataset.focal_x` / `baseline`): `depth/<name>.npy`
(metres), `depth/<name>.png` (metres, its own colour bar) and `pointcloud/<name>.ply`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from model.actions.evaluate import check_model_source
from model.data.io import write_png, write_pfm
from model.errors import RunFailed, SpecError
from model.evaluation.evaluator import build_split_dataset, iterate_predictions, preflight, unique_stem
from model.evaluation.metrics import compute_per_image
from model.evaluation.pointcloud import depth_to_points, disparity_to_depth, write_ply
from model.evaluation.predictor import make_predictor
from model.evaluation.visualize import depth_picture, disparity_picture, make_panel
from model.status import StatusLogger, check_output_folders, replacing_outputs, results_dir_for

__all__ = ["check", "run"]


def check(spec: dict) -> None:
    """Validate data, camera and checkpoint before anything is written."""
    section = spec["inference"]
    if (section["focal_px"] is None) != (section["baseline_m"] is None):
        raise SpecError("inference.focal_px / inference.baseline_m: set both (depth and point cloud) or neither "
                        f"(got focal_px {section['focal_px']}, baseline_m {section['baseline_m']})")
    if not (section["vis"] or section["save_raw_pfm"] or section.get("save_raw_npy")
            or section["focal_px"] is not None):
        raise SpecError("inference.vis: false with save_raw_pfm / save_raw_npy false and no focal_px / baseline_m "
                        "writes nothing; "
                        "enable at least one output")
    dataset, _ = build_split_dataset(spec, "infer")
    preflight(dataset)
    check_model_source(spec, "inference")
    check_output_folders(results_dir_for(spec, "inference"), OUTPUT_FOLDERS)


#: the per-pair output folders (a rerun replaces them)
OUTPUT_FOLDERS = ("disparity", "panels", "pfm", "npy", "depth", "pointcloud")


class _Writer:
    """Writes the files of one sample into the results dir's sub-folders."""

    def __init__(self, out_dir: Path, section: dict, max_disparity: float) -> None:
        self.out_dir, self.section, self.max_disparity = out_dir, section, max_disparity
        self.outputs: list[str] = []

    def _path(self, folder: str, name: str) -> Path:
        path = self.out_dir / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.outputs.append(str(path))
        return path

    def write(self, stem: str, sample: dict, disp: np.ndarray) -> None:
        left_rgb = sample["left_rgb"].permute(1, 2, 0).numpy()
        if self.section["vis"]:
            write_png(self._path("disparity", f"{stem}.png"), disparity_picture(disp))
            if sample["has_gt"]:
                gt, valid = sample["disp"][0].numpy(), sample["valid"][0].numpy() > 0.5
                per = compute_per_image(sample["disp"].new_tensor(disp)[None], sample["disp"][None],
                                        self.max_disparity, sample["valid"][None])
                epe = float(per["epe"][0])
                panel = make_panel(left_rgb, disp, gt, valid, epe if math.isfinite(epe) else None)
                write_png(self._path("panels", f"{stem}.png"), panel)
        if self.section["save_raw_pfm"]:
            write_pfm(self._path("pfm", f"{stem}.pfm"), disp)
        if self.section.get("save_raw_npy"):
            np.save(self._path("npy", f"{stem}.npy"), disp.astype(np.float32))
        focal, baseline = self.section["focal_px"], self.section["baseline_m"]
        if focal is not None and baseline is not None:
            depth = disparity_to_depth(disp, focal, baseline)
            np.save(self._path("depth", f"{stem}.npy"), depth)
            # metres, linear, with its own scale (not the disparity picture again: that is 1/depth)
            write_png(self._path("depth", f"{stem}.png"), depth_picture(depth, self.section["max_depth_m"]))
            points, colors = depth_to_points(depth, focal, left_rgb, self.section["max_depth_m"])
            write_ply(self._path("pointcloud", f"{stem}.ply"), points, colors)


def run(spec: dict, status: StatusLogger) -> dict:
    """Predict every pair; returns {"kpi": {"num_images"}, "outputs": [files]}."""
    # the earlier run's per-image outputs stay (set aside) until this run succeeds
    with replacing_outputs(results_dir_for(spec, "inference"), OUTPUT_FOLDERS):
        return _run(spec, status)


def _run(spec: dict, status: StatusLogger) -> dict:
    section = spec["inference"]
    dataset, source = build_split_dataset(spec, "infer")
    split_cfg = spec["dataset"]["infer_dataset"]
    writer = _Writer(results_dir_for(spec, "inference"), section, spec["dataset"]["max_disparity"])
    predictor = make_predictor(spec, "inference")
    status.write("RUNNING", f"inference on {len(dataset)} pairs of {source}")
    used: set[str] = set()
    count = 0
    for sample, pred in iterate_predictions(predictor, dataset, section["batch_size"] or split_cfg["batch_size"],
                                            split_cfg["workers"], "inference"):
        disp = pred[0].numpy()  # [H,W] px
        if not np.isfinite(disp).all():
            raise RunFailed(f"inference: the prediction for {sample['left_path']} has non-finite values")
        writer.write(unique_stem(sample["name"], used), sample, disp)
        count += 1
    if count == 0:
        raise RunFailed(f"inference: {source} produced no predictions")
    status.write("RUNNING", f"wrote {len(writer.outputs)} files for {count} pairs")
    print(f"inference ({source}): {count} pairs -> {results_dir_for(spec, 'inference')}")
    return {"kpi": {"num_images": count}, "outputs": writer.outputs}
