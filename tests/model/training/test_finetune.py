"""Fine-tuning from a plain state dict and from a TAO-style Lightning checkpoint (real tiny runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.cli import main
from model.config import NetworkConfig
from model.network import build_network
from model.status import StatusLogger, read_status
from model.training.callbacks import LATEST_NAME
from model.training.runner import fit


def _pretrained() -> tuple[dict[str, torch.Tensor], set[str]]:
    """Weights of a tiny network built from another seed than the run's, and its parameter names."""
    torch.manual_seed(12345)
    net = build_network(NetworkConfig.tiny())
    return {k: v.clone() for k, v in net.state_dict().items()}, {k for k, _ in net.named_parameters()}


def _tao_checkpoint(state: dict[str, torch.Tensor], shared_dir: Path) -> dict:
    """A TAO Lightning checkpoint: TAO key names (from the golden manifest) with a `model.` prefix."""
    manifest = json.loads((shared_dir / "data" / "golden" / "ffs_bp2_state_dict_manifest.json").read_text())
    to_tao = {e["upstream_ckpt_key_derived"]: e["key"] for e in manifest["entries"]}
    tao = {"model." + to_tao[k]: v for k, v in state.items()}
    assert sum(k != "model." + to_tao[k] for k in state) > 100  # really a different layout
    tao["model.context_zqr_convs.0.weight"] = torch.zeros(3)  # a never-used bp2 entry: dropped on load
    return {"state_dict": tao, "pytorch-lightning_version": "2.1.0", "epoch": 9, "global_step": 900,
            "optimizer_states": [], "lr_schedulers": []}


@pytest.mark.parametrize("layout", ["plain", "tao"])
def test_finetune_starts_from_the_given_weights(layout, make_spec, tmp_path, shared_dir):
    state, params = _pretrained()
    path = tmp_path / f"pretrained_{layout}.pth"
    torch.save(state if layout == "plain" else _tao_checkpoint(state, shared_dir), path)
    # SGD at the smallest allowed lr: the weights after one step are still the pretrained ones
    _, spec = make_spec(layout, [f"train.pretrained_model_path={path}", "train.num_epochs=1",
                                 "train.optim.optimizer=SGD", "train.optim.lr=1e-6"])
    out = Path(spec["results_dir"]) / "train"
    fit(spec, StatusLogger(out / "status.json"))
    trained = torch.load(out / LATEST_NAME, map_location="cpu", weights_only=True)["state_dict"]
    torch.manual_seed(spec["train"]["seed"])
    scratch = build_network(NetworkConfig.tiny()).state_dict()
    far = 0
    for key in params:
        assert torch.allclose(trained["model." + key], state[key], atol=1e-3), key
        far += not torch.allclose(scratch[key], state[key], atol=1e-3)
    assert far > 100  # random-initialised tensors: a from-scratch start would have failed above
    assert any("fine-tuning from" in e["message"] for e in read_status(out / "status.json"))
    # the training checkpoint the run wrote is itself a valid pretrained_model_path / resume source
    net = build_network(NetworkConfig.tiny())
    from model.network.checkpoint import load_network_weights

    load_network_weights(net, out / LATEST_NAME)


def test_pretrained_with_wrong_shape_is_a_one_line_error(make_spec, tmp_path, capsys):
    state, _ = _pretrained()
    state["classifier.layers.0.weight"] = torch.zeros(1, 3, 3, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    spec_path, spec = make_spec("bad", [f"train.pretrained_model_path={path}"])
    rc = main(["train", "-e", str(spec_path), f"train.pretrained_model_path={path}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "classifier.layers.0.weight" in err and len(err.strip().splitlines()) == 1
    assert not list((Path(spec["results_dir"]) / "train").glob("*.pth"))


def test_missing_pretrained_file_fails_before_writing(make_spec, tmp_path, capsys):
    spec_path, spec = make_spec("missing")
    rc = main(["train", "-e", str(spec_path), f"train.pretrained_model_path={tmp_path / 'nope.pth'}"])
    assert rc == 2
    assert "train.pretrained_model_path" in capsys.readouterr().err
    assert not (Path(spec["results_dir"]) / "train").exists()


def test_pretrained_model_path_takes_a_results_folder(make_spec, tmp_path, capfd):
    """Like every other checkpoint key, pretrained_model_path may name the results folder of a run:
    the results root of a first training gives its train/dn_model_latest.pth (said in one line)."""
    first, _ = make_spec("first", ["train.num_epochs=1"])
    assert main(["train", "-e", str(first)]) == 0
    root = tmp_path / "first"
    second, _ = make_spec("second", [])
    capfd.readouterr()
    assert main(["train", "-e", str(second), "train.num_epochs=1", f"train.pretrained_model_path={root}"]) == 0
    out = capfd.readouterr().out
    latest = root / "train" / LATEST_NAME
    assert f"train.pretrained_model_path: {root} is a folder; using {latest}" in out
    assert f"train: fine-tuning from {latest}" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "-e", str(second), f"train.pretrained_model_path={empty}"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.pretrained_model_path: folder" in err[0] and "holds no dn_model_latest.pth" in err[0]
