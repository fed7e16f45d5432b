"""Bad data inputs of issue 17, one test per class: image files that are empty, torn or declare
absurd sizes, a bad sample in the middle of an annotation file (also with DataLoader workers), a
resume checkpoint Lightning refuses, and a disk that fills up while writing.

Each refusal is one `Error:` line naming the file, exit 2, no traceback, nothing in the results
folder or the system temp folder (helpers in conftest.py).
"""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from model.cli import main
from model.data.io import write_pfm


# --------------------------------------------------------------------------- 3. image files: empty, torn, absurd
def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _damaged(good: bytes, kind: str) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "header only":
        return good[:30]
    if kind == "absurd size":
        return _png_claiming(100000, 100000)
    if kind == "zero size":
        return _png_claiming(0, 64)
    flipped = bytearray(good)  # "bit flip": a damaged IDAT chunk, its checksum wrong
    flipped[200] ^= 0xFF
    return bytes(flipped)


@pytest.mark.parametrize("kind, needle", [
    ("empty", "empty file (0 bytes)"),
    ("truncated", "truncated PNG"),
    ("header only", "cannot decode image"),
    ("absurd size", "declares 100000x100000 pixels"),
    ("zero size", "declares 0x64 pixels"),
])
@pytest.mark.parametrize("role", ["left", "disparity"])
def test_bad_image_file_is_one_line_naming_it(files, tmp_path, tiny_ckpt, kind, needle, role, refused_in_process,
                                              write_spec):
    first, second = files.pair(tmp_path, 0), files.pair(tmp_path, 1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(_damaged(Path(second[0]).read_bytes(), kind))
    second[0 if role == "left" else 2] = str(bad)
    ann = files.annotation(tmp_path, [first, second])
    line = refused_in_process(["evaluate", "-e", str(write_spec()), files.source("test", ann),
                               f"evaluate.checkpoint={tiny_ckpt}"], str(bad), needle)
    assert f"{ann}:2" in line and "libpng" not in line


def test_image_in_another_format_declaring_absurd_size(files, tmp_path, tiny_ckpt, refused_in_process, write_spec):
    """A BMP header (not read by us) claiming 100000 x 100000: OpenCV's pixel limit, as one line."""
    first, second = files.pair(tmp_path, 0), files.pair(tmp_path, 1)
    bmp = tmp_path / "big.bmp"
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 100000, 100000, 1, 24,
                                                                         0, 0, 0, 0, 0, 0)
    bmp.write_bytes(header + bytes(64))
    second[1] = str(bmp)
    ann = files.annotation(tmp_path, [first, second])
    refused_in_process(["evaluate", "-e", str(write_spec()), files.source("test", ann),
                        f"evaluate.checkpoint={tiny_ckpt}"], str(bmp))


# --------------------------------------------------------------------------- 4. a bad sample mid-file, workers > 0
@pytest.mark.parametrize("bad", ["missing", "empty", "size", "pfm"])
def test_bad_sample_mid_file_leaves_nothing(files, tmp_path, tiny_ckpt, bad, refused_in_process, write_spec):
    rows = [files.pair(tmp_path, i) for i in range(3)]
    if bad == "missing":
        rows[1][1] = str(tmp_path / "gone.png")
    elif bad == "empty":
        Path(rows[1][1]).write_bytes(b"")
    elif bad == "size":
        write_pfm(tmp_path / "small.pfm", np.full((32, 96), 5.0, np.float32))
        rows[1][2] = str(tmp_path / "small.pfm")
    else:
        Path(rows[1][2]).write_bytes(Path(rows[1][2]).read_bytes()[:100])  # a torn PFM
    ann = files.annotation(tmp_path, rows)
    line = refused_in_process(["evaluate", "-e", str(write_spec()), files.source("test", ann),
                               "dataset.test_dataset.workers=2", "evaluate.vis=true",
                               f"evaluate.checkpoint={tiny_ckpt}"], f"{ann}:2")
    assert "DataLoader worker" not in line


def test_bad_sample_mid_file_in_training_leaves_nothing(files, tmp_path, refused_in_process, write_spec):
    rows = [files.pair(tmp_path, i) for i in range(3)]
    Path(rows[2][0]).write_bytes(_png_claiming(100000, 100000))
    ann = files.annotation(tmp_path, rows)
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    refused_in_process(["train", "-e", str(spec), files.source("train", ann),
                        "dataset.train_dataset.workers=2",
                        "dataset.train_dataset.augmentation.crop_size=[64, 96]"], f"{ann}:3")


def test_damage_found_by_a_worker_names_the_file(files, tmp_path, tiny_ckpt, run_cli, refused, write_spec):
    """Damage a header check cannot see (a bad IDAT checksum) is found while decoding, inside a
    DataLoader worker: the line names the file, not the worker, and no worker temp folder stays."""
    rows = [files.pair(tmp_path, i) for i in range(4)]
    Path(rows[2][0]).write_bytes(_damaged(Path(rows[2][0]).read_bytes(), "bit flip"))
    ann = files.annotation(tmp_path, rows)
    proc = run_cli(["evaluate", "-e", str(write_spec()), files.source("test", ann), "dataset.test_dataset.workers=2",
                    f"evaluate.checkpoint={tiny_ckpt}"])
    line = refused(proc, f"{ann}:3", rows[2][0], "checksum mismatch", results=True)
    assert "DataLoader worker" not in line


