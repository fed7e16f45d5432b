"""Typed, frozen configuration of the FastFoundationStereo network (the spec's `model.*` section).

`NetworkConfig()` is exactly bp2 (the released `model_best_bp2_serialize.pth`). `from_dict` reads a
spec section and checks every width rule of `../shared/design/FFS_NETWORK.md`, so a wrong spec fails
at load time with a one-line `SpecError` naming the field, its value and the rule, never as a shape
error deep inside `forward()`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from typing import Any

from model.errors import SpecError

__all__ = ["NetworkConfig", "FEATURE_WIDTHS", "PHANTOM_VIT_WIDTHS", "QKV_LAYOUTS"]

# EdgeNeXt-Small decoder outputs at 1/8, 1/16, 1/32 (fixed by the backbone).
FEATURE_WIDTHS = {"x8": 192, "x16": 320, "x32": 304}
# The 1/4 feature is conv4(96 -> 96 + band): the band the full FoundationStereo fills with ViT
# features (DepthAnything `features // 2`); FFS keeps the width but runs no ViT.
PHANTOM_VIT_WIDTHS = {"vits": 32, "vitb": 64, "vitl": 128}
# 'upstream_compat': bp2's attention over the 4 heads axis (what the released weights expect);
# 'standard': ordinary multi-head attention over the disparity tokens (for training from scratch).
QKV_LAYOUTS = ("upstream_compat", "standard")

_INT_LISTS = {
    "hidden_dims": None,  # any length >= 1
    "motion_encoder_widths": 4,
    "gru_gating_conv_widths": 2,
    "disp_head_pwconv1_widths": 2,
    "mask_widths": 2,
    "stem_2_widths": 2,
    "spx_2_gru_widths": 4,
    "cnet_conv04_widths": 2,
    "cost_agg_conv_patch_padding": 3,
}
_NON_NEGATIVE = {"corr_radius", "low_memory", "cost_agg_conv_patch_padding"}


@dataclass(frozen=True)
class NetworkConfig:
    """Every `model.*` field; defaults are bp2. Lists are stored as tuples (hashable, frozen)."""

    model_type: str = "FastFoundationStereo"
    encoder: str = "vitl"
    hidden_dims: tuple[int, ...] = (128,)
    n_gru_layers: int = 1
    corr_radius: int = 4
    corr_levels: int = 2
    n_downsample: int = 2
    max_disparity: int = 192
    valid_iters: int = 8
    train_iters: int = 22
    volume_dim: int = 28
    cv_group: int = 8
    concat_channel: int = 24
    mixed_precision: bool = False
    gwc_feature_normalize: bool = True
    low_memory: int = 0
    motion_encoder_widths: tuple[int, ...] = (56, 96, 16, 12)
    motion_encoder_final: int = 48
    gru_hidden: int = 60
    gru_gating_conv_widths: tuple[int, ...] = (100, 168)
    disp_head_input_dim: int = 60
    disp_head_intermediate: int = 36
    disp_head_pwconv1_widths: tuple[int, ...] = (212, 244)
    mask_widths: tuple[int, ...] = (32, 16)
    stem_2_widths: tuple[int, ...] = (12, 16)
    spx_2_gru_widths: tuple[int, ...] = (16, 12, 16, 24)
    spx_gru_out: int = 9
    classifier_mid: int = 14
    cnet_conv04_widths: tuple[int, ...] = (60, 48)
    cam_mid_channels: int = 8
    cost_agg_conv_patch_padding: tuple[int, ...] = (0, 0, 0)
    qkv_layout: str = "upstream_compat"
    edgenext_pretrained_path: str = ""  # spec key: model.stereo_backbone.edgenext_pretrained_path

    def __post_init__(self) -> None:
        _validate(self, "model")

    # ----------------------------------------------------------------- derived widths
    @property
    def feature_dim(self) -> int:
        """Channels of the 1/4 feature (224 for bp2): 96 decoder channels + the phantom ViT band."""
        return 96 + PHANTOM_VIT_WIDTHS[self.encoder]

    @property
    def disp_bins(self) -> int:
        """Disparity bins of the 1/4-resolution cost volume (D4 = max_disparity / 4)."""
        return self.max_disparity // 4

    @property
    def geo_feat_dim(self) -> int:
        """Channels of one geometry lookup: levels * taps * (volume_dim + 1) (522 for bp2)."""
        return self.corr_levels * (2 * self.corr_radius + 1) * (self.volume_dim + 1)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, prefix: str = "model") -> "NetworkConfig":
        """Build from a spec's `model` section; unknown keys are ignored (the JSON schema rejects them).

        Raises:
            SpecError: a value breaks a type or width rule ("model.<field>: <value> ... <rule>").
        """
        d = dict(d or {})
        kwargs: dict[str, Any] = {}
        backbone = d.pop("stereo_backbone", None) or {}
        if not isinstance(backbone, dict):
            raise SpecError(f"{prefix}.stereo_backbone: {backbone!r} must be a mapping")
        if backbone.get("edgenext_pretrained_path") is not None:
            kwargs["edgenext_pretrained_path"] = backbone["edgenext_pretrained_path"]
        names = {f.name for f in fields(cls)}
        for key, value in d.items():
            if key in names:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
        try:
            return cls(**kwargs)
        except SpecError as err:
            if prefix == "model":
                raise
            raise SpecError(re.sub(r"^model\.", f"{prefix}.", str(err))) from None

    @classmethod
    def tiny(cls) -> "NetworkConfig":
        """A small valid config for CPU tests (64 x 96 inputs, a train step well under a second)."""
        return cls(
            hidden_dims=(16,),
            corr_radius=2,
            max_disparity=64,
            valid_iters=2,
            train_iters=2,
            volume_dim=8,
            cv_group=4,
            concat_channel=8,
            motion_encoder_widths=(16, 16, 8, 8),
            motion_encoder_final=16,
            gru_hidden=16,
            gru_gating_conv_widths=(16, 24),
            disp_head_input_dim=16,
            disp_head_intermediate=8,
            disp_head_pwconv1_widths=(16, 16),
            mask_widths=(8, 8),
            stem_2_widths=(4, 8),
            spx_2_gru_widths=(8, 4, 8, 8),
            cnet_conv04_widths=(16, 8),
            cam_mid_channels=4,
            qkv_layout="standard",
        )

    def replace(self, **changes: Any) -> "NetworkConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The spec `model` section (lists as lists, the backbone path nested as in the spec)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "edgenext_pretrained_path":
                out["stereo_backbone"] = {"edgenext_pretrained_path": value}
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _fail(prefix: str, name: str, value: Any, rule: str) -> SpecError:
    return SpecError(f"{prefix}.{name}: {_fmt(value)} {rule}")


def _fmt(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _check_types(cfg: NetworkConfig, prefix: str) -> None:
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in _INT_LISTS:
            want = _INT_LISTS[f.name]
            ok_list = isinstance(value, (tuple, list)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
            if not ok_list or (want is not None and len(value) != want) or len(value) == 0:
                n = f"{want} integers" if want else "a non-empty list of integers"
                raise _fail(prefix, f.name, value, f"must be a list of {n}")
            floor = 0 if f.name in _NON_NEGATIVE else 1
            if any(v < floor for v in value):
                raise _fail(prefix, f.name, value, f"entries must be >= {floor}")
            object.__setattr__(cfg, f.name, tuple(value))
        elif f.type in ("int",):
            if not isinstance(value, int) or isinstance(value, bool):
                raise _fail(prefix, f.name, value, "must be an integer")
            floor = 0 if f.name in _NON_NEGATIVE else 1
            if value < floor:
                raise _fail(prefix, f.name, value, f"must be >= {floor}")
        elif f.type in ("bool",) and not isinstance(value, bool):
            raise _fail(prefix, f.name, value, "must be true or false")
        elif f.type in ("str",) and not isinstance(value, str):
            raise _fail(prefix, f.name, value, "must be a string")


def _validate(cfg: NetworkConfig, prefix: str) -> None:
    """Raise SpecError on the first broken rule."""
    _check_types(cfg, prefix)
    c = cfg
    if c.encoder not in PHANTOM_VIT_WIDTHS:  # checked first: feature_dim depends on it
        raise _fail(prefix, "encoder", c.encoder, f"is not supported; allowed: {sorted(PHANTOM_VIT_WIDTHS)}")
    rules: list[tuple[bool, str, Any, str]] = [
        (c.model_type == "FastFoundationStereo", "model_type", c.model_type,
         "is not supported; allowed: 'FastFoundationStereo'"),
        (c.qkv_layout in QKV_LAYOUTS, "qkv_layout", c.qkv_layout, f"must be one of {list(QKV_LAYOUTS)}"),
        (c.n_gru_layers == 1, "n_gru_layers", c.n_gru_layers, "must be 1 (FFS has one GRU level)"),
        (c.n_downsample == 2, "n_downsample", c.n_downsample, "must be 2 (FFS works at 1/4 resolution)"),
        (c.max_disparity % 32 == 0, "max_disparity", c.max_disparity,
         "must be a multiple of 32 (the hourglass halves max_disparity/4 three times)"),
        (c.corr_levels <= 1 or (c.max_disparity // 4) >> (c.corr_levels - 1) >= 1, "corr_levels",
         c.corr_levels, f"is too deep for max_disparity {c.max_disparity}: need max_disparity/4 / 2^(levels-1) >= 1"),
        (c.feature_dim % c.cv_group == 0, "cv_group", c.cv_group,
         f"must divide the {c.feature_dim}-channel 1/4 feature"),
        (c.concat_channel % 2 == 0, "concat_channel", c.concat_channel,
         "must be even (half from the left image, half from the right)"),
        (c.volume_dim % 4 == 0, "volume_dim", c.volume_dim,
         "must be a multiple of 4 (the disparity transformer has 4 heads)"),
        (c.cnet_conv04_widths[0] == c.gru_hidden, "cnet_conv04_widths", c.cnet_conv04_widths,
         f"must have [0] == gru_hidden ({c.gru_hidden}): the context net initialises the GRU state"),
        (c.disp_head_input_dim == c.gru_hidden, "disp_head_input_dim", c.disp_head_input_dim,
         f"must equal gru_hidden ({c.gru_hidden}): the disparity head reads the GRU state"),
        (c.spx_gru_out == 9, "spx_gru_out", c.spx_gru_out, "must be 9 (one weight per 3x3 neighbour)"),
        (c.mask_widths[1] == c.spx_2_gru_widths[0], "mask_widths", c.mask_widths,
         f"must have [1] == spx_2_gru_widths[0] ({c.spx_2_gru_widths[0]}): the mask feeds the upsampler"),
        (c.stem_2_widths[1] == c.spx_2_gru_widths[2], "stem_2_widths", c.stem_2_widths,
         f"must have [1] == spx_2_gru_widths[2] ({c.spx_2_gru_widths[2]}): stem_2 is concatenated there"),
    ]
    for ok, name, value, rule in rules:
        if not ok:
            raise _fail(prefix, name, value, rule)
