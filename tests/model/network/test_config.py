"""NetworkConfig: bp2 defaults, spec round trip, one named error per width rule."""

from __future__ import annotations

import json

import pytest

from model.config import NetworkConfig
from model.errors import SpecError


def test_defaults_are_bp2(shared_dir):
    manifest = json.loads((shared_dir / "data/golden/ffs_bp2_state_dict_manifest.json").read_text())
    cfg = NetworkConfig().to_dict()
    for key, value in manifest["config"].items():
        assert cfg[key] == value, key
    assert cfg["concat_channel"] == manifest["config_extra_defaults_used"]["concat_channel"]
    assert cfg["qkv_layout"] == "upstream_compat"


def test_dict_round_trip_and_unknown_keys_ignored():
    cfg = NetworkConfig.tiny()
    d = cfg.to_dict()
    d["some_future_key"] = 1
    assert NetworkConfig.from_dict(d) == cfg
    assert NetworkConfig.from_dict({}) == NetworkConfig()
    assert NetworkConfig.from_dict({"stereo_backbone": {"edgenext_pretrained_path": None}}) == NetworkConfig()


# (override, field named in the message, words of the rule)
RULES = [
    ({"cnet_conv04_widths": [64, 48]}, "cnet_conv04_widths", "gru_hidden"),
    ({"disp_head_input_dim": 64}, "disp_head_input_dim", "gru_hidden"),
    ({"max_disparity": 200}, "max_disparity", "multiple of 32"),
    ({"spx_gru_out": 8}, "spx_gru_out", "must be 9"),
    ({"mask_widths": [32, 12]}, "mask_widths", "spx_2_gru_widths[0]"),
    ({"stem_2_widths": [12, 12]}, "stem_2_widths", "spx_2_gru_widths[2]"),
    ({"cv_group": 5}, "cv_group", "224"),
    ({"concat_channel": 25}, "concat_channel", "even"),
    ({"volume_dim": 30}, "volume_dim", "multiple of 4"),
    ({"motion_encoder_widths": [56, 96, 16]}, "motion_encoder_widths", "4 integers"),
    ({"spx_2_gru_widths": [16, 12, 16]}, "spx_2_gru_widths", "4 integers"),
    ({"gru_gating_conv_widths": [100, 0]}, "gru_gating_conv_widths", ">= 1"),
    ({"gru_hidden": -1, "cnet_conv04_widths": [-1, 48], "disp_head_input_dim": -1}, "gru_hidden", ">= 1"),
    ({"volume_dim": 28.0}, "volume_dim", "integer"),
    ({"n_gru_layers": 2}, "n_gru_layers", "must be 1"),
    ({"encoder": "vitg"}, "encoder", "allowed"),
    ({"qkv_layout": "flash"}, "qkv_layout", "upstream_compat"),
    ({"corr_levels": 7}, "corr_levels", "too deep"),
    ({"gwc_feature_normalize": "yes"}, "gwc_feature_normalize", "true or false"),
]


@pytest.mark.parametrize("override,field,rule", RULES, ids=[r[1] + ":" + r[2] for r in RULES])
def test_each_rule_gives_a_named_error(override, field, rule):
    with pytest.raises(SpecError) as err:
        NetworkConfig.from_dict(override)
    msg = str(err.value)
    assert msg.startswith(f"model.{field}: "), msg
    assert rule in msg and "\n" not in msg


def test_prefix_names_the_spec_path():
    with pytest.raises(SpecError, match=r"^train\.model\.max_disparity: 100 "):
        NetworkConfig.from_dict({"max_disparity": 100}, prefix="train.model")


def test_tiny_is_valid_and_smaller():
    tiny = NetworkConfig.tiny()
    assert tiny.max_disparity < NetworkConfig().max_disparity
    assert tiny.geo_feat_dim == tiny.corr_levels * (2 * tiny.corr_radius + 1) * (tiny.volume_dim + 1)
