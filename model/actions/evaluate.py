"""`depth_net evaluate`: epe, bp1, bp2, bp3, d1, rmse over dataset.test_dataset (or val_dataset).

Writes `metrics.json` (summary + per image) and `metrics_per_image.csv`; with
`evaluate.vis` a picture panel per image under `vis/`, with `save_raw_pfm` the
predictions under `pfm/`. The kpi in status.json is `val/epe`, `val/bp1`, ...
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from torch.utils.data import ConcatDataset

from model.data.io import write_png, write_pfm
from model.deploy.drift import make_drift_tracker
from model.errors import SpecError
from model.evaluation.evaluator import build_split_dataset, evaluate_dataset, preflight
from model.evaluation.metrics import METRIC_NAMES
from model.evaluation.predictor import input_hw, load_network, make_predictor, other_network_note, pick_device
from model.evaluation.runtime import check_mode
from model.evaluation.visualize import make_panel
from model.status import StatusLogger, check_output_folders, replacing_outputs, results_dir_for

__all__ = ["check", "run", "check_model_source"]


def check_model_source(spec: dict, action: str) -> None:
    """Fail early on a missing / unfit checkpoint; record the network actually used in the spec.

    When the spec's `model` section is the bp2 default and the checkpoint carries its own spec
    (ours), the checkpoint's network is built; `spec["model"]` is updated so experiment.yaml says so.
    """
    section = spec[action]
    input_hw(section, action)
    from model.deploy import deploy_source  # resolves a results folder to its file (and says which)

    source = deploy_source(spec, action)
    if source and not section.get("checkpoint"):
        return  # a checkpoint next to an engine asks for the drift report: check it too
    device = pick_device(section, action)
    check_mode(section.get("runtime", "eager"), section.get("precision", "fp32"), device, action)
    _, cfg = load_network(spec, action)
    note = other_network_note(spec, cfg, f"{action}.checkpoint: {section['checkpoint']}")
    spec["model"] = cfg.to_dict()
    if source:  # the drift report compares this checkpoint with the deploy model: one network
        from model.deploy.predictor import check_exported_network, deploy_metadata

        check_exported_network(spec, action, source[0], deploy_metadata(*source, action), checkpoint_cfg=cfg)
    if note:
        print(note)


def _check_has_gt(dataset, source: str, spec: dict) -> None:
    """Annotation files that list only `left right` pairs leave no metric to compute."""
    parts = dataset.datasets if isinstance(dataset, ConcatDataset) else [dataset]
    records = [getattr(part, "records", None) for part in parts]
    if all(rows is not None and all(row.disp is None for row in rows) for rows in records):
        files = ", ".join(str(src.get("data_file")) for src in spec["dataset"][source.split(".")[1]]["data_sources"])
        raise SpecError(f"{source}.data_sources: {files} list only left/right pairs (2 columns); evaluate needs "
                        "a disparity column (left right disparity [mask]); pairs without GT go to inference")


#: the per-image output folders (a rerun replaces them)
OUTPUT_FOLDERS = ("vis", "pfm")


def check(spec: dict) -> None:
    """Validate data and checkpoint before anything is written."""
    dataset, source = build_split_dataset(spec, "test", fallback="val")
    preflight(dataset)
    _check_has_gt(dataset, source, spec)
    check_model_source(spec, "evaluate")
    check_output_folders(results_dir_for(spec, "evaluate"), OUTPUT_FOLDERS)


def _write_rows(out_dir: Path, summary: dict, rows: list[dict], source: str) -> list[str]:
    csv_path, json_path = out_dir / "metrics_per_image.csv", out_dir / "metrics.json"
    fields = ["name", *METRIC_NAMES, "n_valid", "left_path"]
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in fields})
    clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()} for row in rows]
    json_path.write_text(json.dumps({"dataset": source, "summary": summary, "per_image": clean}, indent=2),
                         encoding="utf-8")
    return [str(csv_path), str(json_path)]


def run(spec: dict, status: StatusLogger) -> dict:
    """Evaluate; returns {"kpi": {"val/epe", ...}, "outputs": [files]}."""
    # the earlier run's per-image outputs stay (set aside) until this run succeeds
    with replacing_outputs(results_dir_for(spec, "evaluate"), OUTPUT_FOLDERS):
        return _run(spec, status)


def _run(spec: dict, status: StatusLogger) -> dict:
    section = spec["evaluate"]
    dataset, source = build_split_dataset(spec, "test", fallback="val")
    split_cfg = spec["dataset"][source.split(".")[1]]
    out_dir = results_dir_for(spec, "evaluate")
    predictor = make_predictor(spec, "evaluate")
    deploy = bool(section.get("onnx_file") or section.get("trt_engine"))
    drift = make_drift_tracker(spec, "evaluate", predictor) if deploy else None
    status.write("RUNNING", f"evaluating {len(dataset)} images of {source}")
    outputs: list[str] = []

    def on_sample(sample: dict, pred, row: dict) -> None:
        if drift is not None:
            drift.update(sample, pred, row)
        disp = pred[0].numpy()
        if section["vis"]:
            valid = sample["valid"][0].numpy() > 0.5
            panel = make_panel(sample["left_rgb"].permute(1, 2, 0).numpy(), disp,
                               sample["disp"][0].numpy() if sample["has_gt"] else None, valid,
                               row["epe"] if row["n_valid"] else None)
            path = out_dir / "vis" / f"{row['name']}.png"
            path.parent.mkdir(exist_ok=True)
            write_png(path, panel)
            outputs.append(str(path))
        if section["save_raw_pfm"]:
            path = out_dir / "pfm" / f"{row['name']}.pfm"
            path.parent.mkdir(exist_ok=True)
            write_pfm(path, disp)
            outputs.append(str(path))

    summary, rows = evaluate_dataset(predictor, dataset, spec["dataset"]["max_disparity"],
                                     section["batch_size"] or split_cfg["batch_size"], split_cfg["workers"],
                                     on_sample)
    outputs = _write_rows(out_dir, summary, rows, source) + outputs
    text = ", ".join(f"{m} {summary[m]:.4f}" for m in METRIC_NAMES)
    status.write("RUNNING", f"{summary['num_images']} images scored ({summary['num_skipped']} without GT): {text}",
                 num_images=summary["num_images"], num_skipped=summary["num_skipped"])
    scenes = {"dataset.val_dataset": "validation", "dataset.test_dataset": "test"}[source]
    print(f"evaluate ({summary['num_images']} {scenes} images, {source}): {text}")
    kpi = {(m if deploy else f"val/{m}"): summary[m] for m in METRIC_NAMES}  # deploy kpi: no val/ prefix
    if drift is not None:
        outputs.append(str(drift.write(out_dir)))
        drift.print_table()
        kpi.update(drift.kpi())
    return {"kpi": kpi, "outputs": outputs}
