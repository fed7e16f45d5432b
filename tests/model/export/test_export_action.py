"""`depth_net export` through model.cli.main: PASS with the parity kpi, FAIL above tolerance, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

from model.cli import main
from model.deploy.onnx_runner import onnx_input_shape, read_onnx_metadata
from model.status import read_kpi, read_status


def _export(tmp_path, ckpt, *extra):
    return ["export", f"results_dir={tmp_path / 'r'}", f"export.checkpoint={ckpt}", "export.input_height=64",
            "export.input_width=96", *extra]


def test_export_pass_writes_parity_kpi(tmp_path, tiny_ckpt, capfd):
    # the checkpoint given as its folder (a parent results folder) is resolved to the .pth
    assert main(_export(tmp_path, tiny_ckpt.parent, "export.valid_iters=3")) == 0
    out = capfd.readouterr().out
    assert "max abs diff" in out and f"using {tiny_ckpt}" in out and "Execution status: PASS" in out
    folder = tmp_path / "r" / "export"
    onnx_file = folder / "depth_net.onnx"
    assert sorted(p.name for p in folder.iterdir()) == ["depth_net.onnx", "experiment.yaml", "status.json"]
    kpi = read_kpi(folder / "status.json")
    assert 0 <= kpi["mean_abs_diff"] <= kpi["max_abs_diff"] <= 1e-3
    assert kpi["onnx_size_mb"] > 1 and math.isfinite(kpi["export_time_s"])
    assert onnx_input_shape(onnx_file) == [1, 3, 64, 96]
    meta = read_onnx_metadata(onnx_file)
    assert meta["valid_iters"] == 3 and meta["model"]["gru_hidden"] == 16  # the checkpoint's own network
    assert read_status(folder / "status.json")[-1]["status"] == "SUCCESS"


def test_export_above_tolerance_fails_and_keeps_no_output(tmp_path, tiny_ckpt, capfd):
    target = tmp_path / "out" / "tiny.onnx"
    rc = main(_export(tmp_path, tiny_ckpt, f"export.onnx_file={target}", "export.max_abs_diff_tolerance=1e-12"))
    captured = capfd.readouterr()
    assert rc == 1 and "Execution status: FAIL" in captured.out
    assert "max_abs_diff_tolerance" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not target.exists() and (target.parent / "tiny.failed.onnx").is_file()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    events = read_status(tmp_path / "r" / "export" / "status.json")
    assert events[-1]["status"] == "FAILURE" and any("max_abs_diff" in (e.get("kpi") or {}) for e in events)


def test_export_bad_size_is_one_line_exit_2(tmp_path, tiny_ckpt, capfd):
    rc = main(_export(tmp_path, tiny_ckpt, "export.input_width=100"))
    err = capfd.readouterr().err
    assert rc == 2 and "export.input_width" in err and "32" in err
    assert not (tmp_path / "r").exists()


def test_export_needs_a_checkpoint(tmp_path, capfd):
    rc = main(["export", f"results_dir={tmp_path / 'r'}"])
    assert rc == 2 and "export.checkpoint: required" in capfd.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["export", f"results_dir={tmp_path / 'r'}", f"export.checkpoint={empty}"])
    assert rc == 2 and "holds no dn_model_latest.pth" in capfd.readouterr().err
    assert not (tmp_path / "r").exists()


def test_export_into_an_unwritable_place_is_one_line_exit_2(tmp_path, tiny_ckpt, capfd):
    # a file where a folder should be, and /proc (root passes os.access there): refused before the export
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    targets = [blocker / "sub" / "m.onnx"] + ([Path("/proc/depth_net_probe.onnx")] if Path("/proc").is_dir() else [])
    for target in targets:
        rc = main(_export(tmp_path, tiny_ckpt, f"export.onnx_file={target}"))
        captured = capfd.readouterr()
        assert rc == 2, captured
        assert f"export.onnx_file: cannot write {target}" in captured.err
        assert len(captured.err.strip().splitlines()) == 1 and "Traceback" not in captured.err
        assert not (tmp_path / "r").exists() and not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_export_opset_13_refused_before_anything_is_written(tmp_path, tiny_ckpt, capfd):
    rc = main(_export(tmp_path, tiny_ckpt, "export.opset_version=13"))
    captured = capfd.readouterr()
    assert rc == 2 and "export.opset_version: 13" in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "r").exists()


def test_export_replaces_an_existing_file_only_on_success(tmp_path, tiny_ckpt, capfd):
    target = tmp_path / "out" / "m.onnx"
    target.parent.mkdir()
    target.write_bytes(b"old")
    rc = main(_export(tmp_path, tiny_ckpt, f"export.onnx_file={target}", "export.max_abs_diff_tolerance=1e-12"))
    assert rc == 1 and target.read_bytes() == b"old"  # a failed export leaves the old file alone
    assert main(_export(tmp_path, tiny_ckpt, f"export.onnx_file={target}")) == 0
    assert onnx_input_shape(target) == [1, 3, 64, 96]  # a re-export replaces it (atomically)
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.failed.onnx", "m.onnx"]
    capfd.readouterr()
