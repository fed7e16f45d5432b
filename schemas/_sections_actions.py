"""Schema sections of the actions: train, evaluate, inference, export, gen_trt_engine, automl, convert."""

from __future__ import annotations

from _fields import (MAX_BATCH, MAX_COUNT, MAX_EPOCHS, MAX_GPUS, MAX_SECONDS, MAX_SEED, MAX_SIDE, MAX_STEPS,
                     MAX_WORKERS, boolean, enum, int_list, integer, number, path, searchable, section, string)

_RESULTS = "Output folder of this action; default <results_dir>/<action>."
# what training logs per validation epoch (the only values a trial can report)
METRICS = ["val/epe", "val/bp1", "val/bp2", "val/bp3", "val/d1", "val/rmse", "val/loss"]


def _optim() -> dict:
    return section("Optimizer and learning-rate schedule.", {
        "optimizer": searchable(enum("AdamW", ["AdamW", "SGD"], "Optimizer."), "linear"),
        "lr": searchable(number(1e-4, "Peak learning rate.", maximum=1.0, exclusiveMinimum=0.0),
                         "log", 1e-6, 1e-2),
        "weight_decay": searchable(number(1e-5, "Weight decay (decoupled for AdamW); 0 disables.", 0.0, 1.0),
                                   "log", 1e-8, 1e-1),
        "lr_scheduler": searchable(enum("MultiStepLR", ["MultiStepLR", "StepLR", "CosineAnnealingLR",
                                                        "OneCycleLR", "PolynomialLR"],
                                        "Learning-rate schedule (stepped per optimizer step)."), "linear"),
        "lr_steps": int_list([1000], "MultiStepLR milestones, in optimizer steps.", minimum=1,
                             maximum=MAX_STEPS),
        "lr_step_size": integer(1000, "StepLR period in optimizer steps.", 1, MAX_STEPS),
        "lr_decay": searchable(number(0.5, "Multiplicative decay (MultiStepLR / StepLR gamma; "
                                      "PolynomialLR power).", maximum=1.0, exclusiveMinimum=0.0),
                              "log", 0.05, 1.0),
        "min_lr": searchable(number(0.0, "Floor of the learning rate (CosineAnnealingLR eta_min).",
                                    0.0, 1.0), "linear", 0.0, 1e-3),
        "warmup_steps": searchable(integer(0, "Linear warm-up from 0 over this many steps.", 0, MAX_STEPS),
                                   "linear", 0, 2000),
    })


def train_section() -> dict:
    """`train`: one training run (Lightning)."""
    return section("Training.", {
        "results_dir": path(_RESULTS),
        "num_gpus": integer(1, "GPUs per node.", 1, MAX_GPUS),
        "gpu_ids": int_list([0], "GPU indices to use.", min_items=1, maximum=MAX_GPUS),
        "num_nodes": integer(1, "Nodes.", 1, MAX_GPUS),
        "seed": integer(1234, "Global random seed.", 0, MAX_SEED),
        "num_epochs": integer(10, "Training epochs.", 1, MAX_EPOCHS),
        "max_minutes": number(None, "Stop after this many minutes of training (a checkpoint is written "
                              "when it stops); null: no time limit.", 0.1, 10**6, nullable=True),
        "checkpoint_interval": integer(1, "Write a checkpoint every N epochs.", 1, MAX_EPOCHS),
        "checkpoints_to_keep": integer(0, "Keep only the newest N epoch checkpoints (plus the best one and "
                                       "dn_model_latest.pth); 0 keeps all. AutoML trials keep 1 unless set.", 0,
                                       MAX_EPOCHS),
        "validation_interval": integer(1, "Validate every N epochs.", 1, MAX_EPOCHS),
        "resume_training_checkpoint_path": path("Resume from this checkpoint (optimizer, epoch, RNG)."),
        "pretrained_model_path": path("Initial weights (bp2 .pth, TAO or our checkpoint, plain state dict), or "
                                      "a results folder that holds one (train dir, results root, AutoML study)."),
        "precision": enum("fp32", ["fp32", "fp16", "bf16"], "Training precision."),
        "runtime": enum("auto", ["auto", "eager", "compile"],
                        "Training step runtime: compile = the fast path (encoder stages and one GRU iteration "
                        "compiled by region, fused AdamW, no host sync per step; CUDA only); eager = the "
                        "network as built; auto = compile on a GPU, eager on the CPU."),
        "recompute_iterations": boolean(False, "Recompute each GRU iteration in the backward pass "
                                        "(activation checkpointing): less memory, more arithmetic."),
        "clip_grad_norm": searchable(number(1.0, "Gradient norm clip; 0 disables.", 0.0), "linear", 0.0, 10.0),
        "log_every_n_steps": integer(50, "Log the training loss every N steps.", 1, MAX_STEPS),
        "optim": _optim(),
        "automl_policy": enum("auto", ["auto", "on", "off"],
                              "auto: route through an AutoML study when skill_info.yaml enables it; "
                              "on: always search; off: plain training."),
    })


