"""Inputs that crashed, hung or left debris (issue 17), one test per class.

Each refusal must be one line on stderr naming the file / key, exit code 2, no traceback, nothing
in the results folder, nothing in the system temp folder and no foreign file modified. Where the
point is what a user sees from the command, `python -m model.cli` runs as a real subprocess with a
private TMPDIR (torch's compile cache is pointed elsewhere: torch creates it on import, for good
and bad runs alike); elsewhere `main()` runs in-process and `capfd` catches what native code
(OpenCV, libpng) prints on the stderr file descriptor.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from model.cli import main
from model.config import NetworkConfig
from model.data.io import write_pfm

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- helpers
def _tiny_model() -> dict:
    model = NetworkConfig.tiny().to_dict()
    model["stereo_backbone"]["edgenext_pretrained_path"] = None
    return model


def _spec(tmp: Path, **sections) -> Path:
    path = tmp / "spec.yaml"
    body = {"results_dir": str(tmp / "runs"), "model": _tiny_model(), **sections}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _pair(folder: Path, index: int, shape=(64, 96)) -> list[str]:
    rng = np.random.default_rng(index)
    left, right, disp = folder / f"l{index}.png", folder / f"r{index}.png", folder / f"d{index}.pfm"
    for path in (left, right):
        assert cv2.imwrite(str(path), rng.integers(0, 255, (*shape, 3), dtype=np.uint8))
    write_pfm(disp, np.full(shape, 5.0, np.float32))
    return [str(left), str(right), str(disp)]


def _annotation(tmp: Path, rows: list[list[str]], name: str = "ann.txt") -> Path:
    path = tmp / name
    path.write_text("".join(" ".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _source(split: str, data_file: Path) -> str:
    return f"dataset.{split}_dataset.data_sources=[{{dataset_name: GenericDataset, data_file: '{data_file}'}}]"


SYNTH_TRAIN = "dataset.train_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 2, image_size: [64, 96]}]"
SYNTH_TEST = SYNTH_TRAIN.replace("train_dataset", "test_dataset")


def _run(tmp: Path, args: list[str], timeout: float = 120, preexec=None) -> subprocess.CompletedProcess:
    """`python -m model.cli ARGS` with a private, empty system temp folder (tmp/systmp)."""
    systmp = tmp / "systmp"
    systmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(systmp), "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "model.cli", *args], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec)


def _refused(tmp: Path, proc: subprocess.CompletedProcess, *needles: str, results: bool = False) -> str:
    """A clean refusal: exit 2, one `Error:` line with the needles, no traceback, no debris."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Execution status: PASS" not in proc.stdout
    if not results:
        assert not (tmp / "runs").exists(), sorted(str(p) for p in (tmp / "runs").rglob("*"))
    assert sorted(p.name for p in (tmp / "systmp").iterdir()) == [], "left in the system temp folder"
    return lines[0]


def _refused_in_process(tmp: Path, capfd, argv: list[str], *needles: str) -> str:
    rc = main(argv)
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("Error: "), err  # also no libpng / OpenCV line
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not (tmp / "runs").exists(), "results folder must not be created on a bad input"
    return lines[0]


# --------------------------------------------------------------------------- 1. YAML small on disk, huge in memory
_BOMB = ("[[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], "
         "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], "
         "&g [*f,*f,*f,*f,*f,*f,*f,*f,*f], &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], [*h,*h,*h,*h,*h,*h,*h,*h,*h]]]")


def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    spec = tmp_path / "bomb.yaml"
    spec.write_text(f"results_dir: {tmp_path / 'runs'}\nwandb:\n  tags: {_BOMB}\n", encoding="utf-8")
    before = spec.read_bytes()
    proc = _run(tmp_path, ["evaluate", "-e", str(spec)], timeout=60)  # 9^9 values: hung the schema check
    _refused(tmp_path, proc, str(spec), "expands to more than")
    assert spec.read_bytes() == before


