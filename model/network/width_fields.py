"""Which `model.*` width field sizes each native state-dict entry (for checkpoint mismatch errors).

A table of key prefixes -> (field sizing dim 0, field sizing dim 1). Transposed convolutions store
[in, out, k...], so their dims are listed in that order too. `width_field` picks the field of the
first dimension that differs.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["width_field"]

_GEO = "corr_levels / corr_radius / volume_dim (geometry channels)"
_BACKBONE = "the EdgeNeXt-Small backbone (fixed widths)"

# (prefix, dim-0 field, dim-1 field); first match wins, so specific prefixes come first.
_TABLE: list[tuple[str, str, str]] = [
    ("feature.conv4.", "encoder", _BACKBONE),
    ("feature.", _BACKBONE, _BACKBONE),
    ("proj_cmb.", "concat_channel", "encoder"),
    ("stem_2.0.", "stem_2_widths[0]", "stem_2_widths[0]"),
    ("stem_2.1.", "stem_2_widths[1]", "stem_2_widths[0]"),
    ("corr_feature_att.layers.0.", "volume_dim", "cv_group + concat_channel"),
    ("corr_feature_att.layers.2.feat_att.0.", "encoder", "encoder"),
    ("corr_feature_att.layers.2.feat_att.1.", "volume_dim", "encoder"),
    ("corr_feature_att.", "volume_dim", "volume_dim"),
    ("cost_agg.", "volume_dim", "volume_dim"),
    ("classifier.", "volume_dim", "volume_dim"),
    ("cnet.conv04.0.", "cnet_conv04_widths[0]", "encoder"),
    ("cnet.conv04.1.", "cnet_conv04_widths[1]", "encoder"),
    ("cam.fc.0.", "cam_mid_channels", "cnet_conv04_widths[1]"),
    ("cam.fc.2.", "cnet_conv04_widths[1]", "cam_mid_channels"),
    ("update_block.encoder.convc1.", "motion_encoder_widths[0]", _GEO),
    ("update_block.encoder.convc2.", "motion_encoder_widths[1]", "motion_encoder_widths[0]"),
    ("update_block.encoder.convd1.", "motion_encoder_widths[2]", "motion_encoder_widths[2]"),
    ("update_block.encoder.convd2.", "motion_encoder_widths[3]", "motion_encoder_widths[2]"),
    ("update_block.encoder.conv.", "motion_encoder_final", "motion_encoder_widths[1] + [3]"),
    ("update_block.gru04.conv0.", "gru_gating_conv_widths[0]", "cnet_conv04_widths[1] + motion_encoder_final + 1"),
    ("update_block.gru04.conv1.", "gru_gating_conv_widths[1]", "gru_gating_conv_widths[0] + gru_hidden"),
    ("update_block.gru04.small_gru.convq.", "gru_hidden", "gru_hidden + gru_gating_conv_widths[0]"),
    ("update_block.gru04.large_gru.convq.", "gru_hidden", "gru_hidden + gru_gating_conv_widths[0]"),
    ("update_block.gru04.", "gru_hidden", "gru_gating_conv_widths[1]"),
    ("update_block.disp_head.conv.0.", "disp_head_intermediate", "gru_hidden"),
    ("update_block.disp_head.conv.2.pwconv1.", "disp_head_pwconv1_widths[0]", "disp_head_intermediate"),
    ("update_block.disp_head.conv.2.pwconv2.", "disp_head_intermediate", "disp_head_pwconv1_widths[0]"),
    ("update_block.disp_head.conv.3.pwconv1.", "disp_head_pwconv1_widths[1]", "disp_head_intermediate"),
    ("update_block.disp_head.conv.3.pwconv2.", "disp_head_intermediate", "disp_head_pwconv1_widths[1]"),
    ("update_block.disp_head.conv.4.", "disp_head_intermediate", "disp_head_intermediate"),
    ("update_block.disp_head.", "disp_head_intermediate", "disp_head_intermediate"),
    ("update_block.mask.0.", "mask_widths[0]", "gru_hidden"),
    ("update_block.mask.2.", "mask_widths[1]", "mask_widths[0]"),
    ("spx_2_gru.conv1.", "spx_2_gru_widths[0]", "spx_2_gru_widths[1]"),  # ConvTranspose: [in, out]
    ("spx_2_gru.conv2.", "spx_2_gru_widths[3]", "spx_2_gru_widths[1] + [2]"),
    ("spx_gru.0.", "spx_2_gru_widths[3]", "spx_gru_out"),  # ConvTranspose: [in, out]
]
_BIAS_IS_DIM1 = ("spx_gru.0.bias",)  # a transposed conv's bias has the OUT width (its dim 1)


def width_field(key: str, got: Sequence[int], want: Sequence[int]) -> str:
    """'model.<field>' that sizes the first differing dimension of `key`."""
    dim = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    for prefix, dim0, dim1 in _TABLE:
        if key.startswith(prefix):
            if key in _BIAS_IS_DIM1:
                field = dim1
            elif dim == 0:
                field = dim0
            elif dim == 1:
                field = dim1
            else:
                field = "kernel size (fixed)"
            return field if field.startswith(("the ", "kernel", "corr_levels")) else f"model.{field}"
    return "no width field (a fixed part of the network)"
