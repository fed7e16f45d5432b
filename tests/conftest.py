"""Shared fixtures: where ../shared lives, GPU skip marks, one torch thread per test, tiny specs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEPTH_NET_SHARED", REPO.parent / "shared"))
GOLDEN = SHARED / "data" / "golden"
REAL = SHARED / "data" / "real"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # pragma: no cover - torch missing is a setup error elsewhere
        return False


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    cuda = _has_cuda()
    for item in items:
        if "gpu" in item.keywords and not cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _one_thread():
    """2 shared cores: every test runs on one intra-op torch thread (steady, deterministic timing)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_NO_AUG = {"crop_size": [64, 96], "min_scale": 0.0, "max_scale": 0.0, "stretch_prob": 0.0,
           "yjitter_prob": 0.0, "color_aug_prob": 0.0, "eraser_aug_prob": 0.0}


def _synthetic(num: int, seed: int) -> dict:
    return {"dataset_name": "Synthetic", "num_samples": num, "seed": seed, "image_size": [64, 96]}


@pytest.fixture(scope="session")
def tiny_spec():
    """Builder of a whole spec dict: the tiny network (no backbone download), 2 Synthetic 64 x 96
    train pairs (repeated `train_repeat` times, batch 2, no augmentation), 2 val pairs unless
    `val=False`; keyword sections (train, automl, ...) are added as given."""
    from model.config import NetworkConfig

    def build(results_dir: Path, *, train_repeat: int = 1, val: bool = True, **sections) -> dict:
        model = NetworkConfig.tiny().to_dict()
        model["stereo_backbone"]["edgenext_pretrained_path"] = None
        return {
            "results_dir": str(results_dir),
            "model": model,
            "dataset": {
                "max_disparity": 64,
                "train_dataset": {"data_sources": [_synthetic(2, 0)] * train_repeat, "batch_size": 2,
                                  "workers": 0, "augmentation": dict(_NO_AUG)},
                "val_dataset": {"data_sources": [_synthetic(2, 7)] if val else [], "batch_size": 1,
                                "workers": 0},
            },
            **sections,
        }

    return build