@pytest.mark.parametrize("text, needle", [
    ("train: &t\n  optim: *t\n", "recursive YAML alias"),
    ("wandb:\n  tags: &t [*t]\n", "recursive YAML alias"),
    ("wandb:\n  tags: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("".join(f"x{i}: &a{i} [{'*a' + str(i - 1) if i else 1}]\n" for i in range(200)), "nested deeper than"),
    ("train:\n  seed: " + "9" * 5000 + "\n", "an integer of 5000 digits"),  # int() refuses > 4300 digits
    ("? [a, b]\n: 1\n", "a mapping key must be a name"),
    ("train:\n  seed: !!binary AAAA\n", "a !!binary value"),
])
def test_yaml_recursion_and_nesting(tmp_path, capfd, text, needle):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"results_dir: {tmp_path / 'runs'}\n" + text, encoding="utf-8")
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(spec)], f"{spec}:", needle)


def test_a_date_is_read_as_text(tmp_path, capfd):
    _refused_in_process(tmp_path, capfd, ["evaluate", f"results_dir={tmp_path / 'runs'}", "train.seed=2001-12-14"],
                        "train.seed: got '2001-12-14' (a string)")


def test_spec_file_large_on_disk(tmp_path, capfd):
    spec = tmp_path / "big.yaml"
    spec.write_text("# " + "x" * (2 << 20) + "\n", encoding="utf-8")
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(spec)], str(spec), "a spec is a small YAML file")


@pytest.mark.parametrize("override, needle", [
    (f"wandb.tags={_BOMB}", "expands to more than"),
    ("wandb.tags=&a [*a]", "recursive YAML alias"),
])
def test_yaml_bomb_in_an_override(tmp_path, capfd, override, needle):
    _refused_in_process(tmp_path, capfd, ["evaluate", f"results_dir={tmp_path / 'runs'}", override],
                        "override 'wandb.tags=", needle)


# --------------------------------------------------------------------------- 2. absurd values that passed the schema
@pytest.mark.parametrize("override, needle", [
    ("model.volume_dim=1000000000", "model.volume_dim: 1000000000 is not allowed; allowed: an integer in [1, 256]"),
    ("model.gru_hidden=1000000000", "model.gru_hidden: 1000000000 is not allowed"),
    ("model.mask_widths=[8, 1000000000]", "model.mask_widths[1]: 1000000000 is not allowed"),
    ("dataset.train_dataset.augmentation.crop_size=[64, 100]",
     "dataset.train_dataset.augmentation.crop_size[1]: 100 is not allowed; allowed: an integer in [32, 8192], "
     "multiple of 32"),
    ("dataset.train_dataset.augmentation.crop_size=[32000, 96]", "crop_size[0]: 32000 is not allowed"),
    ("dataset.train_dataset.batch_size=1000000000", "dataset.train_dataset.batch_size: 1000000000 is not allowed"),
    ("dataset.train_dataset.workers=100000", "dataset.train_dataset.workers: 100000 is not allowed"),
    ("train.num_epochs=1000000000000", "train.num_epochs: 1000000000000 is not allowed"),
    ("train.seed=1099511627776", "train.seed: 1099511627776 is not allowed"),
    ("train.optim.warmup_steps=1e12", "train.optim.warmup_steps: 1000000000000"),
    ("dataset.train_dataset.data_sources=[{dataset_name: Synthetic, image_size: [100000, 96]}]",
     "image_size[0]: 100000 is not allowed"),
])
def test_absurd_values_refused_before_anything_is_written(tmp_path, capfd, override, needle):
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"})
    _refused_in_process(tmp_path, capfd, ["train", "-e", str(spec), SYNTH_TRAIN, override], needle)


@pytest.mark.parametrize("override, needle", [
    ("export.input_height=1048576", "export.input_height: 1048576 is not allowed"),
    ("export.batch_size=100000", "export.batch_size: 100000 is not allowed"),
    ("gen_trt_engine.tensorrt.max_width=1000000", "gen_trt_engine.tensorrt.max_width: 1000000 is not allowed"),
    ("evaluate.input_width=1048576", "evaluate.input_width: 1048576 is not allowed"),
    ("model.cost_agg_conv_patch_padding=[0, 0, 1000000000]", "cost_agg_conv_patch_padding[2]"),
])
def test_absurd_sizes_of_the_other_actions(tmp_path, capfd, override, needle):
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), SYNTH_TEST, override], needle)


