"""Search quality of `automl.make_study`'s defaults on the LCBench learning-curve surrogate.

Claim checked: the defaults (multivariate TPE + successive halving sized to the epoch count, see
automl/study.py) given 25 % of the epoch budget reach a median best validation loss (over
seeds, per task) at least as low as random search without pruning given 100 %. Budget = epochs
consumed, summed over trials; a search's best = the lowest final-epoch loss of its completed
trials (a trial cut by the budget does not count). Both arms search the same 7 LCBench
parameters; the random arm is RandomSampler without pruning.

The surrogate is YAHPO Gym's LCBench ONNX model in ../shared/data/hpo/lcbench, read directly
with onnxruntime (yahpo-gym itself pins numpy<2): inputs `x_cat` int32 [N,1] (task code from
encoding.json) and `x_cont` float32 [N,8] (epoch, batch_size, learning_rate, momentum,
weight_decay, num_layers, max_units, max_dropout); output [N,6] whose column 2 is
val_cross_entropy. One call returns a whole 52-epoch curve, so a trial costs ~1 ms.

Usage: .venv/bin/python bench/search_quality.py [--tasks ... | all] [--seeds 10] [--first-seed 0]
       [--trials 40] [--variant defaults|optuna_defaults|...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automl.study import make_study  # noqa: E402

DATA = Path(os.environ.get("DEPTH_NET_SHARED", REPO.parent / "shared")) / "data" / "hpo" / "lcbench"
MAX_EPOCHS = 52
VAL_CE = 2  # column of val_cross_entropy in the surrogate's output
DEFAULT_TASKS = ("3945", "7593", "34539", "126025", "126026")  # the first five of config_space.json

# The LCBench configuration space (config_space.json), as Optuna distributions.
SPACE = {
    "batch_size": optuna.distributions.IntDistribution(16, 512, log=True),
    "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
    "momentum": optuna.distributions.FloatDistribution(0.1, 0.99),
    "weight_decay": optuna.distributions.FloatDistribution(1e-5, 0.1),
    "num_layers": optuna.distributions.IntDistribution(1, 5),
    "max_units": optuna.distributions.IntDistribution(64, 1024, log=True),
    "max_dropout": optuna.distributions.FloatDistribution(0.0, 1.0),
}
CONT_ORDER = ("batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout")

# Variants compared by the bench; "defaults" is what make_study does with no sampler/pruner keys.
# "optuna_defaults" is plain TPESampler(seed) + HyperbandPruner() built without make_study.
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "optuna_defaults": {"plain_optuna": True},
    "previous": {"min_epochs": 2, "n_startup_trials": 5},  # first rung at max_epochs / 27, 5 startup
    "startup_5": {"n_startup_trials": 5},
    "hyperband": {"pruner": "hyperband"},
    "random_pruned": {"sampler": "random"},
    "tpe_nopruning": {"pruner": "none"},
}


class LCBench:
    """The LCBench surrogate: whole validation-loss curves for one configuration on one task."""

    def __init__(self, data_dir: Path = DATA) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(data_dir / "model.onnx"), options)
        self.codes = json.loads((data_dir / "encoding.json").read_text())["OpenML_task_id"]
        self._epochs = np.arange(1, MAX_EPOCHS + 1, dtype=np.float32)
        # Tasks of config_space.json that the model's encoding knows.
        space = json.loads((data_dir / "config_space.json").read_text())["hyperparameters"]
        choices = next(h["choices"] for h in space if h["name"] == "OpenML_task_id")
        self.tasks = [t for t in choices if t in self.codes]

    def curve(self, task: str, params: dict) -> np.ndarray:
        """val_cross_entropy at epochs 1..52 (float64 [52]) of `params` on OpenML task `task`."""
        x_cont = np.empty((MAX_EPOCHS, 8), dtype=np.float32)  # [epochs, 8]
        x_cont[:, 0] = self._epochs
        for i, name in enumerate(CONT_ORDER, start=1):
            x_cont[:, i] = params[name]
        x_cat = np.full((MAX_EPOCHS, 1), self.codes[task], dtype=np.int32)  # [epochs, 1]
        out = self.session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]  # [epochs, 6]
        return out[:, VAL_CE].astype(np.float64)


class _Budget:
    """Epochs consumed by a search; the objective stops the study when the budget is spent."""

    def __init__(self, epochs: int) -> None:
        self.limit = epochs
        self.used = 0


def _suggest(trial: optuna.Trial, name: str, dist: optuna.distributions.BaseDistribution) -> float:
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


def _objective(bench: LCBench, task: str, budget: _Budget):
    def objective(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in SPACE.items()}
        curve = bench.curve(task, params)
        for epoch in range(1, MAX_EPOCHS + 1):
            if budget.used >= budget.limit:
                trial.study.stop()
                raise optuna.TrialPruned("epoch budget spent")
            budget.used += 1
            trial.report(float(curve[epoch - 1]), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(curve[-1])

    return objective


def run_search(bench: LCBench, task: str, settings: dict, epoch_budget: int) -> dict:
    """One search on one task within `epoch_budget` epochs; best = best completed trial's final loss."""
    budget = _Budget(epoch_budget)
    if settings.get("plain_optuna"):
        sampler = optuna.samplers.TPESampler(seed=settings.get("seed"))
        study = optuna.create_study(sampler=sampler, pruner=optuna.pruners.HyperbandPruner())
    else:
        study = make_study({"metric": "val_cross_entropy", "direction": "minimize", "max_epochs": MAX_EPOCHS, **settings})
    study.optimize(_objective(bench, task, budget), n_trials=10 * epoch_budget)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min((t.value for t in complete), default=float("inf"))
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return {"best": best, "epochs": budget.used, "trials": len(study.trials), "pruned": pruned}


