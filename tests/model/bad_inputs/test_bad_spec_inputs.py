"""Bad spec inputs of issue 17, one test per class: YAML small on disk but huge or cyclic in memory,
absurd values the schema used to pass, paths that cannot exist, and AutoML storages that are not
what they claim (read-only probes: a foreign file is never modified).

Each refusal is one `Error:` line naming the file / key, exit 2, no traceback, nothing in the
results folder or the system temp folder (helpers in conftest.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


# --------------------------------------------------------------------------- 1. YAML small on disk, huge in memory
_BOMB = ("[[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b], "
         "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c], &e [*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e], "
         "&g [*f,*f,*f,*f,*f,*f,*f,*f,*f], &h [*g,*g,*g,*g,*g,*g,*g,*g,*g], [*h,*h,*h,*h,*h,*h,*h,*h,*h]]]")


def test_yaml_alias_bomb_is_refused_at_once(tmp_path, run_cli, refused):
    spec = tmp_path / "bomb.yaml"
    spec.write_text(f"results_dir: {tmp_path / 'runs'}\nwandb:\n  tags: {_BOMB}\n", encoding="utf-8")
    before = spec.read_bytes()
    proc = run_cli(["evaluate", "-e", str(spec)], timeout=60)  # 9^9 values: hung the schema check
    refused(proc, str(spec), "expands to more than")
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
def test_yaml_recursion_and_nesting(tmp_path, text, needle, refused_in_process):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"results_dir: {tmp_path / 'runs'}\n" + text, encoding="utf-8")
    refused_in_process(["evaluate", "-e", str(spec)], f"{spec}:", needle)


def test_a_date_is_read_as_text(tmp_path, refused_in_process):
    refused_in_process(["evaluate", f"results_dir={tmp_path / 'runs'}", "train.seed=2001-12-14"],
                       "train.seed: got '2001-12-14' (a string)")


def test_spec_file_large_on_disk(tmp_path, refused_in_process):
    spec = tmp_path / "big.yaml"
    spec.write_text("# " + "x" * (2 << 20) + "\n", encoding="utf-8")
    refused_in_process(["evaluate", "-e", str(spec)], str(spec), "a spec is a small YAML file")


@pytest.mark.parametrize("override, needle", [
    (f"wandb.tags={_BOMB}", "expands to more than"),
    ("wandb.tags=&a [*a]", "recursive YAML alias"),
])
def test_yaml_bomb_in_an_override(tmp_path, override, needle, refused_in_process):
    refused_in_process(["evaluate", f"results_dir={tmp_path / 'runs'}", override],
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
def test_absurd_values_refused_before_anything_is_written(files, tmp_path, override, needle, refused_in_process,
                                                          write_spec):
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    refused_in_process(["train", "-e", str(spec), files.synth_train, override], needle)


@pytest.mark.parametrize("override, needle", [
    ("export.input_height=1048576", "export.input_height: 1048576 is not allowed"),
    ("export.batch_size=100000", "export.batch_size: 100000 is not allowed"),
    ("gen_trt_engine.tensorrt.max_width=1000000", "gen_trt_engine.tensorrt.max_width: 1000000 is not allowed"),
    ("evaluate.input_width=1048576", "evaluate.input_width: 1048576 is not allowed"),
    ("model.cost_agg_conv_patch_padding=[0, 0, 1000000000]", "cost_agg_conv_patch_padding[2]"),
])
def test_absurd_sizes_of_the_other_actions(files, tmp_path, override, needle, refused_in_process, write_spec):
    refused_in_process(["evaluate", "-e", str(write_spec()), files.synth_test, override], needle)


def test_training_crop_not_a_multiple_of_32_writes_nothing(files, tmp_path, run_cli, refused, write_spec):
    """It failed deep in the backbone, after experiment.yaml, status.json and logs were written."""
    spec = write_spec(train={"num_epochs": 1, "automl_policy": "off"})
    proc = run_cli(["train", "-e", str(spec), files.synth_train,
                    "dataset.train_dataset.augmentation.crop_size=[64, 100]"])
    refused(proc, "dataset.train_dataset.augmentation.crop_size[1]: 100", "multiple of 32")


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
def test_paths_that_cannot_exist(files, tmp_path, override, needle, refused_in_process, write_spec):
    refused_in_process(["evaluate", "-e", str(write_spec()), files.synth_test,
                        override.format(tmp=tmp_path)], needle)


def test_path_that_cannot_exist_in_an_annotation_file_or_for_the_spec(files, tmp_path, refused_in_process, write_spec):
    rows = [files.pair(tmp_path, 0), files.pair(tmp_path, 1)]
    rows[1][0] = str(tmp_path / ("x" * 300 + ".png"))
    ann = files.annotation(tmp_path, rows)
    refused_in_process(["evaluate", "-e", str(write_spec()), files.source("test", ann)],
                       f"{ann}:2", "has a name of 304 bytes")
    refused_in_process(["evaluate", "-e", str(tmp_path / ("é" * 200 + ".yaml"))],
                       "the spec file path has a name of 405 bytes")


@pytest.mark.parametrize("command", ["run", "status"])
def test_storage_file_under_a_regular_file(files, tmp_path, command, refused_in_process, write_spec):
    blocker = tmp_path / "results.db"
    blocker.write_text("a file, not a folder")
    storage = blocker / "study.db"
    argv = (["automl", "run", "-e", str(write_spec()), files.synth_train, files.synth_train.replace("train_dataset", "val_dataset"),
             f"automl.storage={storage}"] if command == "run"
            else ["automl", "status", "--storage", str(storage)])
    refused_in_process(argv, f"{blocker} is a file, not a folder")
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("name", ["../../escaped", "..", "a/b", "x" * 300])
def test_study_name_that_would_leave_the_results_folder(tmp_path, name, refused_in_process, write_spec):
    """The study's folder is <results_dir>/<study_name>: '../..' wrote a whole study outside it."""
    refused_in_process(["automl", "plan", "-e", str(write_spec()), f"automl.study_name={name}"],
                       "automl.study_name", "without '/'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_storage_path_with_a_nul_byte(tmp_path, refused_in_process):
    refused_in_process(["automl", "status", "--storage", f"{tmp_path}/a\0b.db"],
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
def test_inspecting_a_foreign_sqlite_file_leaves_it_untouched(tmp_path, user_db, command, url, refused_in_process):
    before, stamp = user_db.read_bytes(), user_db.stat().st_mtime_ns
    storage = f"sqlite:///{user_db}" if url else str(user_db)
    refused_in_process(["automl", command, "--storage", storage],
                       str(user_db), "not an Optuna study storage")
    assert user_db.read_bytes() == before and user_db.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.db"]  # no -journal / -wal file either


def test_status_on_a_file_that_is_not_sqlite(tmp_path, refused_in_process):
    path = tmp_path / "notes.db"
    path.write_text("not a database\n")
    refused_in_process(["automl", "status", "--storage", str(path)], "is not an SQLite database")
    assert path.read_text() == "not a database\n"


@pytest.mark.parametrize("text, needle", [
    (b'{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}\n{"op_code": 4, broken\n'
     b'{"op_code": 0, "worker_id": "w", "study_name": "t", "directions": [1]}\n', ":2: not an Optuna journal file"),
    (b"[1, 2]\n", ":1: not an Optuna journal file"),
    (b'{"op_code": 99}\n', "unknown op_code 99"),
    (b"\xff\xfe\x00garbage\n", "not UTF-8 text"),
])
def test_corrupt_journal_is_one_line(tmp_path, text, needle, refused_in_process):
    journal = tmp_path / "study.log"
    journal.write_bytes(text)
    refused_in_process(["automl", "status", "--storage", str(journal)], str(journal), needle)
    assert journal.read_bytes() == text


def test_dashboard_for_a_study_that_does_not_exist(tmp_path, run_cli, refused):
    import optuna

    storage = tmp_path / "studies.db"
    for name in ("alpha", "beta"):
        optuna.create_study(study_name=name, storage=f"sqlite:///{storage}")
    before = storage.read_bytes()
    proc = run_cli(["automl", "dashboard", "--storage", str(storage), "--study", "gamma",
                    "--port", "18777"], timeout=60)  # serving would never return
    refused(proc, "no study 'gamma'", "alpha, beta")
    assert storage.read_bytes() == before


def test_dashboard_on_a_foreign_sqlite_file(tmp_path, user_db, refused_in_process):
    before = user_db.read_bytes()
    refused_in_process(["automl", "dashboard", "--storage", str(user_db), "--port", "18778"],
                       "not an Optuna study storage")
    assert user_db.read_bytes() == before