def test_training_crop_not_a_multiple_of_32_writes_nothing(tmp_path):
    """It failed deep in the backbone, after experiment.yaml, status.json and logs were written."""
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"})
    proc = _run(tmp_path, ["train", "-e", str(spec), SYNTH_TRAIN,
                           "dataset.train_dataset.augmentation.crop_size=[64, 100]"])
    _refused(tmp_path, proc, "dataset.train_dataset.augmentation.crop_size[1]: 100", "multiple of 32")


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
def test_bad_image_file_is_one_line_naming_it(tmp_path, capfd, tiny_ckpt, kind, needle, role):
    first, second = _pair(tmp_path, 0), _pair(tmp_path, 1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(_damaged(Path(second[0]).read_bytes(), kind))
    second[0 if role == "left" else 2] = str(bad)
    ann = _annotation(tmp_path, [first, second])
    line = _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann),
                                                 f"evaluate.checkpoint={tiny_ckpt}"], str(bad), needle)
    assert f"{ann}:2" in line and "libpng" not in line


def test_image_in_another_format_declaring_absurd_size(tmp_path, capfd, tiny_ckpt):
    """A BMP header (not read by us) claiming 100000 x 100000: OpenCV's pixel limit, as one line."""
    first, second = _pair(tmp_path, 0), _pair(tmp_path, 1)
    bmp = tmp_path / "big.bmp"
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 100000, 100000, 1, 24,
                                                                         0, 0, 0, 0, 0, 0)
    bmp.write_bytes(header + bytes(64))
    second[1] = str(bmp)
    ann = _annotation(tmp_path, [first, second])
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann),
                                          f"evaluate.checkpoint={tiny_ckpt}"], str(bmp))


# --------------------------------------------------------------------------- 4. a bad sample mid-file, workers > 0
@pytest.mark.parametrize("bad", ["missing", "empty", "size", "pfm"])
def test_bad_sample_mid_file_leaves_nothing(tmp_path, capfd, tiny_ckpt, bad):
    rows = [_pair(tmp_path, i) for i in range(3)]
    if bad == "missing":
        rows[1][1] = str(tmp_path / "gone.png")
    elif bad == "empty":
        Path(rows[1][1]).write_bytes(b"")
    elif bad == "size":
        write_pfm(tmp_path / "small.pfm", np.full((32, 96), 5.0, np.float32))
        rows[1][2] = str(tmp_path / "small.pfm")
    else:
        Path(rows[1][2]).write_bytes(Path(rows[1][2]).read_bytes()[:100])  # a torn PFM
    ann = _annotation(tmp_path, rows)
    line = _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann),
                                                 "dataset.test_dataset.workers=2", "evaluate.vis=true",
                                                 f"evaluate.checkpoint={tiny_ckpt}"], f"{ann}:2")
    assert "DataLoader worker" not in line


def test_bad_sample_mid_file_in_training_leaves_nothing(tmp_path, capfd):
    rows = [_pair(tmp_path, i) for i in range(3)]
    Path(rows[2][0]).write_bytes(_png_claiming(100000, 100000))
    ann = _annotation(tmp_path, rows)
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"})
    _refused_in_process(tmp_path, capfd, ["train", "-e", str(spec), _source("train", ann),
                                          "dataset.train_dataset.workers=2",
                                          "dataset.train_dataset.augmentation.crop_size=[64, 96]"], f"{ann}:3")


def test_damage_found_by_a_worker_names_the_file(tmp_path, tiny_ckpt):
    """Damage a header check cannot see (a bad IDAT checksum) is found while decoding, inside a
    DataLoader worker: the line names the file, not the worker, and no worker temp folder stays."""
    rows = [_pair(tmp_path, i) for i in range(4)]
    Path(rows[2][0]).write_bytes(_damaged(Path(rows[2][0]).read_bytes(), "bit flip"))
    ann = _annotation(tmp_path, rows)
    proc = _run(tmp_path, ["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann), "dataset.test_dataset.workers=2",
                           f"evaluate.checkpoint={tiny_ckpt}"])
    line = _refused(tmp_path, proc, f"{ann}:3", rows[2][0], "checksum mismatch", results=True)
    assert "DataLoader worker" not in line


