"""The Deploy contract, through model.cli.main with the tiny network's real ONNX export: the resize +
width-ratio rescale against PyTorch on the same resized input, batches on a batch-1 graph, and an ONNX
from another network never run silently against a spec / checkpoint that describes something else."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from model.cli import main
from model.config import NetworkConfig
from model.data.io import read_pfm
from model.data.synthetic import SyntheticStereo
from model.network import build_network

SIZE = (80, 120)  # not the export's 64 x 96, not multiples of 32
INFER = ("dataset.infer_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 3, seed: 6, "
         f"image_size: [{SIZE[0]}, {SIZE[1]}]}}]")
TEST = ("dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 1, seed: 5, "
        f"image_size: [{SIZE[0]}, {SIZE[1]}]}}]")


def test_static_onnx_on_other_sizes_matches_pytorch_resized_and_rescaled(tmp_path, tiny_onnx, tiny_net, capfd):
    # batch 2 on the batch-1 graph (split), 3 images (a short last batch), 80 x 120 images on a 64 x 96 graph
    assert main(["inference", f"results_dir={tmp_path}", f"inference.onnx_file={tiny_onnx}", INFER,
                 "inference.save_raw_pfm=true", "inference.vis=false", "dataset.infer_dataset.batch_size=2"]) == 0
    assert "(64x96, 2 iterations)" in capfd.readouterr().out  # the baked-in metadata is read back
    spec = yaml.safe_load((tmp_path / "inference" / "experiment.yaml").read_text())
    data = SyntheticStereo(3, 6, SIZE, spec["dataset"]["max_disparity"])
    for i in range(3):
        sample = data[i]
        left, right = (F.interpolate(sample[k][None], size=(64, 96), mode="bilinear", align_corners=False)
                       for k in ("left", "right"))
        with torch.inference_mode():
            ref = tiny_net(left, right, iters=2, test_mode=True)
        ref = F.interpolate(ref, size=SIZE, mode="bilinear", align_corners=False)[0, 0] * (SIZE[1] / 96)
        got = torch.from_numpy(np.ascontiguousarray(read_pfm(tmp_path / "inference" / "pfm" /
                                                             f"synthetic_6_{i:06d}.pfm"))).float()
        assert got.shape == SIZE
        assert (got - ref).abs().max() <= 1e-3
        assert ref.abs().mean() > 1  # a real disparity, so a missing 120/96 factor would show


def test_onnx_only_run_records_the_exported_network(tmp_path, tiny_onnx, capfd):
    # the spec's model section is the bp2 default; the ONNX is the tiny network: experiment.yaml says tiny
    assert main(["evaluate", f"results_dir={tmp_path}", f"evaluate.onnx_file={tiny_onnx}", TEST]) == 0
    spec = yaml.safe_load((tmp_path / "evaluate" / "experiment.yaml").read_text())
    assert spec["model"]["gru_hidden"] == NetworkConfig.tiny().gru_hidden
    capfd.readouterr()


@pytest.fixture(scope="module")
def other_ckpt(tmp_path_factory):
    """A checkpoint of a tiny network with other widths (disp_head_intermediate 12, mask_widths [12, 8])."""
    cfg = NetworkConfig.tiny().replace(disp_head_intermediate=12, mask_widths=(12, 8))
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("other") / "other.pth"
    torch.save({"state_dict": build_network(cfg).state_dict(), "spec": {"model": cfg.to_dict()}}, path)
    return path


def test_drift_against_a_checkpoint_of_another_network_is_refused(tmp_path, tiny_onnx, other_ckpt, capfd):
    # before: a drift report of two different networks (mean |pyt - deploy| 0.7 px) and PASS
    rc = main(["evaluate", f"results_dir={tmp_path / 'r'}", f"evaluate.onnx_file={tiny_onnx}",
               f"evaluate.checkpoint={other_ckpt}", TEST])
    err = capfd.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert ("evaluate.onnx_file: tiny.onnx was exported from another network: model.disp_head_intermediate is 8 "
            "there but 12 in evaluate.checkpoint") in err
    assert not (tmp_path / "r").exists()


def test_onnx_against_another_spec_model_is_refused(tmp_path, tiny_onnx, capfd):
    # an explicit (non-default) model section that is not the exported network
    rc = main(["evaluate", f"results_dir={tmp_path / 'r'}", f"evaluate.onnx_file={tiny_onnx}", "model.corr_radius=3",
               TEST])
    err = capfd.readouterr().err
    assert rc == 2 and "model.hidden_dims is [16] there but [128] in the spec's model section" in err
    assert not (tmp_path / "r").exists()
    # the same network with other run-time settings (iterations, precision) is fine
    tiny = NetworkConfig.tiny().to_dict()
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({"model": {**tiny, "valid_iters": 5, "mixed_precision": True}}))
    assert main(["evaluate", "-e", str(spec_file), f"results_dir={tmp_path / 'ok'}",
                 f"evaluate.onnx_file={tiny_onnx}", TEST]) == 0
    capfd.readouterr()


@pytest.mark.parametrize("action", ["evaluate", "inference"])
def test_onnx_without_a_disparity_output_is_refused_before_anything_is_written(tmp_path, action, capfd):
    # before: ONNX Runtime's 'Invalid output name:disparity' traceback after the results dir was made
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 64, 96]) for n in ("left_image", "right_image")]
    output = helper.make_tensor_value_info("disp", TensorProto.FLOAT, [1, 3, 64, 96])
    graph = helper.make_graph([helper.make_node("Sub", ["left_image", "right_image"], ["disp"])], "g", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "foreign.onnx"
    onnx.save(model, str(path))
    data = TEST if action == "evaluate" else INFER
    rc = main([action, f"results_dir={tmp_path / 'r'}", f"{action}.onnx_file={path}", data])
    err = capfd.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert f"{action}.onnx_file: {path}: inputs ['left_image', 'right_image'] -> outputs ['disp']" in err
    assert not (tmp_path / "r").exists()
