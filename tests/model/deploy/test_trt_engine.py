"""TensorRT engine building: profile / settings (pure, no GPU), the missing-TensorRT message, the real build."""

from __future__ import annotations

import pytest
import torch

from model.cli import main
from model.deploy.trt_engine import (MIB, INSTALL_HINT, builder_settings, profile_shapes, require_tensorrt,
                                     tensorrt_missing)
from model.errors import ExportError, SpecError

DEFAULTS = {"data_type": "FP16", "workspace_size": 4096, "min_batch_size": 1, "opt_batch_size": 1, "max_batch_size": 1,
            "min_height": None, "opt_height": None, "max_height": None,
            "min_width": None, "opt_width": None, "max_width": None}


def _cfg(**kw):
    return dict(DEFAULTS, **kw)


def test_static_onnx_profile_is_its_shape():
    prof = profile_shapes([1, 3, 320, 736], _cfg())
    assert set(prof) == {"left_image", "right_image"}
    assert prof["left_image"] == ((1, 3, 320, 736),) * 3


def test_dynamic_batch_profile_from_spec():
    prof = profile_shapes([None, 3, 320, 736], _cfg(min_batch_size=1, opt_batch_size=2, max_batch_size=4))
    assert prof["right_image"] == ((1, 3, 320, 736), (2, 3, 320, 736), (4, 3, 320, 736))


def test_dynamic_hw_profile_from_spec():
    cfg = _cfg(min_height=160, opt_height=320, max_height=480, min_width=320, opt_width=736, max_width=1248)
    prof = profile_shapes([None, 3, None, None], cfg)
    assert prof["left_image"] == ((1, 3, 160, 320), (1, 3, 320, 736), (1, 3, 480, 1248))


@pytest.mark.parametrize("shape,cfg,match", [
    ([None, 3, None, None], _cfg(), r"min/opt/max_height: the ONNX height is dynamic; set all three"),
    ([1, 3, 320, 736], _cfg(max_batch_size=4), r"max_batch_size: 4, but the ONNX batch is static 1"),
    ([1, 3, 320, 736], _cfg(opt_height=480), r"opt_height: 480, but the ONNX height is static 320"),
    ([None, 3, 64, 96], _cfg(min_batch_size=4, opt_batch_size=2, max_batch_size=8),
     r"min/opt/max_batch_size: need min <= opt <= max, got 4, 2, 8"),
    ([1, 3, None, None], _cfg(min_height=64, opt_height=100, max_height=128, min_width=64, opt_width=96,
                              max_width=128), r"min/opt/max_height: 64, 100, 128: each must be a multiple of 32"),
])
def test_bad_profiles_are_one_line_spec_errors(shape, cfg, match):
    with pytest.raises(SpecError, match=r"gen_trt_engine\.tensorrt\." + match):
        profile_shapes(shape, cfg)


def test_builder_settings_workspace_in_mib_as_tao(tmp_path):
    s = builder_settings({"tensorrt": _cfg(workspace_size=2048, data_type="FP32"), "timing_cache": str(tmp_path / "t")})
    assert s == {"fp16": False, "workspace_bytes": 2048 * MIB, "timing_cache": tmp_path / "t", "gpu_id": 0,
                 "verbose": False}
    s = builder_settings({"tensorrt": _cfg(workspace_size=512, data_type="fp16"), "timing_cache": None,
                          "gpu_id": 1, "verbose": True})
    assert s["fp16"] and s["workspace_bytes"] == 512 * MIB and s["timing_cache"] is None
    assert s["gpu_id"] == 1 and s["verbose"] is True


def test_missing_pieces_are_named():
    no_trt = tensorrt_missing(cuda_available=True, tensorrt_found=False)
    assert "TensorRT is not installed" in no_trt and INSTALL_HINT in no_trt and "NVIDIA GPU" in no_trt
    no_gpu = tensorrt_missing(cuda_available=False, tensorrt_found=True)
    assert "no CUDA GPU" in no_gpu and "NVIDIA GPU" in no_gpu
    for text in (no_trt, no_gpu):  # where to go instead: the ONNX file with ONNX Runtime
        assert "ONNX Runtime" in text and "inference.onnx_file" in text
    assert tensorrt_missing(cuda_available=True, tensorrt_found=True) is None


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT and a GPU are present here")
def test_cli_without_tensorrt_exit_2_nothing_written(tmp_path, tiny_onnx, capfd):
    with pytest.raises(ExportError):
        require_tensorrt("gen_trt_engine")
    rc = main(["gen_trt_engine", f"results_dir={tmp_path / 'r'}", f"gen_trt_engine.onnx_file={tiny_onnx}"])
    captured = capfd.readouterr()
    assert rc == 2 and "Execution status: FAIL" in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("Error: gen_trt_engine: ")
    assert (INSTALL_HINT in err) or ("no CUDA GPU" in err)
    assert "NVIDIA GPU" in err and "ONNX Runtime" in err and "inference.onnx_file" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.gpu
def test_build_and_run_engine_matches_onnx(tmp_path, tiny_onnx):
    pytest.importorskip("tensorrt")
    from model.deploy.onnx_runner import OnnxRunner
    from model.deploy.predictor import make_deploy_predictor

    engine = tmp_path / "gen" / "tiny.engine"
    cache = tmp_path / "timing.cache"
    rc = main(["gen_trt_engine", f"results_dir={tmp_path / 'r'}", f"gen_trt_engine.onnx_file={tiny_onnx.parent}",
               f"gen_trt_engine.trt_engine={engine}", f"gen_trt_engine.timing_cache={cache}",
               "gen_trt_engine.tensorrt.data_type=FP32", "gen_trt_engine.tensorrt.workspace_size=1024"])
    assert rc == 0 and engine.is_file() and cache.is_file() and engine.with_name("tiny.engine.json").is_file()
    spec = {"evaluate": {"trt_engine": str(engine.parent), "input_height": None, "input_width": None, "gpu_ids": [0]}}
    predictor = make_deploy_predictor(spec, "evaluate")
    assert predictor.engine_hw == (64, 96) and predictor.runner.metadata["valid_iters"] == 2
    g = torch.Generator().manual_seed(0)
    left, right = torch.randn(2, 1, 3, 64, 96, generator=g).unbind(0)
    want = OnnxRunner(tiny_onnx, cpu_only=True)(left, right)
    assert (predictor(left, right) - want).abs().max() < 1e-2  # TF32 / kernel choice on the GPU


@pytest.mark.skipif(tensorrt_missing() is None, reason="TensorRT and a GPU are present here")
def test_evaluate_with_engine_without_tensorrt(tmp_path, capfd):
    engine = tmp_path / "gen_trt_engine" / "depth_net.engine"
    engine.parent.mkdir()
    engine.write_bytes(b"serialized engine")
    rc = main(["evaluate", f"results_dir={tmp_path / 'r'}", f"evaluate.trt_engine={tmp_path}",
               "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 1, image_size: [64, 96]}]"])
    err = capfd.readouterr().err.strip()
    assert rc == 2 and err.startswith("Error: evaluate.trt_engine: ") and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()