# --------------------------------------------------------------------------- 5. a resume checkpoint Lightning refuses
def test_resume_from_a_weights_only_checkpoint(tmp_path, capfd, tiny_ckpt):
    plain = tmp_path / "plain.pth"
    torch.save(torch.load(tiny_ckpt, weights_only=True)["state_dict"], plain)
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"})
    for ckpt in (tiny_ckpt, plain):  # both load as weights; neither holds a training state
        line = _refused_in_process(tmp_path, capfd, ["train", "-e", str(spec), SYNTH_TRAIN,
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


def test_automatic_resume_from_a_foreign_latest_file(tmp_path, capfd, tiny_ckpt):
    """A weights-only dn_model_latest.pth in the results folder would be resumed automatically."""
    out = tmp_path / "runs" / "train"
    out.mkdir(parents=True)
    latest = out / "dn_model_latest.pth"
    latest.write_bytes(Path(tiny_ckpt).read_bytes())
    stamp = latest.stat().st_mtime_ns
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"})
    rc = main(["train", "-e", str(spec), SYNTH_TRAIN])
    err = capfd.readouterr().err
    assert rc == 2 and "dn_model_latest.pth" in err and "cannot be resumed" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["dn_model_latest.pth"]  # nothing written beside it
    assert latest.stat().st_mtime_ns == stamp


# --------------------------------------------------------------------------- 6. paths that cannot exist
@pytest.mark.parametrize("override, needle", [
    ('results_dir="{tmp}/runs/a\\0b"', "contains a NUL byte"),
    ("results_dir={tmp}/" + "x" * 300 + "/r", "has a name of 300 bytes"),
    ("results_dir={tmp}/runs/" + "é" * 200, "has a name of 400 bytes"),
    ('evaluate.checkpoint="{tmp}/a\\0b.pth"', "evaluate.checkpoint"),
    ("evaluate.checkpoint={tmp}/" + "é" * 200 + ".pth", "evaluate.checkpoint"),
    ("dataset.test_dataset.data_sources=[{{dataset_name: Kitti, data_file: '{tmp}/" + "x" * 300 + "'}}]",
     "dataset.test_dataset.data_sources[0].data_file"),
])
def test_paths_that_cannot_exist(tmp_path, capfd, override, needle):
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), SYNTH_TEST,
                                          override.format(tmp=tmp_path)], needle)


def test_path_that_cannot_exist_in_an_annotation_file_or_for_the_spec(tmp_path, capfd):
    rows = [_pair(tmp_path, 0), _pair(tmp_path, 1)]
    rows[1][0] = str(tmp_path / ("x" * 300 + ".png"))
    ann = _annotation(tmp_path, rows)
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann)],
                        f"{ann}:2", "has a name of 304 bytes")
    _refused_in_process(tmp_path, capfd, ["evaluate", "-e", str(tmp_path / ("é" * 200 + ".yaml"))],
                        "the spec file path has a name of 405 bytes")


