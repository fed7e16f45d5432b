"""Writes schemas/<action>.schema.json from the section definitions next to this file.

Every action's schema describes the whole spec (so one spec file serves every
action); they differ in title and in the AutoML metadata, which the train and
automl schemas carry. Run `python schemas/build_schemas.py` after editing a
section; tests/model/test_spec.py fails when the JSON files are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _sections_actions import (automl_section, convert_section, evaluate_section,  # noqa: E402
                               export_section, gen_trt_engine_section, inference_section, train_section)
from _fields import boolean, section, string  # noqa: E402
from _sections_model_data import dataset_section, model_section  # noqa: E402
from _sections_tao import (add_dataset_keys, add_export_keys, add_gen_trt_engine_keys,  # noqa: E402
                           add_model_keys, add_run_keys, add_train_keys, ignored)

ACTIONS = ("train", "evaluate", "inference", "export", "gen_trt_engine", "convert", "automl")

AUTOML_DEFAULT_PARAMETERS = [
    "train.optim.lr",
    "train.optim.lr_decay",
    "train.optim.weight_decay",
    "train.optim.warmup_steps",
]

_DESCRIPTIONS = {
    "train": "depth_net train: fine-tune or train FastFoundationStereo.",
    "evaluate": "depth_net evaluate: epe / bp1 / bp2 / bp3 / d1 / rmse over a labelled dataset.",
    "inference": "depth_net inference: disparity pictures, PFM, depth and point clouds.",
    "export": "depth_net export: ONNX with a parity check against PyTorch.",
    "gen_trt_engine": "depth_net gen_trt_engine: TensorRT engine from ONNX.",
    "convert": "depth_net convert: annotation files from a dataset root.",
    "automl": "depth_net automl: hyperparameter search over training.",
}


def _leaf_keys(schema: dict, prefix: str, searchable: bool = True) -> list[str]:
    """Dotted keys of every leaf below an object schema (without the automl_enabled ones unless `searchable`)."""
    keys = []
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            keys += _leaf_keys(sub, f"{prefix}.{name}", searchable)
        elif searchable or not sub.get("automl_enabled"):
            keys.append(f"{prefix}.{name}")
    return keys


def _wandb_section() -> dict:
    """TAO's `wandb` block: accepted so a TAO spec loads; W&B logging is not part of depth_net."""
    return section("TAO compatibility: accepted and ignored (training logs to TensorBoard and CSV).", {
        "enable": ignored(boolean(False, ""), "no Weights & Biases logging; training writes TensorBoard and "
                          "CSV logs"),
        "project": string(None, "Ignored.", nullable=True),
        "entity": string(None, "Ignored.", nullable=True),
        "name": string(None, "Ignored.", nullable=True),
        "tags": {"type": ["array", "null"], "items": {"type": "string"}, "default": None, "description": "Ignored."},
        "reinit": boolean(False, "Ignored."),
        "sync_tensorboard": boolean(False, "Ignored."),
        "save_code": boolean(False, "Ignored."),
        "run_id": string(None, "Ignored.", nullable=True),
    })


def build(action: str) -> dict:
    """The full spec schema of one action."""
    props = {
        "results_dir": {"type": "string", "default": "runs/default", "pattern": "\\S", "format": "path",
                        "x_allowed": "a folder path (not empty: '' would write into the current folder)",
                        "description": "Root of all outputs; each action writes <results_dir>/<action>/."},
        "model": model_section(),
        "dataset": dataset_section(),
        "train": train_section(),
        "evaluate": evaluate_section(),
        "inference": inference_section(),
        "export": export_section(),
        "gen_trt_engine": gen_trt_engine_section(),
        "automl": automl_section(),
        "convert": convert_section(),
        # TAO's top-level keys, so a TAO spec loads as is; they change nothing here
        "model_name": ignored(string(None, "", nullable=True), "the action is the command's first word"),
        "encryption_key": ignored(string(None, "", nullable=True), "checkpoints are plain .pth files"),
        "wandb": _wandb_section(),
        "quantize": ignored({"type": ["object", "null"], "default": None, "description": ""},
                            "TAO's quantize action is not part of depth_net"),
    }
    add_dataset_keys(props["dataset"])
    add_model_keys(props["model"])
    add_train_keys(props["train"])
    add_run_keys(props["evaluate"], "evaluate")
    add_run_keys(props["inference"], "inference")
    add_export_keys(props["export"])
    add_gen_trt_engine_keys(props["gen_trt_engine"])
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"depth_net/{action}.schema.json",
        "title": f"depth_net {action} spec",
        "description": _DESCRIPTIONS[action],
        "type": "object",
        "additionalProperties": False,
        "properties": props,
    }
    if action in ("train", "automl"):
        schema["automl_default_parameters"] = list(AUTOML_DEFAULT_PARAMETERS)
        schema["automl_disabled_parameters"] = _leaf_keys(props["model"], "model", searchable=False)
    else:
        _strip_automl(schema)
    return schema


def _strip_automl(node: object) -> None:
    """Remove automl_* leaf metadata: only train / automl schemas describe the search space."""
    if isinstance(node, dict):
        for key in [k for k in node if k in ("automl_enabled", "automl_scale", "automl_minimum", "automl_maximum",
                                                 "automl_architecture")]:
            del node[key]
        for value in node.values():
            _strip_automl(value)
    elif isinstance(node, list):
        for value in node:
            _strip_automl(value)


def render(action: str) -> str:
    """The JSON text of one schema file."""
    return json.dumps(build(action), indent=2) + "\n"


def main() -> None:
    for action in ACTIONS:
        (HERE / f"{action}.schema.json").write_text(render(action), encoding="utf-8")
        print(f"wrote schemas/{action}.schema.json")



if __name__ == "__main__":
    main()
