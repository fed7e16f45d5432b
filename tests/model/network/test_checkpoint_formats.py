"""Checkpoint formats: plain, TAO/Lightning, ours (with spec), the upstream pickled module; and the
restricted unpickler refusing files that would run code."""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from model.config import NetworkConfig
from model.errors import CheckpointError
from model.network import build_network
from model.network.checkpoint import load_network_from_checkpoint, load_network_weights, read_state_dict


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sb = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, sb[key]), key


def test_tao_lightning_checkpoint(tmp_path, golden_dir):
    raw = torch.load(golden_dir / "ffs_bp2_random_weights_fp16.pt", weights_only=True)
    path = tmp_path / "tao.ckpt"
    torch.save({"state_dict": {"model." + k: v for k, v in raw.items()}, "pytorch-lightning_version": "2.1.0",
                "epoch": 3, "optimizer_states": []}, path)
    net, cfg = load_network_from_checkpoint(path)
    assert cfg == NetworkConfig() and not net.training
    assert torch.equal(net.state_dict()["feature.stem.0.weight"], raw["feature.downsample_layers.0.0.weight"].float())


def test_our_checkpoint_rebuilds_from_spec(tmp_path):
    torch.manual_seed(1)
    cfg = NetworkConfig.tiny()
    net = build_network(cfg)
    path = tmp_path / "ours.ckpt"
    torch.save({"state_dict": {"model." + k: v for k, v in net.state_dict().items()},
                "spec": {"model": cfg.to_dict()}, "epoch": 1, "global_step": 10,
                "rng": {"numpy": np.random.get_state()}}, path)
    loaded, got_cfg = load_network_from_checkpoint(path)
    assert got_cfg == cfg
    _assert_same_weights(net, loaded)
    plain = tmp_path / "plain.pt"
    torch.save(net.state_dict(), plain)
    other = build_network(cfg)
    load_network_weights(other, plain)
    _assert_same_weights(net, other)


def _upstream_style_module(net: nn.Module, fake: types.ModuleType) -> nn.Module:
    """Re-class our modules as throwaway classes of `core.*` (as the NVlabs pickle references)."""
    made: dict[type, type] = {}
    for module in net.modules():
        cls = type(module)
        if cls.__module__.startswith("model."):
            if cls not in made:
                made[cls] = type(cls.__name__, (nn.Module,), {"__module__": fake.__name__, "forward": None})
                setattr(fake, cls.__name__, made[cls])
            module.__class__ = made[cls]
    del net.cfg  # a model.config object; the upstream file carries its own args instead
    net.args = {"max_disp": 192, "valid_iters": 8}
    net.register_buffer("dx", torch.arange(-2, 3, dtype=torch.int8).reshape(1, 1, 5, 1))
    net.context_zqr_convs = nn.ModuleList([nn.Conv2d(16, 48, 3, padding=1)])  # an unused bp2 module
    return net


def test_restricted_unpickler_reads_an_upstream_pickled_module(tmp_path, monkeypatch):
    torch.manual_seed(2)
    cfg = NetworkConfig.tiny()
    reference = build_network(cfg)
    source = build_network(cfg)
    source.load_state_dict(reference.state_dict())
    fake_pkg, fake = types.ModuleType("core"), types.ModuleType("core.foundation_stereo")
    fake_pkg.foundation_stereo = fake
    monkeypatch.setitem(sys.modules, "core", fake_pkg)
    monkeypatch.setitem(sys.modules, "core.foundation_stereo", fake)
    path = tmp_path / "model_best_bp2_serialize.pth"
    torch.save(_upstream_style_module(source, fake), path)
    monkeypatch.delitem(sys.modules, "core.foundation_stereo")
    monkeypatch.delitem(sys.modules, "core")
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)  # what the restricted unpickler is for
    state = read_state_dict(path)
    assert "dx" in state and "context_zqr_convs.0.weight" in state
    loaded = build_network(cfg)
    load_network_weights(loaded, path)
    _assert_same_weights(reference, loaded)


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func", [os.system, eval], ids=["os.system", "builtins.eval"])
def test_restricted_unpickler_refuses_code(tmp_path, func):
    marker = tmp_path / "pwned"
    payload = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": _Payload(func, payload)}, path)
    with pytest.raises(CheckpointError, match=r"refusing to unpickle .*(system|eval) \(would execute code\)"):
        read_state_dict(path)
    assert not marker.exists()


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_state_dict(tmp_path / "missing.pth")
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        read_state_dict(bad)
    # files that fail deeper inside the unpickler (IndexError, struct.error before the fix)
    for name, data in [("notes.pth", b"epochs: 3\nlr: 0.001\n"), ("tiny.onnx", b"\x08\x07\x12\x00")]:
        junk = tmp_path / name
        junk.write_bytes(data)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.") + ": not a (readable torch|torch zip) checkpoint"):
            read_state_dict(junk)
    empty = tmp_path / "empty.pt"
    torch.save({"epoch": 1}, empty)
    with pytest.raises(CheckpointError, match="no network state dict"):
        read_state_dict(empty)


def test_backbone_weights_from_a_local_timm_file(tmp_path):
    import timm

    torch.manual_seed(3)
    edgenext = timm.create_model("edgenext_small", pretrained=False)
    path = tmp_path / "edgenext_small.pth"
    torch.save(edgenext.state_dict(), path)  # with the classifier head, which is dropped
    net = build_network(NetworkConfig.tiny().replace(edgenext_pretrained_path=str(path)))
    ours = net.feature.state_dict()
    for key in ("stem.0.weight", "stages.3.blocks.2.mlp.fc1.weight", "stages.1.downsample.1.weight"):
        assert torch.equal(ours[key], edgenext.state_dict()[key]), key
    partial = {k: v for k, v in edgenext.state_dict().items() if not k.startswith("stages.3.")}
    torch.save(partial, path)
    with pytest.raises(CheckpointError, match=r"missing key 'stages\.3\."):
        build_network(NetworkConfig.tiny().replace(edgenext_pretrained_path=str(path)))