@pytest.mark.parametrize("command", ["run", "status"])
def test_storage_file_under_a_regular_file(tmp_path, capfd, command):
    blocker = tmp_path / "results.db"
    blocker.write_text("a file, not a folder")
    storage = blocker / "study.db"
    argv = (["automl", "run", "-e", str(_spec(tmp_path)), SYNTH_TRAIN, SYNTH_TRAIN.replace("train_dataset", "val_dataset"),
             f"automl.storage={storage}"] if command == "run"
            else ["automl", "status", "--storage", str(storage)])
    _refused_in_process(tmp_path, capfd, argv, f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("name", ["../../escaped", "..", "a/b", "x" * 300])
def test_study_name_that_would_leave_the_results_folder(tmp_path, capfd, name):
    """The study's folder is <results_dir>/<study_name>: '../..' wrote a whole study outside it."""
    _refused_in_process(tmp_path, capfd, ["automl", "plan", "-e", str(_spec(tmp_path)), f"automl.study_name={name}"],
                        "automl.study_name", "without '/'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_storage_path_with_a_nul_byte(tmp_path, capfd):
    _refused_in_process(tmp_path, capfd, ["automl", "status", "--storage", f"{tmp_path}/a\0b.db"],
                        "contains a NUL byte")


# --------------------------------------------------------------------------- 7. automl storages: read-only probes
@pytest.fixture
def user_db(tmp_path) -> Path:
    """A user's own SQLite database, not an Optuna study."""
    path = tmp_path / "people.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE people (name TEXT)")
    connection.execute("INSERT INTO people VALUES ('ann')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("command, url", [("status", False), ("best", False), ("plot", False), ("status", True)])
def test_inspecting_a_foreign_sqlite_file_leaves_it_untouched(tmp_path, capfd, user_db, command, url):
    before, stamp = user_db.read_bytes(), user_db.stat().st_mtime_ns
    storage = f"sqlite:///{user_db}" if url else str(user_db)
    _refused_in_process(tmp_path, capfd, ["automl", command, "--storage", storage],
                        str(user_db), "not an Optuna study storage")
    assert user_db.read_bytes() == before and user_db.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.db"]  # no -journal / -wal file either


def test_status_on_a_file_that_is_not_sqlite(tmp_path, capfd):
    path = tmp_path / "notes.db"
    path.write_text("not a database\n")
    _refused_in_process(tmp_path, capfd, ["automl", "status", "--storage", str(path)], "is not an SQLite database")
    assert path.read_text() == "not a database\n"


@pytest.mark.parametrize("text, needle", [
    (b'{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\n{"op_code": 4, broken\n'
     b'{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}\n', ":2: not an Optuna journal file"),
    (b"[1, 2]\n", ":1: not an Optuna journal file"),
    (b'{"op_code": 99}\n', "unknown op_code 99"),
    (b"\xff\xfe\x00garbage\n", "not UTF-8 text"),
])
def test_corrupt_journal_is_one_line(tmp_path, capfd, text, needle):
    journal = tmp_path / "study.log"
    journal.write_bytes(text)
    _refused_in_process(tmp_path, capfd, ["automl", "status", "--storage", str(journal)], str(journal), needle)
    assert journal.read_bytes() == text


def test_dashboard_for_a_study_that_does_not_exist(tmp_path):
    import optuna

    storage = tmp_path / "studies.db"
    for name in ("alpha", "beta"):
        optuna.create_study(study_name=name, storage=f"sqlite:///{storage}")
    before = storage.read_bytes()
    proc = _run(tmp_path, ["automl", "dashboard", "--storage", str(storage), "--study", "gamma",
                           "--port", "18777"], timeout=60)  # serving would never return
    _refused(tmp_path, proc, "no study 'gamma'", "alpha, beta")
    assert storage.read_bytes() == before


def test_dashboard_on_a_foreign_sqlite_file(tmp_path, capfd, user_db):
    before = user_db.read_bytes()
    _refused_in_process(tmp_path, capfd, ["automl", "dashboard", "--storage", str(user_db), "--port", "18778"],
                        "not an Optuna study storage")
    assert user_db.read_bytes() == before


# --------------------------------------------------------------------------- 8. disk full while writing a checkpoint
def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: a write past `limit` bytes fails with EFBIG, as a full disk does
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_disk_full_while_writing_a_checkpoint(tmp_path):
    spec = _spec(tmp_path, train={"num_epochs": 1, "automl_policy": "off"},
                 dataset={"max_disparity": 64, "train_dataset": {"workers": 0}})
    proc = _run(tmp_path, ["train", "-e", str(spec), SYNTH_TRAIN,
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
def test_disk_full_while_writing_outputs(tmp_path, capfd, tiny_ckpt, small_disk, pictures):
    """Pictures fail in our PNG writer; metrics files (plain `open`) fail at the CLI boundary."""
    rows = [_pair(tmp_path, i) for i in range(3)]
    ann = _annotation(tmp_path, rows)
    out = small_disk / "eval"
    rc = main(["evaluate", "-e", str(_spec(tmp_path)), _source("test", ann), f"evaluate.checkpoint={tiny_ckpt}",
               f"evaluate.vis={str(pictures).lower()}", f"evaluate.results_dir={out}"])
    captured = capfd.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert rc in (1, 2) and len(lines) == 1 and lines[0].startswith("Error: "), captured.err
    assert "No space left on device" in lines[0] and "Traceback" not in captured.err, lines[0]
    assert not [p for p in small_disk.rglob("*") if p.name.endswith(".tmp")]
