"""Fixtures for the data tests: the shared real samples and tiny on-disk datasets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from model.data.io import write_pfm, write_png


@pytest.fixture(scope="session")
def real_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "real"
    if not path.is_dir():
        pytest.skip(f"real samples not found at {path}")
    return path


def _pair(folder: Path, rng: np.random.Generator, h: int, w: int) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "left.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    write_png(folder / "right.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return "left.png", "right.png"


@pytest.fixture
def make_dataset(tmp_path: Path):
    """make_dataset(dataset_name, h=16, w=24) -> (annotation file, true disparity HxW float32).

    Writes one sample in the dataset's own disparity encoding; GT is 0 (invalid)
    on the first row and otherwise a ramp 1..~40 px with 1/32-px steps.
    """

    def make(dataset_name: str, h: int = 16, w: int = 24) -> tuple[Path, np.ndarray]:
        rng = np.random.default_rng(0)
        folder = tmp_path / dataset_name
        left, right = _pair(folder, rng, h, w)
        disp = (np.arange(h * w, dtype=np.float32).reshape(h, w) % 1280 + 32) / 32.0  # exact in /32 and /256
        disp[0] = 0.0
        name = dataset_name.lower()
        extra = ""
        if name in ("middlebury", "eth3d", "isaacrealdataset"):
            stored = np.where(disp == 0, np.inf, disp).astype(np.float32)
            write_pfm(folder / "disp.pfm", stored)
            columns = "disp.pfm"
            if name != "isaacrealdataset":
                mask = np.full((h, w), 255, np.uint8)
                mask[1, :4] = 128  # occluded -> invalid too
                write_png(folder / "mask.png", mask)
                disp[1, :4] = 0.0
                extra = " mask.png"
        elif name == "kitti":
            cv2.imwrite(str(folder / "disp.png"), np.round(disp * 256).astype(np.uint16))
            columns = "disp.png"
        elif name == "crestereo":
            cv2.imwrite(str(folder / "disp.png"), np.round(disp * 32).astype(np.uint16))
            columns = "disp.png"
        elif name == "fsd":
            value = np.round(disp * 1000).astype(np.int64)
            rgb = np.stack([value // (255 * 255), (value // 255) % 255, value % 255], axis=2).astype(np.uint8)
            write_png(folder / "disp.png", rgb)
            columns = "disp.png"
        elif name == "genericdataset":
            np.save(folder / "disp.npy", disp)
            columns = "disp.npy"
        else:
            raise ValueError(dataset_name)
        data_file = folder / "list.txt"
        data_file.write_text(f"# tiny {dataset_name}\n\n{left} {right} {columns}{extra}\n")
        return data_file, disp

    return make
