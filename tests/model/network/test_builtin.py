"""The shipped weights (`checkpoint: builtin`): data not code, the same network as their state dict,
accepted by every action that takes a checkpoint, and a clear line for an unknown name."""

from __future__ import annotations

import json
import struct
import zipfile

import pytest
import torch
import yaml

from model.cli import main
from model.errors import CheckpointError
from model.network.builtin import BUILTIN_WEIGHTS, WEIGHTS_DIR, builtin_file
from model.network.checkpoint import load_network_from_checkpoint, load_network_weights, read_checkpoint
from model.status import read_kpi

SHIPPED = WEIGHTS_DIR / BUILTIN_WEIGHTS["builtin"]


def _header(path) -> dict:
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(size))


def test_the_shipped_file_is_fp16_safetensors_and_nothing_is_unpickled():
    assert SHIPPED.is_file(), "the built-in weights must ship with the package"
    assert SHIPPED.stat().st_size < 32 * 2**20
    header = _header(SHIPPED)  # safetensors: an 8-byte length, a JSON header, raw tensor bytes
    meta = header.pop("__metadata__")
    floats = {v["dtype"] for v in header.values() if v["dtype"].startswith(("F", "BF"))}
    assert floats == {"F16"}
    assert json.loads(meta["model"])["model_type"] == "FastFoundationStereo"
    assert json.loads(meta["card"])["gpu_minutes"] > 0
    # every byte is the JSON header or raw tensor data (no zip archive, no pickle stream anywhere):
    # there is nothing in the file that a loader could execute
    assert not zipfile.is_zipfile(SHIPPED)
    with open(SHIPPED, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert 8 + size + spans[-1][1] == SHIPPED.stat().st_size


def test_builtin_gives_the_same_disparity_as_its_saved_state_dict(tmp_path):
    net, cfg = load_network_from_checkpoint("builtin")
    state, _ = read_checkpoint(SHIPPED)
    plain = tmp_path / "plain.pth"
    torch.save(state, plain)  # the same tensors as an ordinary state dict file
    other, _ = load_network_from_checkpoint(plain, cfg)
    left, right = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a = net(left, right, iters=2)
        b = other(left, right, iters=2)
    assert torch.equal(a, b) and torch.isfinite(a).all()


def test_unknown_name_lists_the_known_ones(tmp_path, capfd):
    with pytest.raises(CheckpointError, match="known: builtin"):
        builtin_file("builtin_v9", "evaluate.checkpoint")
    assert builtin_file(str(tmp_path / "x.pth"), "k") is None  # a path is not a name
    rc = main(["evaluate", "-e", "references/spec_template_evaluate.yaml", f"results_dir={tmp_path}",
               "evaluate.checkpoint=bultin", "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, "
               "num_samples: 1, seed: 0, image_size: [64, 96]}]"])
    out, err = capfd.readouterr()
    assert rc == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "'bultin'" in lines[0] and "known: builtin" in lines[0], err
    assert "Traceback" not in err + out


_SYNTH = "[{dataset_name: Synthetic, num_samples: 1, seed: 3, image_size: [64, 96]}]"


@pytest.mark.slow
def test_every_action_takes_builtin(tmp_path, capfd):
    base = ["model.valid_iters=2"]
    assert main(["evaluate", "-e", "references/spec_template_evaluate.yaml", f"results_dir={tmp_path}",
                 "evaluate.checkpoint=builtin", f"dataset.test_dataset.data_sources={_SYNTH}", *base]) == 0
    assert read_kpi(tmp_path / "evaluate" / "status.json")["epe"] >= 0
    assert main(["inference", "-e", "references/spec_template_inference.yaml", f"results_dir={tmp_path}",
                 "inference.checkpoint=builtin", f"dataset.infer_dataset.data_sources={_SYNTH}", *base]) == 0
    assert any((tmp_path / "inference").rglob("*.png"))
    onnx = tmp_path / "m.onnx"
    assert main(["export", "-e", "references/spec_template_export.yaml", f"results_dir={tmp_path}",
                 "export.checkpoint=builtin", f"export.onnx_file={onnx}", "export.input_height=64",
                 "export.input_width=96", "export.valid_iters=2", "export.on_cpu=true"]) == 0
    assert onnx.is_file()
    spec = yaml.safe_load(open("references/spec_template_train.yaml"))
    spec.update(results_dir=str(tmp_path / "ft"))
    spec_path = tmp_path / "train.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    rc = main(["train", "-e", str(spec_path), "--automl-policy", "off", "train.pretrained_model_path=builtin",
               "train.num_epochs=1", "train.precision=fp32", "model.train_iters=2", "model.valid_iters=2",
               f"dataset.train_dataset.data_sources={_SYNTH}", "dataset.train_dataset.batch_size=1",
               "dataset.train_dataset.workers=0", "dataset.train_dataset.augmentation.crop_size=[64,96]",
               "dataset.val_dataset.data_sources=[]"])
    out, err = capfd.readouterr()
    assert rc == 0, err
    assert "fine-tuning from" in (tmp_path / "ft" / "train" / "status.json").read_text()
    trained, _ = load_network_from_checkpoint(tmp_path / "ft" / "train" / "dn_model_latest.pth")
    start, _ = load_network_from_checkpoint("builtin")
    moved = [k for k, v in trained.state_dict().items() if v.is_floating_point()
             and not torch.equal(v, start.state_dict()[k])]
    assert moved  # it trained from the shipped weights
    load_network_weights(start, tmp_path / "ft" / "train" / "dn_model_latest.pth")  # same widths
