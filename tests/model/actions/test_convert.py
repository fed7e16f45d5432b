"""`depth_net convert`: key-aligned pairing, seeded split, files readable by the datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.actions import convert
from model.data.annotations import read_annotation_file
from model.data.datasets import build_dataset
from model.errors import DataError, SpecError
from model.status import StatusLogger, read_status


@pytest.fixture(scope="module")
def real(shared_dir: Path) -> Path:
    return shared_dir / "data" / "real"


def _run(tmp_path: Path, **section) -> tuple[dict, Path]:
    out = tmp_path / "out"
    spec = {"results_dir": str(tmp_path / "runs"), "convert": {"output_dir": str(out), **section}}
    status = StatusLogger(tmp_path / "status.json")
    return convert.run(spec, status), out


def test_middlebury_default_layout_split_and_readback(real, tmp_path):
    result, out = _run(tmp_path, dataset_root=str(real / "middlebury2014Q"), dataset_name="middlebury",
                       split=[0.5, 0.25, 0.25], seed=3)
    assert result["kpi"] == {"num_samples": 4, "num_train": 2, "num_val": 1, "num_test": 1}
    rows = [row for split in ("train", "val", "test") for row in read_annotation_file(out / f"{split}.txt")]
    assert sorted(Path(r[0]).parent.name for r in rows) == ["Adirondack", "ArtL", "Piano", "Teddy"]
    for left, right, disp, mask in rows:  # every column comes from the same scene
        assert len({Path(p).parent for p in (left, right, disp, mask)}) == 1
        assert (Path(left).name, Path(right).name, Path(disp).name, Path(mask).name) == (
            "im0.png", "im1.png", "disp0GT.pfm", "mask0nocc.png")
    snippet = yaml.safe_load((out / "dataset_spec.yaml").read_text())
    source = snippet["dataset"]["train_dataset"]["data_sources"][0]
    assert source["dataset_name"] == "Middlebury"
    assert len(build_dataset(source, split="train", augmentation=None, max_disparity=192)) == 2
    assert "4 samples" in read_status(tmp_path / "status.json")[-1]["message"]


def test_split_is_seeded(real, tmp_path):
    def train_scenes(seed: int, where: str) -> list[str]:
        _, out = _run(tmp_path / where, dataset_root=str(real / "middlebury2014Q"), dataset_name="Middlebury",
                      split=[0.5, 0.5, 0.0], seed=seed)
        assert not (out / "test.txt").exists()  # empty split: no file
        return [Path(r[0]).parent.name for r in read_annotation_file(out / "train.txt")]

    assert train_scenes(0, "a") == train_scenes(0, "b")
    assert len({tuple(train_scenes(s, f"s{s}")) for s in range(6)}) > 1


def test_pattern_lists_pair_by_key_not_position(real, tmp_path):
    # kitti2015 has 2 scenes, kitti2012 has 1; a missing file in either list must not shift the pairs.
    result, out = _run(
        tmp_path, dataset_root=str(real), dataset_name="Kitti", split=[1.0, 0.0, 0.0],
        left_pattern=["kitti2015/*/image_2/*.png", "kitti2012/*/colored_0/*.png"],
        right_pattern=["kitti2015/*/image_3/*.png", "kitti2012/*/colored_1/*.png"],
        disparity_pattern=["kitti2015/*/disp_occ_0/*.png", "kitti2012/*/disp_occ/*.png"])
    rows = read_annotation_file(out / "train.txt")
    assert result["kpi"]["num_samples"] == 3 and len(rows) == 3
    for left, right, disp in rows:
        assert Path(left).name == Path(right).name == Path(disp).name
        assert Path(left).parts[-4] == Path(right).parts[-4] == Path(disp).parts[-4]  # same benchmark
    dataset = build_dataset({"dataset_name": "Kitti", "data_file": str(out / "train.txt")}, split="val",
                            augmentation=None, max_disparity=192)
    assert dataset[0]["has_gt"]


def test_two_column_inference_list(real, tmp_path):
    _, out = _run(tmp_path, dataset_root=str(real / "middlebury2003"), left_pattern="*/im2.png",
                  right_pattern="*/im6.png", split=[0, 0, 1])
    assert [len(r) for r in read_annotation_file(out / "test.txt")] == [2]


@pytest.mark.parametrize("section,error,needle", [
    ({"left_pattern": "*/im0.png", "right_pattern": "*/*/im1.png"}, SpecError, "wildcard"),
    ({"left_pattern": "*/im0.png", "right_pattern": "*/nothing.png"}, DataError, "nothing.png"),
    ({"left_pattern": "*/im0.png", "right_pattern": "*/im1.png", "split": [0.5, 0.2, 0.2]}, SpecError,
     "convert.split"),
    ({"dataset_name": "FSD"}, SpecError, "convert.left_pattern"),
    ({"dataset_name": "Nope"}, SpecError, "convert.dataset_name"),
    ({"left_pattern": ["*/im0.png", "x/*.png"], "right_pattern": "*/im1.png"}, SpecError, "element-wise"),
    ({"left_pattern": "*/im0.png", "right_pattern": "*/im0.png"}, SpecError, "paired with itself"),
])
def test_bad_convert_specs(real, tmp_path, section, error, needle):
    with pytest.raises(error) as err:
        _run(tmp_path, dataset_root=str(real / "middlebury2014Q"), **section)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out" / "train.txt").exists()


def test_missing_right_for_one_key(tmp_path):
    root = tmp_path / "data"
    for scene in ("a", "b"):
        (root / scene).mkdir(parents=True)
        (root / scene / "left.png").write_bytes(b"x")
    (root / "a" / "right.png").write_bytes(b"x")
    with pytest.raises(DataError) as err:
        _run(tmp_path, dataset_root=str(root), left_pattern="*/left.png", right_pattern="*/right.png")
    assert str(root / "b" / "left.png") in str(err.value) and "no right file" in str(err.value)


def test_missing_root(tmp_path):
    with pytest.raises(DataError) as err:
        _run(tmp_path, dataset_root=str(tmp_path / "absent"), dataset_name="Middlebury")
    assert "convert.dataset_root" in str(err.value) and str(tmp_path / "absent") in str(err.value)


def test_root_with_glob_characters(tmp_path):
    root = tmp_path / "stereo[v2]" / "set*1"  # brackets / stars in the root are literal, not wildcards
    for scene in ("a", "b"):
        (root / scene).mkdir(parents=True)
        for name in ("im0.png", "im1.png"):
            (root / scene / name).write_bytes(b"x")
    result, out = _run(tmp_path, dataset_root=str(root), left_pattern="*/im0.png", right_pattern="*/im1.png",
                       split=[1.0, 0.0, 0.0])
    assert result["kpi"]["num_samples"] == 2
    assert [Path(r[0]).parent.name for r in read_annotation_file(out / "train.txt")] == ["a", "b"]


def test_rerun_removes_stale_split_files(real, tmp_path):
    section = dict(dataset_root=str(real / "middlebury2014Q"), dataset_name="Middlebury")
    _, out = _run(tmp_path, split=[0.5, 0.25, 0.25], **section)
    assert (out / "test.txt").is_file()
    _, out = _run(tmp_path, split=[0.75, 0.25, 0.0], **section)  # same output_dir, now no test split
    assert not (out / "test.txt").exists()  # an old test.txt would overlap the new train.txt
    assert len(read_annotation_file(out / "train.txt")) == 3


def test_cli_prints_the_split_counts(real, tmp_path, capfd):
    from model.cli import main

    rc = main(["convert", f"results_dir={tmp_path / 'runs'}", f"convert.dataset_root={real / 'middlebury2014Q'}",
               "convert.dataset_name=Middlebury", "convert.split=[0.5,0.25,0.25]"])
    out = capfd.readouterr().out
    assert rc == 0 and "-> train 2, val 1, test 1 (files in " in out and "Execution status: PASS" in out


def test_an_unquoted_glob_override_gets_a_quoting_hint(real, tmp_path, capfd):
    """`*/image_2/*.png` is a YAML alias to YAML: the one error line says how to quote it, and that works."""
    from model.cli import main

    base = ["convert", f"results_dir={tmp_path / 'runs'}", f"convert.dataset_root={real / 'kitti2015'}",
            "convert.split=[1.0,0.0,0.0]"]
    rc = main([*base, "convert.left_pattern=*/image_2/*.png", "convert.right_pattern=*/image_3/*.png"])
    err = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not valid YAML" in err[0]
    assert """quote the value inside the argument: 'convert.left_pattern="*/image_2/*.png"'""" in err[0]
    assert not (tmp_path / "runs").exists()
    rc = main([*base, 'convert.left_pattern="*/image_2/*.png"', 'convert.right_pattern="*/image_3/*.png"'])
    assert rc == 0 and "-> train 2, val 0, test 0" in capfd.readouterr().out


@pytest.mark.parametrize("name", ["test.txt", "train.txt", "dataset_spec.yaml"])
def test_a_file_of_the_users_in_output_dir_is_never_replaced_or_removed(real, tmp_path, capfd, name):
    """A file named like an output but not written by convert (or edited since) stops the run, untouched."""
    from model.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("my notes\n")
    args = ["convert", f"results_dir={tmp_path / 'runs'}", f"convert.dataset_root={real / 'middlebury2014Q'}",
            "convert.dataset_name=Middlebury", "convert.split=[1.0,0.0,0.0]", f"convert.output_dir={out}"]
    rc = main(args)
    err = capfd.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and f"{out / name} was not written by depth_net convert" in err[0]
    assert (out / name).read_text() == "my notes\n"
    assert sorted(p.name for p in out.iterdir()) == [name]  # nothing else written either
    # an output convert wrote itself and then a user edited is protected the same way
    (out / name).unlink()
    assert main(args) == 0
    (out / "train.txt").write_text((out / "train.txt").read_text() + "# edited\n")
    assert main(args) == 2 and (out / "train.txt").read_text().endswith("# edited\n")
