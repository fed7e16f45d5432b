"""Schema sections `model` and `dataset` (and the data-source / augmentation objects)."""

from __future__ import annotations

from _fields import (DATASET_NAMES, MAX_BATCH, MAX_COUNT, MAX_SEED, MAX_SIDE, MAX_WIDTH, MAX_WORKERS,
                     architecture, boolean, enum, int_list, integer, num_pair, number, path,
                     searchable, section, string)

_W = "Width field (docs/FFS_NETWORK.md); bp2 value is the default."
_SCRATCH = (" Searchable (automl.include) only when training from scratch: a new width does not load a "
            "fine-tuning checkpoint.")


def model_section() -> dict:
    """`model`: the FastFoundationStereo fields, bp2 defaults."""
    props = {
        "model_type": enum("FastFoundationStereo", ["FastFoundationStereo"], "Network family."),
        "encoder": enum("vitl", ["vits", "vitb", "vitl"],
                        "Phantom ViT band: sets Feature.conv4's output width (96 + 128 for vitl); no ViT runs."),
        "hidden_dims": int_list([128], "Context GRU hidden widths (only sizes the unused context_zqr_convs).",
                                minimum=1, min_items=1, maximum=MAX_WIDTH),
        "n_gru_layers": integer(1, "Number of GRU levels.", 1, 3),
        "corr_radius": architecture(searchable(integer(4, "Geometry lookup radius r (2r+1 taps)." + _SCRATCH, 1, 16),
                                               "linear", 2, 6)),
        "corr_levels": integer(2, "Geometry pyramid levels.", 1, 4),
        "n_downsample": integer(2, "Feature downsampling (2 = 1/4 resolution); not read by FFS.", 1, 3),
        "valid_iters": searchable(integer(8, "GRU refinement iterations at test time (speed against accuracy; "
                                          "searchable with automl.include, also when fine-tuning: the "
                                          "weights do not change).", 1, 64), "linear", 2, 16),
        "train_iters": integer(22, "GRU refinement iterations in training.", 1, 64),
        "max_disparity": integer(192, "Cost volume range in px (D4 = max/4); multiple of 32.", 32, 1024,
                                 multipleOf=32),
        "volume_dim": integer(28, "Aggregation base width c (c, 2c, 4c, 6c).", 1, 256),
        "cv_group": integer(8, "Groups of the group-wise correlation volume.", 1, 64),
        "concat_channel": integer(24, "Width of the concatenation features.", 1, MAX_WIDTH),
        "low_memory": integer(0, "Memory-saving level of the reference implementation (0 = off).", 0, 4),
        "mixed_precision": boolean(False, "Autocast the forward pass (fp16 / bf16 on GPU)."),
        "gwc_feature_normalize": boolean(True, "Cosine (true) or raw dot product (false) correlation."),
        "motion_encoder_widths": int_list([56, 96, 16, 12], _W + " [convc1, convc2, convd1, convd2].", 4, 1,
                                          maximum=MAX_WIDTH),
        "motion_encoder_final": architecture(searchable(integer(48, _W + " Motion fusion conv output." + _SCRATCH, 1,
                                                                MAX_WIDTH), "linear", 16, 96)),
        "gru_hidden": integer(60, _W + " Must equal cnet_conv04_widths[0].", 1, MAX_WIDTH),
        "gru_gating_conv_widths": int_list([100, 168], _W + " Selective GRU conv0, conv1.", 2, 1, maximum=MAX_WIDTH),
        "disp_head_input_dim": integer(60, _W + " Must equal gru_hidden.", 1, MAX_WIDTH),
        "disp_head_intermediate": architecture(searchable(integer(36, _W + " Disparity head width." + _SCRATCH, 1,
                                                                  MAX_WIDTH), "linear", 8, 64)),
        "disp_head_pwconv1_widths": int_list([212, 244], _W + " Pointwise expansion of the head blocks.", 2, 1,
                                             maximum=MAX_WIDTH),
        "mask_widths": int_list([32, 16], _W + " Mask head [m0, m1]; m1 = spx_2_gru_widths[0].", 2, 1,
                                maximum=MAX_WIDTH),
        "stem_2_widths": int_list([12, 16], _W + " stem_2 convs [s0, s1]; s1 = spx_2_gru_widths[2].", 2, 1,
                                  maximum=MAX_WIDTH),
        "spx_2_gru_widths": int_list([16, 12, 16, 24], _W + " Upsampling [in, mid, rem, out].", 4, 1,
                                     maximum=MAX_WIDTH),
        "spx_gru_out": integer(9, _W + " Final upsampling weights; must be 9.", 1, MAX_WIDTH),
        "classifier_mid": integer(14, _W + " Two-stage classifier middle width (unused by bp2).", 1, MAX_WIDTH),
        "cnet_conv04_widths": int_list([60, 48], _W + " Context heads [net, inp].", 2, 1, maximum=MAX_WIDTH),
        "cam_mid_channels": integer(8, _W + " Channel-attention MLP width.", 1, MAX_WIDTH),
        "cost_agg_conv_patch_padding": int_list([0, 0, 0], _W + " Patch conv padding (bp2: 0).", 3, 0, maximum=8),
        "qkv_layout": enum("upstream_compat", ["upstream_compat", "standard"],
                           "Disparity-transformer attention layout: 'upstream_compat' is what the bp2 weights "
                           "expect; 'standard' is ordinary multi-head attention (training from scratch)."),
        "stereo_backbone": section("Backbone weights used when training from scratch.", {
            "edgenext_pretrained_path": path("EdgeNeXt-Small weights (timm layout) for the student backbone."),
            "depth_anything_v2_pretrained_path": path("Accepted for TAO specs; FFS runs no ViT, so unused."),
        }),
    }
    return section("The FastFoundationStereo network (docs/FFS_NETWORK.md). Width rules are checked at load.", props)


