"""Trials sharing a GPU: MPS said in one line where the driver offers none, memory share per worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from automl.mps import shared_gpu
from model.training.fast import MEMORY_FRACTION_ENV


def test_one_trial_per_gpu_or_no_gpu_changes_nothing(tmp_path):
    with shared_gpu(1, 1, tmp_path) as (env, note):
        assert env == {} and note is None
    with shared_gpu(4, 0, tmp_path) as (env, note):
        assert env == {} and note is None


@pytest.mark.skipif(shutil.which("nvidia-cuda-mps-control") is not None, reason="this machine has CUDA MPS")
def test_without_mps_one_line_and_a_memory_share(tmp_path):
    with shared_gpu(4, 1, tmp_path) as (env, note):
        assert env == {MEMORY_FRACTION_ENV: "0.2375"}
        assert "CUDA MPS not available" in note and "\n" not in note and "4 trials per GPU" in note
    assert not (tmp_path / "mps_pipe").exists()  # nothing started, nothing left


def test_the_share_reaches_a_training_process(tmp_path):
    """A worker's environment caps its process (a real child process reads it back)."""
    code = ("from model.training.fast import apply_memory_fraction; import torch; "
            "f = apply_memory_fraction(); print('cuda' if torch.cuda.is_available() else 'cpu', f)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, MEMORY_FRACTION_ENV: "0.3"},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == (["cuda", "0.3"] if out[0] == "cuda" else ["cpu", "None"])
