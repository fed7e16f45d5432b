"""SIGINT / SIGTERM to `automl run` (in-process trials and worker processes) and to `train`: real
processes, real signals. Each stops within seconds with one line and exit code 130 / 143, marks
its running trials failed ("interrupted") and queues them to resume from their checkpoints,
ends status.json with an interrupted record, and leaves no process and no temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from automl.study import build_storage
from model.cli import main
from model.status import read_status

REPO = Path(__file__).resolve().parents[2]
STATE = optuna.trial.TrialState
pytestmark = pytest.mark.slow


def _children(pid: int) -> set[int]:
    """Every descendant process of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _spec(tmp_path: Path, tiny_spec, **automl) -> Path:
    """A tiny study: 8 train steps per epoch (one DataLoader worker process), 6 epochs, no pruning."""
    spec = tiny_spec(tmp_path / "runs", train_repeat=6,
                     train={"num_epochs": 6, "seed": 3, "log_every_n_steps": 1, "checkpoint_interval": 1,
                            "optim": {"lr": 1e-3}},
                     evaluate={"vis": False},
                     automl={"study_name": "tiny", "n_trials": 2, "max_epochs": 6, "seed": 0, "pruner": "none",
                             **automl})
    spec["dataset"]["train_dataset"]["workers"] = 1
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


class _Run:
    """A `depth_net ...` subprocess with a private TMPDIR; stdout + stderr into one file."""

    def __init__(self, tmp_path: Path, *argv: str) -> None:
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        self.log = tmp_path / "terminal.txt"
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TMPDIR": str(self.tmp)}
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "model.cli", *argv], env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.mark = 0

    def wait_for(self, ready, what: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            if ready():
                return
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"never {what}: {self.log.read_text()[-3000:]}")

    def signal(self, signum: int) -> tuple[int, float, str]:
        """Send `signum`: SIGINT to the whole process group (Ctrl-C in a terminal), SIGTERM to the command's
        process only (`kill`); returns (exit code, seconds to exit, what the terminal got after the signal)."""
        self.out.flush()
        self.mark = self.log.stat().st_size
        start = time.time()
        if signum == signal.SIGINT:
            os.killpg(self.proc.pid, signum)
        else:
            os.kill(self.proc.pid, signum)
        try:
            code = self.proc.wait(timeout=60)
        finally:
            self.stop()
        return code, time.time() - start, self.log.read_bytes()[self.mark:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def _study(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=build_storage(str(tmp_path / "runs" / "tiny" / "study.db"), {}))


def _running_with_checkpoint(tmp_path: Path, count: int):
    """Ready when `count` trials are RUNNING in the storage, each with a checkpoint and a DataLoader worker."""

    def ready() -> bool:
        # checkpoints first: opening the storage while the command creates its tables would race it
        if len(list((tmp_path / "runs" / "tiny").glob("trial_*/dn_model_latest.pth"))) < count:
            return False
        running = _study(tmp_path).get_trials(states=(STATE.RUNNING,))
        return len(running) >= count and all(
            (tmp_path / "runs" / "tiny" / f"trial_{t.number}" / "dn_model_latest.pth").is_file() for t in running)

    return ready


def _check_clean_end(code: int, seconds: float, said: str, expected_code: int, name: str, tmp_path: Path,
                     processes: set[int]) -> None:
    lines = [line for line in said.replace("\r", "\n").splitlines() if line.strip()]
    assert code == expected_code, said
    assert seconds < 30, f"took {seconds:.1f} s to stop"
    assert len(lines) == 1 and lines[0].startswith(f"Execution status: FAIL (interrupted by {name}"), lines
    assert "Traceback" not in said
    assert not [p for p in processes if _alive(p)], "a child process outlived the command"
    # torch makes its (empty) compile-cache folder torchinductor_<user> in TMPDIR on import, in every run
    left = [p.name for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("torchinductor_")]
    assert not left and not [p for p in (tmp_path / "tmp").rglob("*") if p.is_file()], "TMPDIR was not left clean"
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".lock")]