def _run_section(desc: str, inference: bool) -> dict:
    props = {
        "results_dir": path(_RESULTS),
        "checkpoint": path("PyTorch checkpoint (.pth): ours, TAO, plain state dict or upstream bp2."),
        "onnx_file": path("Run this ONNX model with ONNX Runtime instead of the checkpoint."),
        "trt_engine": path("Run this TensorRT engine instead of the checkpoint."),
        "batch_size": integer(None, "Batch size; null uses the dataset split's batch_size.", 1, MAX_BATCH,
                              nullable=True),
        "input_height": integer(None, "Resize inputs to this height (multiple of 32); null keeps the image "
                                "size (padded to /32).", 32, MAX_SIDE, nullable=True, multipleOf=32),
        "input_width": integer(None, "Resize inputs to this width (multiple of 32); the disparity is "
                               "scaled back by the width ratio.", 32, MAX_SIDE, nullable=True, multipleOf=32),
        "num_gpus": integer(1, "GPUs (one is used).", 1, MAX_GPUS),
        "gpu_ids": int_list([0], "GPU index to use when CUDA is present.", min_items=1, maximum=MAX_GPUS),
        "runtime": enum("eager", ["eager", "compile", "cudagraph"],
                        "PyTorch execution mode: eager; compile (torch.compile with CUDA graphs, compiles "
                        "once per input size); cudagraph (the whole forward captured once per input size "
                        "and replayed; CUDA only)."),
        "precision": enum("fp32", ["fp32", "bf16", "fp16"],
                          "PyTorch inference precision; bf16 / fp16 need a CUDA GPU (the cost volume, "
                          "soft-argmin and disparity sum stay fp32)."),
        "save_raw_pfm": boolean(False, "Also write each predicted disparity as PFM."),
        "vis": boolean(inference, "Write colourised disparity pictures (and GT / error panels)."),
    }
    if inference:
        props["focal_px"] = number(None, "Focal length in px: with baseline_m, writes depth and a PLY "
                                   "point cloud.", 0.0, nullable=True, exclusiveMinimum=0.0)
        props["baseline_m"] = number(None, "Stereo baseline in metres.", 0.0, nullable=True,
                                     exclusiveMinimum=0.0)
        props["max_depth_m"] = number(100.0, "Points farther than this are left out of the PLY.", 0.0,
                                      exclusiveMinimum=0.0)
    return section(desc, props)


def evaluate_section() -> dict:
    """`evaluate`: metrics over dataset.test_dataset (or val_dataset)."""
    return _run_section("Evaluation over dataset.test_dataset (val_dataset when test is empty).", False)


def inference_section() -> dict:
    """`inference`: disparity pictures / PFM / depth for dataset.infer_dataset."""
    return _run_section("Inference over dataset.infer_dataset.", True)


