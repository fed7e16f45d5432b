"""Real tiny trainings on CPU: loss falls, checkpoints, status lines, resume, NaN stop, DDP."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from model.cli import main
from model.spec import load_spec
from model.status import StatusLogger, read_status
from model.training.callbacks import LATEST_NAME
from model.training.runner import NAN_ENV, fit

CKPT_KEYS = {"state_dict", "optimizer_states", "lr_schedulers", "epoch", "global_step",
             "pytorch-lightning_version", "spec"}


def _fit(spec: dict) -> dict:
    out = Path(spec["results_dir"]) / "train"
    return fit(spec, StatusLogger(out / "status.json"))


def test_loss_falls_over_30_steps(make_spec, read_losses):
    # 2 pairs repeated 15x: 15 steps per epoch over the same two samples, 2 epochs = 30 steps
    _, spec = make_spec("overfit", ["train.num_epochs=2", "train.checkpoint_interval=5"], train_repeat=15, val=False)
    result = _fit(spec)
    losses = read_losses(Path(spec["results_dir"]) / "train")
    assert sorted(losses) == list(range(30))
    first, last = [losses[s] for s in range(5)], [losses[s] for s in range(25, 30)]
    assert sum(last) / 5 < 0.6 * sum(first) / 5, losses
    assert math.isfinite(result["kpi"]["train_loss"])
    # interval 5 > 2 epochs: only the last epoch's checkpoint (always written) and the latest copy
    names = sorted(p.name for p in (Path(spec["results_dir"]) / "train").glob("*.pth"))
    assert names == [LATEST_NAME, "model_epoch_001_step_00030.pth"]


@pytest.fixture
def straight_run(make_spec):
    """3 epochs of 1 step each, validation every epoch, checkpoint every 2 epochs."""
    path, spec = make_spec("straight", ["train.checkpoint_interval=2"])
    return path, spec, _fit(spec)


def test_checkpoints_status_and_kpi(straight_run):
    _, spec, result = straight_run
    out = Path(spec["results_dir"]) / "train"
    names = sorted(p.name for p in out.iterdir() if p.suffix == ".pth" or p.name.startswith("."))
    assert names == [LATEST_NAME, "model_epoch_001_step_00002.pth", "model_epoch_002_step_00003.pth"]
    ckpt = torch.load(out / LATEST_NAME, map_location="cpu", weights_only=True)
    assert CKPT_KEYS <= set(ckpt)
    assert ckpt["epoch"] == 2 and ckpt["global_step"] == 3
    assert ckpt["spec"]["model"] == spec["model"]
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    assert result["latest_checkpoint"] == str(out / LATEST_NAME)
    assert Path(result["best_checkpoint"]).parent == out
    for key in ("train_loss", "val/loss", "val/epe", "val/bp1", "val/bp2", "val/bp3", "val/d1", "val/rmse"):
        assert math.isfinite(result["kpi"][key]), key
    epochs = [e for e in read_status(out / "status.json") if "epoch" in e]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for event in epochs:
        assert event["status"] == "RUNNING" and event["max_epoch"] == 3 and event["max_step"] == 3
        assert {"time_per_epoch", "eta", "step"} <= set(event)
        assert {"train_loss", "val/loss", "val/epe", "val/bp1"} <= set(event["kpi"])
    assert epochs[-1]["step"] == 3 and epochs[-1]["eta"] == "0:00:00"
    assert list((out / "tb_logs").rglob("events.out.tfevents*"))
    # the same command once more: nothing left to train, the stored kpi comes back, no new step
    again = _fit(spec)
    assert again["kpi"] == pytest.approx(result["kpi"])
    assert torch.load(out / LATEST_NAME, map_location="cpu", weights_only=True)["global_step"] == 3


def test_resume_continues_the_same_curve(straight_run, make_spec, read_losses, tmp_path):
    _, spec_a, _ = straight_run
    reference = read_losses(Path(spec_a["results_dir"]) / "train")
    assert sorted(reference) == [0, 1, 2]
    # interrupted after 2 epochs, then the same command again: auto-resume from dn_model_latest.pth
    _, spec_b = make_spec("resumed", ["train.num_epochs=2"])
    _fit(spec_b)
    _, spec_b3 = make_spec("resumed", ["train.num_epochs=3"])
    _fit(spec_b3)
    out_b = Path(spec_b["results_dir"]) / "train"
    resumed = read_losses(out_b)
    assert sorted(resumed) == [0, 1, 2]  # continued at step 2, did not start over
    assert resumed[2] == pytest.approx(reference[2], rel=1e-5, abs=1e-6)
    assert any("resuming training from" in e["message"] for e in read_status(out_b / "status.json"))
    # explicit resume_training_checkpoint_path into a fresh folder: same next loss
    ckpt = out_b / "model_epoch_001_step_00002.pth"
    _, spec_c = make_spec("explicit", ["train.num_epochs=3", f"train.resume_training_checkpoint_path={ckpt}"])
    _fit(spec_c)
    explicit = read_losses(Path(spec_c["results_dir"]) / "train")
    assert sorted(explicit) == [2]
    assert explicit[2] == pytest.approx(reference[2], rel=1e-5, abs=1e-6)


def test_nan_loss_fails_with_exit_1_and_keeps_checkpoint(make_spec, monkeypatch, capsys):
    path, spec = make_spec("nan")
    out = Path(spec["results_dir"]) / "train"
    monkeypatch.setenv(NAN_ENV, "2")  # the loss of step 2 (epoch 3) turns NaN before backward
    rc = main(["train", "-e", str(path)])
    assert rc == 1
    assert "Execution status: FAIL" in capsys.readouterr().out
    events = read_status(out / "status.json")
    assert events[-1]["status"] == "FAILURE" and "step 2" in events[-1]["message"]
    assert not any(e["status"] == "SUCCESS" for e in events)
    assert any(e["message"] == "training directly" for e in events)  # automl_policy: off
    assert sorted(p.name for p in out.glob("*.pth")) == [LATEST_NAME, "model_epoch_000_step_00001.pth",
                                                         "model_epoch_001_step_00002.pth"]
    assert not list(out.glob(".*tmp"))
    ckpt = torch.load(out / LATEST_NAME, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def _validate_in_one_process(spec: dict, checkpoint: Path, batch: int) -> dict:
    """val/* of `checkpoint` on the spec's val set, one process, one batch of `batch` images."""
    import pytorch_lightning as pl

    from model.data.datamodule import StereoDataModule
    from model.training.system import StereoSystem

    single = {**spec, "train": {**spec["train"], "num_gpus": 1}}
    single["dataset"] = {**spec["dataset"], "val_dataset": {**spec["dataset"]["val_dataset"], "batch_size": batch}}
    system = StereoSystem(single)
    system.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    return trainer.validate(system, datamodule=StereoDataModule(single["dataset"], 3), verbose=False)[0]


def _ddp_overrides(num_val: int) -> list[str]:
    val = f"[{{dataset_name: Synthetic, num_samples: {num_val}, seed: 7, image_size: [64, 96]}}]"
    return ["train.num_gpus=2", "train.num_epochs=1", "dataset.train_dataset.batch_size=1",
            f"dataset.val_dataset.data_sources={val}"]


def test_ddp_two_cpu_processes_complete_an_epoch(make_spec):
    # 3 val images on 2 ranks: each image must count once (not its padding repeat), and the
    # epoch metric must be the mean over images, not the mean of the two ranks' means
    _, spec = make_spec("ddp", _ddp_overrides(3))
    result = _fit(spec)
    out = Path(spec["results_dir"]) / "train"
    assert (out / "model_epoch_000_step_00001.pth").is_file()  # 2 samples / (2 ranks x batch 1) = 1 step
    assert math.isfinite(result["kpi"]["train_loss"]) and math.isfinite(result["kpi"]["val/epe"])
    epochs = [e for e in read_status(out / "status.json") if "epoch" in e]
    assert len(epochs) == 1 and epochs[0]["step"] == 1
    want = _validate_in_one_process(spec, out / LATEST_NAME, 3)
    for key in ("val/epe", "val/bp1", "val/rmse"):
        assert result["kpi"][key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key


def test_ddp_with_fewer_val_images_than_processes(make_spec):
    """1 val image, 2 ranks: the rank without an image of its own still validates (a padding repeat,
    not counted), so neither waits forever at the epoch-end reduction. Run as the CLI, with a timeout."""
    import os
    import subprocess
    import sys

    path, spec = make_spec("ddp1")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "model.cli", "train", "-e", str(path), *_ddp_overrides(1)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = Path(spec["results_dir"]) / "train"
    kpi = read_status(out / "status.json")[-1]["kpi"]
    want = _validate_in_one_process(load_spec(path, "train", _ddp_overrides(1)), out / LATEST_NAME, 1)
    assert kpi["val/epe"] == pytest.approx(want["val/epe"], rel=1e-4, abs=1e-6)


def test_checkpoints_to_keep_prunes_old_epochs_and_links_latest(make_spec):
    # 3 epochs, a checkpoint each; keep 1: the newest epoch file and the best one stay
    _, spec = make_spec("keep", ["train.checkpoints_to_keep=1"])
    result = _fit(spec)
    out = Path(spec["results_dir"]) / "train"
    epochs = sorted(p.name for p in out.glob("model_epoch_*.pth"))
    best = Path(result["best_checkpoint"]).name
    assert "model_epoch_002_step_00003.pth" in epochs
    assert set(epochs) == {"model_epoch_002_step_00003.pth", best}
    assert (out / best).is_file()
    # dn_model_latest.pth is the newest epoch file itself (a hard link), not a second copy
    assert (out / LATEST_NAME).samefile(out / "model_epoch_002_step_00003.pth")
    assert not list(out.glob(".*.tmp"))
    assert torch.load(out / LATEST_NAME, map_location="cpu", weights_only=True)["global_step"] == 3