def test_sigint_to_automl_run_fails_the_trial_as_interrupted_and_the_next_run_resumes_it(tiny_spec, tmp_path):
    spec = _spec(tmp_path, tiny_spec, n_trials=1)
    run = _Run(tmp_path, "automl", "run", "-e", str(spec))
    run.wait_for(_running_with_checkpoint(tmp_path, 1), "had a RUNNING trial with a checkpoint")
    children: set[int] = set()
    run.wait_for(lambda: bool(children.update(_children(run.proc.pid)) or children), "started a DataLoader worker")
    code, seconds, said = run.signal(signal.SIGINT)
    _check_clean_end(code, seconds, said, 130, "SIGINT", tmp_path, children)
    study = _study(tmp_path)
    failed, retry = study.trials[0], study.trials[1]
    assert failed.state == STATE.FAIL and failed.user_attrs["fail_reason"] == "interrupted (SIGINT)"
    assert failed.system_attrs["interrupted"] == "SIGINT"
    assert retry.state == STATE.WAITING and retry.system_attrs["retry_history"] == [0]
    assert "trial(s) 0 marked failed" in said
    study_dir = tmp_path / "runs" / "tiny"
    last = read_status(study_dir / "status.json")[-1]
    assert last["status"] == "FAILURE" and last["interrupted"] == "SIGINT" and last["trials"] == [0]
    assert read_status(study_dir / "trial_0" / "status.json")[-1]["interrupted"] == "SIGINT"
    checkpoint = study_dir / "trial_0" / "dn_model_latest.pth"
    assert checkpoint.is_file()

    # the next run retries the interrupted trial first, from its checkpoint
    assert main(["automl", "run", "-e", str(spec), "dataset.train_dataset.workers=0"]) == 0
    study = _study(tmp_path)
    assert len(study.trials) == 2  # the retry, and no new trial: an interrupted trial is not a spent one
    assert study.trials[1].state == STATE.COMPLETE and study.trials[1].params == failed.params
    assert read_status(study_dir / "trial_1" / "status.json")[0]["resumed_from"] == str(checkpoint)


def test_sigterm_to_automl_run_stops_its_worker_processes(tiny_spec, tmp_path):
    spec = _spec(tmp_path, tiny_spec, n_workers=2, storage=str(tmp_path / "runs" / "tiny" / "study.db"))
    run = _Run(tmp_path, "automl", "run", "-e", str(spec))
    run.wait_for(_running_with_checkpoint(tmp_path, 2), "had two RUNNING trials with checkpoints")
    processes = _children(run.proc.pid)
    code, seconds, said = run.signal(signal.SIGTERM)
    _check_clean_end(code, seconds, said, 143, "SIGTERM", tmp_path, processes)
    study = _study(tmp_path)
    interrupted = [t for t in study.trials if t.state == STATE.FAIL]
    assert len(interrupted) == 2 and all(t.user_attrs["fail_reason"] == "interrupted (SIGTERM)" for t in interrupted)
    assert sorted(t.system_attrs["retry_history"][0] for t in study.trials if t.state == STATE.WAITING) == \
        sorted(t.number for t in interrupted)
    assert read_status(tmp_path / "runs" / "tiny" / "status.json")[-1]["interrupted"] == "SIGTERM"
    for log in (tmp_path / "runs" / "tiny" / "workers").glob("worker_*.log"):  # each worker: one line, exit 143
        text = log.read_text()
        assert "Traceback" not in text and "Execution status: FAIL (interrupted by SIGTERM" in text, text


@pytest.mark.parametrize("signum, expected", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_train_stops_it_cleanly(tiny_spec, tmp_path, signum: int, expected: int):
    spec = _spec(tmp_path, tiny_spec)
    out = tmp_path / "runs" / "train"
    run = _Run(tmp_path, "train", "-e", str(spec), "--automl-policy", "off")
    children: set[int] = set()
    run.wait_for(lambda: (out / "dn_model_latest.pth").is_file(), "wrote a checkpoint")
    run.wait_for(lambda: bool(children.update(_children(run.proc.pid)) or children), "started a DataLoader worker")
    code, seconds, said = run.signal(signum)
    name = signal.Signals(signum).name
    _check_clean_end(code, seconds, said, expected, name, tmp_path, children)
    last = read_status(out / "status.json")[-1]
    assert last["status"] == "FAILURE" and last["interrupted"] == name and "resumes from" in last["message"]