def export_section() -> dict:
    """`export`: one ONNX file with a parity check against PyTorch."""
    return section("ONNX export.", {
        "results_dir": path(_RESULTS),
        "checkpoint": path("PyTorch checkpoint to export."),
        "onnx_file": path("Output ONNX path; default <results dir>/depth_net.onnx."),
        "input_height": integer(320, "Export height (recommended 320 or 480).", 32, MAX_SIDE, multipleOf=32),
        "input_width": integer(736, "Export width (recommended 736).", 32, MAX_SIDE, multipleOf=32),
        "batch_size": integer(1, "Static batch size, or -1 for a dynamic batch.", -1, MAX_BATCH,
                             x_allowed="-1 (dynamic batch) or an integer >= 1", **{"not": {"const": 0}}),
        "dynamic_hw": boolean(False, "Dynamic height and width axes."),
        "opset_version": integer(17, "ONNX opset (14 or newer: the attention needs it).", 14, 23),
        "valid_iters": integer(None, "GRU iterations baked into the graph; null uses model.valid_iters.",
                               1, 64, nullable=True),
        "on_cpu": boolean(False, "Trace on CPU even when a GPU is present."),
        "max_abs_diff_tolerance": number(0.01, "Largest allowed |ONNX - PyTorch| disparity difference (px).",
                                         0.0, exclusiveMinimum=0.0),
    })


def gen_trt_engine_section() -> dict:
    """`gen_trt_engine`: TensorRT engine from an ONNX file."""
    dims = {}
    for dim, default in (("batch_size", 1), ("height", None), ("width", None)):
        for level in ("min", "opt", "max"):
            dims[f"{level}_{dim}"] = integer(default, f"{level} {dim} of the optimisation profile"
                                             + ("" if default else "; null takes the ONNX size") + ".",
                                             1, MAX_BATCH if dim == "batch_size" else MAX_SIDE,
                                             nullable=default is None)
    trt = {"data_type": enum("FP16", ["FP32", "FP16"], "Engine precision (FP16 recommended)."),
           "workspace_size": number(4, "Builder workspace memory limit in GiB (e.g. 4; TAO specs gave MiB: "
                                    "divide by 1024).", 0.0, 256, exclusiveMinimum=0.0,
                                    x_allowed="a number of GiB in (0, 256] (4096 MiB = 4 GiB)")}
    trt.update(dims)
    return section("TensorRT engine building.", {
        "results_dir": path(_RESULTS),
        "onnx_file": path("Input ONNX model."),
        "trt_engine": path("Output engine path; default <results dir>/depth_net.engine."),
        "timing_cache": path("Timing cache file (read and updated)."),
        "tensorrt": section("TensorRT builder settings.", trt),
    })


