"""Every bp2 manifest entry is accounted for in both layouts; shapes and widths are checked."""

from __future__ import annotations

import pytest
import torch

from model.config import NetworkConfig
from model.errors import CheckpointError
from model.network import build_network
from model.network.checkpoint import load_network_weights
from model.network.key_layout import TAP_OFFSETS_KEY, UNUSED_BP2_PREFIXES, is_unused_bp2_key, to_native_key


@pytest.fixture(scope="module")
def native_state():
    return build_network(NetworkConfig()).state_dict()


@pytest.mark.parametrize("layout", ["key", "upstream_ckpt_key_derived"])
def test_every_manifest_entry_is_accounted_for(manifest, native_state, layout):
    loaded, unused = set(), 0
    for entry in manifest["entries"]:
        key = entry[layout] or entry["key"]  # 'dx' has no upstream name
        native = to_native_key(key)
        if native == TAP_OFFSETS_KEY:
            continue  # a constant we compute; checked against corr_radius on load
        if is_unused_bp2_key(native):
            assert not entry["used_in_forward"], key
            assert native not in native_state, f"dead module built for {key}"
            unused += 1
            continue
        assert entry["used_in_forward"], key
        assert native in native_state, f"{key} -> {native} is not in the network"
        assert list(native_state[native].shape) == entry["shape"], key
        loaded.add(native)
    assert unused == 197
    assert loaded == set(native_state), sorted(set(native_state) - loaded)[:5]
    assert len(loaded) + unused + 1 == manifest["num_state_dict_entries"] == 722


def test_unused_prefixes_are_the_manifests(manifest):
    assert sorted(p.rstrip(".") for p in UNUSED_BP2_PREFIXES) == sorted(manifest["unused_in_forward_module_prefixes"])


def test_parameter_count_equals_used_count(manifest):
    net = build_network(NetworkConfig())
    assert sum(p.numel() for p in net.parameters()) == manifest["parameter_count_used_in_forward"] == 14_600_541


def test_native_layout_is_the_upstream_layout(manifest):
    for entry in manifest["entries"]:
        if entry["upstream_ckpt_key_derived"]:
            assert to_native_key(entry["key"]) == entry["upstream_ckpt_key_derived"]
            assert to_native_key("model.module." + entry["key"]) == entry["upstream_ckpt_key_derived"]
            assert to_native_key(entry["upstream_ckpt_key_derived"]) == entry["upstream_ckpt_key_derived"]


def test_golden_weights_load_in_both_layouts(manifest, tao_weights):
    net = build_network(NetworkConfig())
    load_network_weights(net, tao_weights)
    upstream = {e["upstream_ckpt_key_derived"] or e["key"]: tao_weights[e["key"]] for e in manifest["entries"]}
    other = build_network(NetworkConfig())
    load_network_weights(other, upstream)
    for (k, a), b in zip(net.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), k
    key = "update_block.gru04.conv0.0.weight"
    assert torch.equal(net.state_dict()[key], tao_weights[key])


def test_other_width_names_key_shapes_and_field(tao_weights):
    cfg = NetworkConfig().replace(disp_head_pwconv1_widths=(200, 244))
    with pytest.raises(CheckpointError) as err:
        load_network_weights(build_network(cfg), tao_weights)
    msg = str(err.value)
    assert "'update_block.disp_head.conv.2.pwconv1.weight'" in msg
    assert "[212, 36]" in msg and "[200, 36]" in msg and "model.disp_head_pwconv1_widths[0]" in msg


def test_missing_and_unexpected_keys_are_named(tao_weights):
    net = build_network(NetworkConfig())
    partial = dict(tao_weights)
    del partial["sam.samconv.weight"]
    with pytest.raises(CheckpointError, match=r"missing key 'sam\.samconv\.weight'"):
        load_network_weights(net, partial)
    extra = dict(tao_weights, **{"update_block.extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"unexpected key 'update_block\.extra\.weight'"):
        load_network_weights(net, extra)


def test_tap_offsets_must_match_corr_radius(tao_weights):
    cfg = NetworkConfig().replace(corr_radius=3)
    with pytest.raises(CheckpointError, match=r"'dx'.*model\.corr_radius"):
        load_network_weights(build_network(cfg), tao_weights)
