"""Helpers of the bad-input tests (issue 17): a private system temp folder per CLI run, and the
checks every refusal must pass (exit 2, one `Error:` line naming the file / key, no traceback,
nothing in the results folder or the system temp folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from model.cli import main
from model.config import NetworkConfig
from model.data.io import write_pfm

REPO = Path(__file__).resolve().parents[3]


# Sample files of the data tests: a random stereo pair with a constant-disparity PFM, an
# annotation file of such rows, the override naming it, and a tiny Synthetic source per split.
SYNTH_TRAIN = "dataset.train_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 2, image_size: [64, 96]}]"


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


@pytest.fixture
def files():
    """The sample-file helpers: pair(folder, index, shape), annotation(tmp, rows, name), source(split,
    data_file), and the Synthetic overrides synth_train / synth_test."""
    return SimpleNamespace(pair=_pair, annotation=_annotation, source=_source, synth_train=SYNTH_TRAIN,
                           synth_test=SYNTH_TRAIN.replace("train_dataset", "test_dataset"))


@pytest.fixture
def write_spec(tmp_path):
    """Factory: tmp_path/spec.yaml with results_dir tmp_path/runs, the tiny network and `**sections`."""

    def write(**sections) -> Path:
        model = NetworkConfig.tiny().to_dict()
        model["stereo_backbone"]["edgenext_pretrained_path"] = None
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump({"results_dir": str(tmp_path / "runs"), "model": model, **sections}),
                        encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_cli(tmp_path):
    """Factory: `python -m model.cli ARGS` in a subprocess whose system temp folder is tmp_path/systmp
    (torch's compile cache, which torch creates on import for every run, is pointed elsewhere)."""

    def run(args: list[str], timeout: float = 120, preexec=None) -> subprocess.CompletedProcess:
        systmp = tmp_path / "systmp"
        systmp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(systmp), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"),
               "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        return subprocess.run([sys.executable, "-m", "model.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)

    return run


@pytest.fixture
def refused(tmp_path):
    """Check a `run_cli` result: exit 2, one `Error:` line with the needles, no traceback, nothing
    in tmp_path/runs (unless `results`) or the system temp folder. Returns the line."""

    def check(proc: subprocess.CompletedProcess, *needles: str, results: bool = False) -> str:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
        assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
        for needle in needles:
            assert needle in lines[0], lines[0]
        assert "Execution status: PASS" not in proc.stdout
        if not results:
            assert not (tmp_path / "runs").exists(), sorted(str(p) for p in (tmp_path / "runs").rglob("*"))
        assert sorted(p.name for p in (tmp_path / "systmp").iterdir()) == [], "left in the system temp folder"
        return lines[0]

    return check


@pytest.fixture
def refused_in_process(tmp_path, capfd):
    """Run `main(argv)` here: exit 2, one `Error:` line on the stderr file descriptor (so also no
    libpng / OpenCV line), the needles in it, no tmp_path/runs. Returns the line."""

    def check(argv: list[str], *needles: str) -> str:
        rc = main(argv)
        out, err = capfd.readouterr()
        lines = [line for line in err.splitlines() if line.strip()]
        assert rc == 2, (rc, out, err)
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
        for needle in needles:
            assert needle in lines[0], lines[0]
        assert not (tmp_path / "runs").exists(), "results folder must not be created on a bad input"
        return lines[0]

    return check