def compare(
    bench: LCBench,
    tasks: list[str],
    seeds: int,
    trials: int,
    fraction: float = 0.25,
    variant: str = "defaults",
    first_seed: int = 0,
) -> list[dict]:
    """Per task: median best of random@100 % (no pruning) vs `variant`@fraction over `seeds` seeds."""
    rows = []
    full = trials * MAX_EPOCHS
    for task in tasks:
        randoms, ours, epochs_ours = [], [], []
        for seed in range(first_seed, first_seed + seeds):
            randoms.append(run_search(bench, task, {"sampler": "random", "pruner": "none", "seed": seed}, full)["best"])
            result = run_search(bench, task, {**VARIANTS[variant], "seed": seed}, int(fraction * full))
            ours.append(result["best"])
            epochs_ours.append(result["epochs"])
        r_med, o_med = statistics.median(randoms), statistics.median(ours)
        rows.append(
            {
                "task": task,
                "random_full_median": r_med,
                "ours_median": o_med,
                "ratio": o_med / r_med,
                "win": o_med <= r_med,
                "random_epochs": full,
                "ours_epochs_max": max(epochs_ours),
                "random_best": randoms,
                "ours_best": ours,
            }
        )
    return rows


def _print_table(rows: list[dict], fraction: float, variant: str) -> None:
    pct = int(round(100 * fraction))
    print(f"{'task':>8} {'random@100% median':>19} {f'{variant}@{pct}% median':>24} {'ratio':>7} win?")
    for row in rows:
        print(
            f"{row['task']:>8} {row['random_full_median']:>19.4f} {row['ours_median']:>24.4f} "
            f"{row['ratio']:>7.3f} {'yes' if row['win'] else 'NO'}"
        )


def summarize(rows: list[dict]) -> dict:
    """Wins, geometric-mean ratio and the worst task of a `compare` table."""
    worst = max(rows, key=lambda r: r["ratio"])
    return {
        "wins": sum(r["win"] for r in rows),
        "tasks": len(rows),
        "geomean_ratio": math.exp(statistics.fmean(math.log(r["ratio"]) for r in rows)),
        "worst_ratio": worst["ratio"],
        "worst_task": worst["task"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), help="OpenML task ids, or: all")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed+seeds-1")
    parser.add_argument("--trials", type=int, default=40, help="random search trials at 100 %% budget")
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="defaults")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    start = time.time()
    bench = LCBench()
    tasks = sorted(bench.tasks) if args.tasks == ["all"] else args.tasks
    rows = compare(bench, tasks, args.seeds, args.trials, args.fraction, args.variant, args.first_seed)
    _print_table(rows, args.fraction, args.variant)
    summary = summarize(rows)
    print(
        f"{summary['wins']}/{len(rows)} tasks won, geometric mean ratio {summary['geomean_ratio']:.3f}, "
        f"worst {summary['worst_ratio']:.3f} ({summary['worst_task']}); seeds {args.first_seed}.."
        f"{args.first_seed + args.seeds - 1}, {time.time() - start:.0f} s"
    )
    if args.json:
        payload = {"variant": args.variant, "seeds": args.seeds, "first_seed": args.first_seed,
                   "trials": args.trials, "fraction": args.fraction, "max_epochs": MAX_EPOCHS}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**payload, **summary, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
