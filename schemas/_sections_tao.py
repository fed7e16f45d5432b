"""TAO keys of the depth_net FFS specs that depth_net has no key of its own for.

NVIDIA TAO's depth_net config dataclasses (dataset, model, train, evaluate, inference,
export, gen_trt_engine) carry keys that a TAO spec sets and depth_net either maps onto
its own behaviour or cannot honour. Each is added to its section here so a TAO spec
loads unchanged:

- a key that means something here is used (the description says how);
- a key that does not carries `x_tao_ignored: <why>`; `model/tao_compat.py` names every
  such key found in the user's spec in one note line, so no setting is dropped silently;
- a value that would change results and that depth_net cannot honour is refused by its
  enum (`format: xdl`, `input_channel: 1`, ...), one line as every schema error.
"""

from __future__ import annotations

from _fields import boolean, enum, int_list, integer, number, string

_MONO = "a monocular-model (DepthAnything) setting; depth_net is stereo only"
_VIT = "a DepthAnythingV2 setting; FFS runs no ViT"


def ignored(leaf: dict, why: str) -> dict:
    """Mark a TAO leaf as accepted and not used; `why` ends up in the note line."""
    out = dict(leaf)
    out["x_tao_ignored"] = why
    out["description"] = f"TAO compatibility, not used here: {why}."
    return out


def _open(desc: str) -> dict:
    """A TAO block depth_net does not read: any mapping is accepted."""
    return {"type": ["object", "null"], "default": None, "description": desc}


def _nums(desc: str) -> dict:
    return {"type": ["array", "null"], "items": {"type": "number"}, "default": None, "description": desc}


def add_dataset_keys(dataset: dict) -> None:
    """`dataset.*` and each split's TAO keys."""
    props = dataset["properties"]
    props["dataset_name"] = enum("StereoDataset", ["StereoDataset"], "TAO's dataset family; depth_net reads "
                                 "stereo pairs (StereoDataset) only.",
                                 x_allowed="StereoDataset (depth_net is stereo only; MonoDataset is not supported)")
    props["normalize_depth"] = ignored(boolean(False, ""), _MONO)
    props["max_depth"] = ignored(number(None, "", 0.0, nullable=True),
                                 _MONO + " (the point cloud's range is inference.max_depth_m)")
    props["min_depth"] = ignored(number(None, "", 0.0, nullable=True), _MONO)
    props["baseline"] = number(None, "Stereo baseline in metres (TAO's key); inference writes depth with it when "
                               "inference.baseline_m is null.", nullable=True, exclusiveMinimum=0.0)
    props["focal_x"] = number(None, "Focal length in px (TAO's key); inference writes depth with it when "
                              "inference.focal_px is null.", nullable=True, exclusiveMinimum=0.0)
    props["quant_calibration_dataset"] = ignored(_open(""), "TAO's quantize action is not part of depth_net")
    for split in ("train_dataset", "val_dataset", "test_dataset", "infer_dataset"):
        sub = props[split]["properties"]
        sub["pin_memory"] = boolean(None, "Page-locked loader memory (TAO's key); null: on when a GPU is used.")
        sub["pin_memory"]["type"] = ["boolean", "null"]
        aug = sub["augmentation"]["properties"]
        aug["input_mean"] = _nums("TAO's normalisation mean; must be ImageNet's [0.485, 0.456, 0.406], which "
                                  "every FFS checkpoint expects.")
        aug["input_std"] = _nums("TAO's normalisation std; must be ImageNet's [0.229, 0.224, 0.225].")
        aug["color_aug_brightness"] = number(None, "TAO's brightness jitter b: sets brightness to [1-b, 1+b].",
                                             0.0, 1.0, nullable=True)
        aug["color_aug_contrast"] = number(None, "TAO's contrast jitter c: sets contrast to [1-c, 1+c].",
                                           0.0, 1.0, nullable=True)
        aug["color_aug_saturation"] = _nums("TAO's saturation range [low, high]: sets saturation.")
        aug["color_aug_hue_range"] = _nums("TAO's hue range [low, high] (fraction of the circle): sets hue to "
                                           "max(|low|, |high|).")
        aug["do_flip"] = ignored(boolean(None, ""), "flips are h_flip_prob / v_flip_prob")
        aug["do_flip"]["type"] = ["boolean", "null"]
        aug["gamma"] = ignored(_nums(""), "no gamma augmentation here")
        aug["spatial_aug_prob"] = ignored(number(None, "", 0.0, 1.0, nullable=True),
                                          "the scale is always drawn from [min_scale, max_scale]")
        aug["hshift_prob"] = ignored(number(None, "", 0.0, 1.0, nullable=True),
                                     "no horizontal-shift augmentation here")


def add_model_keys(model: dict) -> None:
    """`model.mono_backbone` and the DepthAnythingV2 flags of `model.stereo_backbone`."""
    props = model["properties"]
    props["mono_backbone"] = ignored(_open(""), _MONO)
    backbone = props["stereo_backbone"]["properties"]
    backbone["depth_anything_v2_pretrained_path"] = ignored(backbone["depth_anything_v2_pretrained_path"], _VIT)
    backbone["use_bn"] = ignored(boolean(False, ""), _VIT)
    backbone["use_clstoken"] = ignored(boolean(False, ""), _VIT)


