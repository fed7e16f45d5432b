"""Spec `train.*` -> Lightning Trainer options (pure; no training)."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning.strategies import DDPStrategy

from model.errors import SpecError
from model.training.runner import trainer_options



@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU mapping")
@pytest.mark.parametrize("precision,expect", [("fp32", "32-true"), ("bf16", "bf16-mixed")])
def test_precision_and_basic_options(make_spec, tmp_path, precision, expect):
    _, spec = make_spec("opts", [f"train.precision={precision}", "train.clip_grad_norm=0",
                                 "train.validation_interval=2", "train.num_epochs=7"])
    opts = trainer_options(spec, tmp_path)
    assert opts["precision"] == expect
    assert opts["gradient_clip_val"] is None and opts["gradient_clip_algorithm"] == "norm"
    assert opts["max_epochs"] == 7 and opts["check_val_every_n_epoch"] == 2
    assert opts["accelerator"] == "cpu" and opts["devices"] == 1 and opts["strategy"] == "auto"
    assert opts["enable_checkpointing"] is True


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU mapping")
def test_clip_and_no_val(make_spec, tmp_path):
    _, spec = make_spec("clip", ["train.clip_grad_norm=0.5"], val=False)
    opts = trainer_options(spec, tmp_path)
    assert opts["gradient_clip_val"] == 0.5 and opts["limit_val_batches"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU mapping")
def test_two_gpus_on_cpu_is_ddp_over_gloo_processes(make_spec, tmp_path):
    _, spec = make_spec("ddp", ["train.num_gpus=2"])
    opts = trainer_options(spec, tmp_path)
    assert opts["devices"] == 2 and isinstance(opts["strategy"], DDPStrategy)
    assert opts["strategy"]._process_group_backend == "gloo"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU mapping")
def test_fp16_without_gpu_is_a_spec_error(make_spec, tmp_path):
    _, spec = make_spec("fp16", ["train.precision=fp16"])
    with pytest.raises(SpecError, match="train.precision: fp16 needs a GPU"):
        trainer_options(spec, tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU mapping")
def test_multi_node_needs_the_rendezvous_environment(make_spec, tmp_path, monkeypatch):
    _, spec = make_spec("nodes", ["train.num_nodes=2"])
    for key in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SpecError, match="train.num_nodes: 2 needs MASTER_ADDR, MASTER_PORT, NODE_RANK"):
        trainer_options(spec, tmp_path)
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(SpecError, match="WORLD_SIZE=3"):
        trainer_options(spec, tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    opts = trainer_options(spec, tmp_path)
    assert opts["num_nodes"] == 2 and isinstance(opts["strategy"], DDPStrategy)


def test_gpu_ids_and_counts_map_to_devices():
    from model.training.runner import _devices

    assert _devices({"num_gpus": 1, "gpu_ids": [0]}, 4) == ("gpu", [0])
    assert _devices({"num_gpus": 2, "gpu_ids": [2, 3]}, 4) == ("gpu", [2, 3])
    assert _devices({"num_gpus": 1, "gpu_ids": [3, 1]}, 4) == ("gpu", [3])
    assert _devices({"num_gpus": 4, "gpu_ids": [0]}, 4) == ("gpu", 4)  # more GPUs than ids: the first N
    assert _devices({"num_gpus": 2, "gpu_ids": [0]}, 0) == ("cpu", 2)
    with pytest.raises(SpecError, match="train.gpu_ids: .* GPU 5"):
        _devices({"num_gpus": 1, "gpu_ids": [5]}, 2)
    with pytest.raises(SpecError, match="train.num_gpus: 8"):
        _devices({"num_gpus": 8, "gpu_ids": [0]}, 2)