def automl_section() -> dict:
    """`automl`: the study (read by automl/)."""
    param = section("Bounds override for one searchable key (within the schema's bounds).", {
        "min": {"type": "number", "description": "Lower bound."},
        "max": {"type": "number", "description": "Upper bound."},
        "log": {"type": "boolean", "description": "Log scale."},
        "choices": {"type": "array", "minItems": 1, "description": "Categorical choices."},
    })
    return section("AutoML (Optuna) hyperparameter search over train.* keys.", {
        "results_dir": path("Study folder; default <results_dir>/<study_name>."),
        "study_name": string(None, "Study name (resumes when it exists); it names the study's folder.",
                             nullable=True, pattern="^(?!\\.{1,2}$)[^/\\\\\\u0000]{1,200}$",
                             x_allowed="null or a name of 1 to 200 characters without '/', '\\' or NUL, not "
                                       "'.' or '..' (it names the study's folder under results_dir)"),
        "storage": string(None, "Optuna storage URL; null = SQLite file in the study folder; "
                          "journal:<file> for many processes on one host.", nullable=True),
        "sampler": enum(None, ["gp", "tpe", "cmaes", "random"],
                        "Sampler; null = gp for one objective (a Gaussian process fitted on completed and "
                        "pruned trials, every third trial at random: automl/gp_sampler.py), tpe for "
                        "automl.objectives with two (see automl/study.py for why).", nullable=True),
        "pruner": enum("trend_halving", ["trend_halving", "successive_halving", "none", "curve", "hyperband",
                                         "median"],
                       "Pruner; trend_halving (the measured default, see automl/study.py) lets a trial go on "
                       "at a rung (the first at 15 % of max_epochs) when it is in the best quarter there by its "
                       "value or by where its learning curve is heading (automl/trend_pruner.py); "
                       "successive_halving ranks by the value at the rung alone; none = every trial runs max_epochs; curve = stop a trial only when "
                       "its learning curve cannot reach the best completed trial (automl/curve_pruner.py)."),
        "metric": enum("val/epe", METRICS, "Metric to optimise (per-epoch validation)."),
        "direction": enum("minimize", ["minimize", "maximize"], "Optimisation direction (explicit)."),
        "objectives": {"type": ["array", "null"], "default": None, "minItems": 1, "maxItems": 2,
                       "items": section("One objective of a multi-objective study.", {
                           "metric": enum("val/epe", METRICS + ["latency_ms"],
                                          "A per-epoch validation metric, or latency_ms (the trained network's "
                                          "forward time, measured after training)."),
                           "direction": enum("minimize", ["minimize", "maximize"], "Its direction (explicit)."),
                       }, required=["metric", "direction"]),
                       "description": "Two objectives (e.g. val/epe and latency_ms, both minimize) for a "
                                      "multi-objective study with a Pareto front; null = the single automl.metric. "
                                      "Optuna does not prune multi-objective studies."},
        "n_trials": integer(20, "Trial budget.", 1, MAX_COUNT),
        "timeout": number(None, "Time budget in seconds; null = none.", 0.0, nullable=True,
                          exclusiveMinimum=0.0),
        "seed": integer(0, "Sampler seed.", 0, MAX_SEED),
        "max_epochs": integer(None, "Epochs per trial; null uses train.num_epochs.", 1, MAX_EPOCHS, nullable=True),
        "n_workers": integer(1, "Worker processes started by `automl run`.", 1, MAX_GPUS),
        "trials_per_gpu": integer(1, "Concurrent trials per GPU.", 1, MAX_WORKERS),
        "latency_budget_ms": number(None, "Reject configurations slower than this; null = none. With "
                                    "automl.objectives: the hand-off takes the most accurate Pareto point under "
                                    "it (else the knee of the front).", 0.0,
                                    nullable=True, exclusiveMinimum=0.0),
        "parameters": {"type": "object", "default": {}, "additionalProperties": param,
                       "propertyNames": {"pattern": r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$"},
                       "description": "Per-key bounds overrides: {dotted.key: {min, max, log, choices}}."},
        "include": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Searchable keys to add to automl_default_parameters."},
        "exclude": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Keys to leave out of the search."},
        "handoff": section("After the study.", {
            "export": boolean(False, "Export the best checkpoint to ONNX."),
            "gen_trt_engine": boolean(False, "Build a TensorRT engine from that ONNX."),
        }),
        "keep_pruned_checkpoints": boolean(False, "Keep the checkpoint of a trial the pruner stops (by default "
                                           "it is deleted: a pruned trial never wins nor resumes, and a "
                                           "bp2 checkpoint is ~175 MB)."),
        "heartbeat_interval": integer(60, "Seconds between worker heartbeats.", 1, MAX_SECONDS),
        "grace_period": integer(120, "Seconds without heartbeat before a trial is failed and retried.", 1,
                                MAX_SECONDS),
    })


def _patterns(desc: str) -> dict:
    return {"type": ["string", "array", "null"], "items": {"type": "string", "minLength": 1}, "minItems": 1,
            "default": None, "description": desc + " A list pairs element-wise."}


def convert_section() -> dict:
    """`convert`: annotation files from a dataset root."""
    return section("Build annotation files (train / val / test) from a dataset root.", {
        "results_dir": path(_RESULTS),
        "dataset_root": path("Root folder of the dataset."),
        "dataset_name": string("GenericDataset", "Dataset class written into the data sources; Middlebury, "
                               "Eth3d, Kitti and Crestereo also imply default patterns."),
        "left_pattern": _patterns("Glob(s) of left images under dataset_root; null uses dataset_name's layout."),
        "right_pattern": _patterns("Glob(s) of right images (paired with left by the wildcard values)."),
        "disparity_pattern": _patterns("Glob(s) of disparity files; null writes 2-column lines."),
        "mask_pattern": _patterns("Glob(s) of non-occlusion masks (4th column)."),
        "split": {"type": "array", "items": {"type": "number", "minimum": 0.0, "maximum": 1.0},
                  "minItems": 3, "maxItems": 3, "default": [0.8, 0.1, 0.1],
                  "description": "[train, val, test] fractions (sum 1)."},
        "seed": integer(0, "Shuffle seed of the split.", 0, MAX_SEED),
        "output_dir": path("Where the annotation files go; default the results dir."),
    })