def add_train_keys(train: dict) -> None:
    """`train.*` TAO keys."""
    props = train["properties"]
    props["cudnn"] = {"type": "object", "additionalProperties": False, "default": {},
                      "description": "cuDNN flags (TAO's keys); null leaves PyTorch's default.", "properties": {
                          "benchmark": {"type": ["boolean", "null"], "default": None,
                                        "description": "torch.backends.cudnn.benchmark during training."},
                          "deterministic": {"type": ["boolean", "null"], "default": None,
                                            "description": "torch.backends.cudnn.deterministic during training."}}}
    props["checkpoint_interval_unit"] = enum("epoch", ["epoch"], "Unit of checkpoint_interval (TAO's key).",
                                             x_allowed="epoch (checkpoints are written per epoch)")
    props["checkpoint_interval_steps"] = ignored(integer(None, "", nullable=True),
                                                 "checkpoints are written per epoch")
    props["distributed_strategy"] = ignored(enum("ddp", ["ddp", "fsdp"], ""), "multi-GPU training is DDP")
    props["activation_checkpoint"] = ignored(boolean(False, ""), "activations are kept (memory only)")
    props["is_dry_run"] = ignored(boolean(False, ""), "the spec check runs before every action anyway")
    props["dataloader_visualize"] = ignored(boolean(False, ""), "no loader pictures")
    props["vis_step_interval"] = ignored(integer(None, "", nullable=True), "no loader pictures")
    props["inference_tile"] = ignored(boolean(False, ""), "validation runs on whole padded images")
    props["tile_wtype"] = ignored(string(None, "", nullable=True), "no tiling")
    props["tile_min_overlap"] = ignored(int_list(None, "", nullable=True), "no tiling")
    optim = props["optim"]["properties"]
    optim["momentum"] = number(None, "SGD momentum (TAO's key); null: 0.9. AdamW does not read it.",
                               0.0, 1.0, nullable=True)
    optim["monitor_name"] = ignored(string(None, "", nullable=True),
                                    "no metric-driven scheduler here; AutoML's metric is automl.metric")


def add_run_keys(section: dict, action: str) -> None:
    """evaluate / inference: TAO's num_nodes, batch_size -1, native_padded / conf_threshold / save_raw_npy."""
    props = section["properties"]
    props["num_nodes"] = ignored(integer(1, "", 1), f"{action} runs in one process on one GPU or the CPU")
    props["batch_size"] = integer(None, "Batch size; null (or TAO's -1) uses the dataset split's batch_size.",
                                  -1, nullable=True, x_allowed="-1 / null (the split's batch_size) or an "
                                  "integer >= 1", **{"not": {"const": 0}})
    if action == "evaluate":
        props["native_padded"] = ignored(boolean(None, ""), "images run at their own size padded to /32 "
                                         "unless input_height / input_width are set")
        props["native_padded"]["type"] = ["boolean", "null"]
    else:
        props["conf_threshold"] = ignored(number(None, "", nullable=True), "a detection setting")
        props["save_raw_npy"] = boolean(False, "Also write each predicted disparity as float32 .npy (npy/).")


def add_export_keys(export: dict) -> None:
    """`export.*` TAO keys."""
    props = export["properties"]
    props["gpu_id"] = integer(0, "GPU index to trace on when a GPU is used (on_cpu false).", 0)
    props["input_channel"] = enum(3, [3], "Input channels (TAO's key).", x_allowed="3 (RGB stereo pairs)")
    props["format"] = enum("onnx", ["onnx"], "Export format (TAO's key).", x_allowed="onnx (xdl is not supported)")
    props["verbose"] = boolean(False, "Print the exporter's graph dump.")


def add_gen_trt_engine_keys(gen: dict) -> None:
    """`gen_trt_engine.*` TAO keys; TAO's section-level profile sizes feed `tensorrt.*`."""
    props = gen["properties"]
    props["gpu_id"] = integer(0, "GPU index to build on.", 0)
    props["batch_size"] = integer(None, "TAO's engine batch: N >= 1 builds for batch N (min = opt = max); -1 or "
                                  "null uses tensorrt.min/opt/max_batch_size.", -1, nullable=True,
                                  x_allowed="-1 / null or an integer >= 1", **{"not": {"const": 0}})
    props["verbose"] = boolean(False, "TensorRT's verbose log.")
    for level in ("min", "opt", "max"):
        for dim in ("height", "width"):
            props[f"{level}_{dim}"] = integer(None, f"TAO's place for tensorrt.{level}_{dim} (used when that is "
                                              "null).", 1, nullable=True)
    trt = props["tensorrt"]["properties"]
    trt["layers_precision"] = ignored({"type": ["array", "null"], "items": {"type": "string"}, "default": None,
                                       "description": ""}, "every layer runs at tensorrt.data_type")
    trt["data_type"] = string("FP16", "Engine precision, FP16 or FP32 (case-insensitive, as in TAO).",
                              pattern="(?i)^(fp16|fp32)$", x_allowed="FP16 or FP32")
    trt["workspace_size"] = number(4096, "Builder workspace memory limit in MiB, as in TAO (4096 = 4 GiB).",
                                   64, 262144, x_allowed="a number of MiB in [64, 262144] (TAO's unit: "
                                   "4096 = 4 GiB)")
