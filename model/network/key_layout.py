"""THE one place that maps checkpoint key layouts onto our native layout.

Native layout = the upstream NVlabs bp2 checkpoint's names (timm EdgeNeXt: `feature.stem`,
`feature.stages.N.downsample`, `feature.stages.N.blocks.M.conv_dw` / `mlp.fc1` / `mlp.fc2`; conv
wrappers hold `bn`; `corr_feature_att.layers.N`, `classifier.layers.0`, `cost_agg.atts.4`).

TAO layout -> native is the inverse of TAO's `ckpt_utils.load_ffs_pretrained` renaming, recorded in
`../shared/data/golden/ffs_bp2_state_dict_manifest.json` ("ckpt_key_renaming"):
  1. strip a leading 'model.' (Lightning) and then 'module.' (DataParallel);
  2. prefixes (first match): 'cost_agg.atts.cost_vol_disp.' -> 'cost_agg.atts.4.',
     'corr_feature_att.' -> 'corr_feature_att.layers.', 'classifier.' -> 'classifier.layers.',
     'feature.downsample_layers.0.' -> 'feature.stem.',
     'feature.downsample_layers.N.' -> 'feature.stages.N.downsample.' (N = 1..3),
     'feature.stages.N.' -> 'feature.stages.N.blocks.' (N = 0..3);
  3. inside the EdgeNeXt backbone only: '.dwconv.' -> '.conv_dw.', '.pwconv1.' -> '.mlp.fc1.',
     '.pwconv2.' -> '.mlp.fc2.' (the disparity head keeps 'dwconv' / 'pwconv' in both layouts);
  4. a TAO `Conv` wrapper's '.norm.' -> '.bn.' (every '.norm.' outside the EdgeNeXt backbone whose
     parent is a wrapper, i.e. not the transformer's norm1 / norm2 and not a backbone LayerNorm).
The test `tests/model/network/test_checkpoint_layout.py` checks all 722 manifest entries.

The 197 bp2 entries that the forward never uses (`UNUSED_BP2_PREFIXES`) are dropped on load: they are
in every bp2 checkpoint only because the reference builds the parent hourglass's modules.
`dx` (the int8 tap offsets -r..r) is a constant we compute; a checkpoint's copy is checked, not loaded.
"""

from __future__ import annotations

import re

__all__ = ["to_native_key", "is_unused_bp2_key", "UNUSED_BP2_PREFIXES", "TAP_OFFSETS_KEY"]

UNUSED_BP2_PREFIXES = (
    "context_zqr_convs.",
    "cost_agg.agg_0.",
    "cost_agg.agg_1.",
    "cost_agg.atts.",
    "cost_agg.conv2_up.",
    "cost_agg.conv3_up.",
    "cost_agg.conv_out.",
    "cost_agg.conv_patch.",
    "cost_agg.feature_att_up_16.",
    "cost_agg.feature_att_up_8.",
)
TAP_OFFSETS_KEY = "dx"

_PREFIX_RULES = [
    ("cost_agg.atts.cost_vol_disp.", "cost_agg.atts.4."),
    ("corr_feature_att.layers.", None),  # already native
    ("corr_feature_att.", "corr_feature_att.layers."),
    ("classifier.layers.", None),
    ("classifier.", "classifier.layers."),
    ("feature.downsample_layers.0.", "feature.stem."),
]
_TAO_DOWNSAMPLE = re.compile(r"^feature\.downsample_layers\.([1-3])\.")
_TAO_STAGE = re.compile(r"^feature\.stages\.([0-3])\.(\d+)\.")
_BACKBONE = re.compile(r"^feature\.(stem|stages)\.")
_BACKBONE_SUBS = ((".dwconv.", ".conv_dw."), (".pwconv1.", ".mlp.fc1."), (".pwconv2.", ".mlp.fc2."))
# '.norm.' that belongs to a TAO Conv wrapper: anything outside the backbone except the
# transformer LayerNorms (norm1 / norm2 never contain '.norm.').
_WRAPPER_NORM = re.compile(r"\.norm\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def strip_wrappers(key: str) -> str:
    """Remove a Lightning 'model.' and a DataParallel 'module.' prefix."""
    if key.startswith("model."):
        key = key[len("model."):]
    if key.startswith("module."):
        key = key[len("module."):]
    return key


def to_native_key(key: str) -> str:
    """Map a TAO-layout, upstream-layout or native key to the native key (idempotent on native)."""
    key = strip_wrappers(key)
    for old, new in _PREFIX_RULES:
        if key.startswith(old):
            if new is not None:
                key = new + key[len(old):]
            break
    else:
        m = _TAO_DOWNSAMPLE.match(key)
        if m:
            key = f"feature.stages.{m.group(1)}.downsample." + key[m.end():]
        else:
            m = _TAO_STAGE.match(key)
            if m:
                key = f"feature.stages.{m.group(1)}.blocks.{m.group(2)}." + key[m.end():]
    if _BACKBONE.match(key):
        for old, new in _BACKBONE_SUBS:
            key = key.replace(old, new)
    elif _WRAPPER_NORM.search(key):
        key = _WRAPPER_NORM.sub(lambda m: ".bn." + m.group(1), key)
    return key


def is_unused_bp2_key(native_key: str) -> bool:
    """True for the bp2 entries the forward never uses (dropped deliberately on load)."""
    return native_key.startswith(UNUSED_BP2_PREFIXES)