def _data_source() -> dict:
    names = ", ".join(DATASET_NAMES)
    item = section("One data source: an annotation file, or the built-in Synthetic generator.", {
        "dataset_name": string("GenericDataset", f"Dataset class (case-insensitive): {names}.",
                               pattern="(?i)^(" + "|".join(DATASET_NAMES) + ")$",
                               x_allowed=f"one of {names} (case-insensitive)"),
        "data_file": path("Annotation file: 'left right [disparity [mask]]' per line; relative paths "
                          "resolve against the file's folder."),
        "disp_png_divisor": number(None, "GenericDataset only: PNG disparity d = v / divisor (default 256; "
                                   "4 for Middlebury 2003 disp2.png).", nullable=True, exclusiveMinimum=0.0),
        "num_samples": integer(8, "Synthetic only: number of generated pairs.", 1, MAX_COUNT),
        "seed": integer(0, "Synthetic only: generator seed.", 0, MAX_SEED),
        "image_size": int_list([64, 96], "Synthetic only: [H, W] of the generated pairs.", 2, 8, maximum=MAX_SIDE),
    }, required=["dataset_name"])
    item["if"] = {"properties": {"dataset_name": {"pattern": "(?i)^synthetic$"}}}
    item["else"] = {"required": ["data_file"], "properties": {"data_file": {"type": "string"}}}
    return {"type": "array", "items": item, "default": [],
            "description": "List of {dataset_name, data_file} (or Synthetic {num_samples, seed, image_size})."}


def _augmentation() -> dict:
    def prob(default: float, desc: str) -> dict:
        return searchable(number(default, desc, 0.0, 1.0), "linear")

    return section("Training augmentation; applied to train_dataset only, never to val/test/infer.", {
        "crop_size": int_list([320, 736], "Random crop [H, W] in px; multiples of 32 (the network's stride).", 2, 32,
                              maximum=MAX_SIDE, multiple_of=32),
        "min_scale": searchable(number(-0.2, "Minimum log2 scale factor (rescales the disparity).", -1.0, 1.0),
                                "linear"),
        "max_scale": searchable(number(0.4, "Maximum log2 scale factor (rescales the disparity).", -1.0, 1.5),
                                "linear"),
        "stretch_prob": prob(0.8, "Probability of an extra x/y stretch."),
        "max_stretch": searchable(number(0.2, "Maximum log2 x/y stretch.", 0.0, 1.0), "linear"),
        "yjitter_prob": prob(0.2, "Probability of a small vertical shift of the right image."),
        "color_aug_prob": prob(0.2, "Probability of asymmetric (left != right) colour jitter."),
        "brightness": num_pair([0.6, 1.4], "Brightness factor range [low, high]."),
        "contrast": num_pair([0.6, 1.4], "Contrast factor range [low, high]."),
        "saturation": num_pair([0.0, 1.4], "Saturation factor range [low, high]."),
        "hue": number(0.159, "Maximum hue shift (fraction of the colour circle).", 0.0, 0.5),
        "eraser_aug_prob": prob(0.5, "Probability of erasing patches of the right image."),
        # not searchable: only data with right-view GT (Synthetic) can flip, so a search over it
        # would fail every trial on real data
        "h_flip_prob": number(0.0, "Probability of a horizontal flip (swaps and mirrors left/right; needs "
                              "right-view GT, i.e. the Synthetic dataset).", 0.0, 1.0),
        "v_flip_prob": prob(0.0, "Probability of a vertical flip of both images."),
        "crop_min_valid_disp_ratio": number(0.0, "Re-draw crops with a smaller fraction of valid GT.", 0.0, 1.0),
    })


def _plain(leaves: dict) -> dict:
    """The augmentation section without AutoML metadata (it does nothing outside training)."""
    out = dict(leaves)
    out["properties"] = {k: {m: v for m, v in leaf.items() if not m.startswith("automl_")}
                         for k, leaf in leaves["properties"].items()}
    return out


def _split(desc: str, batch_size: int, workers: int, train: bool = False) -> dict:
    aug = _augmentation()
    return section(desc, {
        "data_sources": _data_source(),
        "batch_size": integer(batch_size, "Samples per batch.", 1, MAX_BATCH),
        "workers": integer(workers, "DataLoader worker processes.", 0, MAX_WORKERS),
        "augmentation": aug if train else _plain(aug),
    })


def dataset_section() -> dict:
    """`dataset`: the four splits and the GT validity range."""
    return section("Data: annotation files per split (see PRODUCT.md 'Data').", {
        "max_disparity": integer(416, "GT disparities >= this are invalid (not trained on, not scored).", 8, 4096),
        "train_dataset": _split("Training data (augmented).", 2, 4, train=True),
        "val_dataset": _split("Validation data (never augmented).", 1, 2),
        "test_dataset": _split("Evaluation data; evaluate falls back to val_dataset when empty.", 1, 2),
        "infer_dataset": _split("Inference data; 2-column lines are allowed.", 1, 2),
    })