# --------------------------------------------------------------------------- 5. a resume checkpoint Lightning refuses
def test_resume_from_a_weights_only_checkpoint(files, tmp_path, tiny_ckpt, refused_in_process, write_spec):
    plain = tmp_path / "plain.pth"
    torch.save(torch.load(tiny_ckpt, weights_only=True)["state_dict"], plain)
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    for ckpt in (tiny_ckpt, plain):  # both load as weights; neither holds a training state
        line = refused_in_process(["train", "-e", str(spec), files.synth_train,
                                   f"train.resume_training_checkpoint_path={ckpt}"],
                                  "train.resume_training_checkpoint_path", str(ckpt), "cannot be resumed")
        assert "pretrained_model_path" in line


def test_resume_from_a_pickled_module(tmp_path):
    """The restricted unpickler reads the upstream pickled network module; Lightning's weights-only
    load refuses any pickled module: the resume check says so in one line."""
    from model.errors import CheckpointError
    from model.training.resume import check_resumable

    ckpt = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), ckpt)
    with pytest.raises(CheckpointError, match="does not load as a plain training checkpoint") as err:
        check_resumable(ckpt)
    assert "\n" not in str(err.value) and str(ckpt) in str(err.value)


def test_automatic_resume_from_a_foreign_latest_file(files, tmp_path, capfd, tiny_ckpt, write_spec):
    """A weights-only dn_model_latest.pth in the results folder would be resumed automatically."""
    out = tmp_path / "runs" / "train"
    out.mkdir(parents=True)
    latest = out / "dn_model_latest.pth"
    latest.write_bytes(Path(tiny_ckpt).read_bytes())
    stamp = latest.stat().st_mtime_ns
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    rc = main(["train", "-e", str(spec), files.synth_train])
    err = capfd.readouterr().err
    assert rc == 2 and "dn_model_latest.pth" in err and "cannot be resumed" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["dn_model_latest.pth"]  # nothing written beside it
    assert latest.stat().st_mtime_ns == stamp



def test_a_folder_where_the_latest_checkpoint_goes_is_refused_before_training(files, tmp_path, capfd, write_spec):
    """It trained a whole epoch, wrote a 175 MB checkpoint, then blamed that file and said 'free space'."""
    out = tmp_path / "runs" / "train"
    (out / "dn_model_latest.pth").mkdir(parents=True)
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    rc = main(["train", "-e", str(spec), files.synth_train])
    lines = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and f"{out / 'dn_model_latest.pth'} is in the way" in lines[0], lines
    assert sorted(p.name for p in out.iterdir()) == ["dn_model_latest.pth"]  # nothing written beside it

# --------------------------------------------------------------------------- 8. disk full while writing a checkpoint
def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: a write past `limit` bytes fails with EFBIG, as a full disk does
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_disk_full_while_writing_a_checkpoint(files, tmp_path, run_cli, write_spec):
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"},
                      dataset={"max_disparity": 64, "train_dataset": {"workers": 0}})
    proc = run_cli(["train", "-e", str(spec), files.synth_train,
                    "dataset.train_dataset.augmentation.crop_size=[64, 96]"],
                   timeout=300, preexec=_file_size_limit(8 << 20))  # a tiny checkpoint is tens of MB
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "cannot write the checkpoint" in last and "File too large" in last, last
    out = tmp_path / "runs" / "train"
    assert not [p.name for p in out.iterdir() if p.name.endswith((".pth", ".tmp"))], sorted(os.listdir(out))
    assert sorted(p.name for p in (tmp_path / "systmp").iterdir()) == []  # Lightning wrote a copy to /tmp
    assert '"status": "FAILURE"' in (out / "status.json").read_text()


def test_checkpoint_writer_uses_no_temp_file(tmp_path, monkeypatch):
    """Lightning's own writer staged every checkpoint in tempfile.mkstemp() (the system temp folder),
    where a write cut short stayed; ours writes the target alone and removes it when the write fails."""
    import tempfile

    from model.training.checkpoint_io import LocalCheckpointIO

    def no_temp(*args, **kwargs):
        raise AssertionError("a checkpoint write used the system temp folder")

    monkeypatch.setattr(tempfile, "mkstemp", no_temp)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temp)
    target = tmp_path / "out" / ".model.pth.tmp"
    LocalCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(4)}, "epoch": 3}, target)
    assert torch.load(target, weights_only=True)["epoch"] == 3

    import builtins

    real_open = builtins.open

    class Full:  # a file object whose write fails as on a full disk, after creating the file
        def __init__(self, path, mode):
            self.handle = real_open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(bytes(data)[:10])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(builtins, "open", lambda path, mode="r", *a, **k: Full(path, mode))
    broken = tmp_path / "out" / ".broken.pth.tmp"
    with pytest.raises(OSError, match="No space left"):
        LocalCheckpointIO().save_checkpoint({"epoch": 1}, broken)
    monkeypatch.undo()
    assert not broken.exists()


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs (needs root and mount permission; skipped otherwise), nearly full."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        with open(mount / "filler", "wb") as fh:  # leave ~12 KiB: room for experiment.yaml and status.json
            fh.write(bytes(256 * 1024 - 12 * 1024))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.parametrize("pictures", [True, False])
def test_disk_full_while_writing_outputs(files, tmp_path, capfd, tiny_ckpt, small_disk, pictures, write_spec):
    """Pictures fail in our PNG writer; metrics files (plain `open`) fail at the CLI boundary."""
    rows = [files.pair(tmp_path, i) for i in range(3)]
    ann = files.annotation(tmp_path, rows)
    out = small_disk / "eval"
    rc = main(["evaluate", "-e", str(write_spec()), files.source("test", ann), f"evaluate.checkpoint={tiny_ckpt}",
               f"evaluate.vis={str(pictures).lower()}", f"evaluate.results_dir={out}"])
    captured = capfd.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert rc in (1, 2) and len(lines) == 1 and lines[0].startswith("Error: "), captured.err
    assert "No space left on device" in lines[0] and "Traceback" not in captured.err, lines[0]
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")]
