"""How well a pruner's ranking at its first rung keeps the configurations that end best (LCBench).

    python bench/rung_ranking.py [--configs 1000] [--rung 8] [--json out.json]

For each of the 34 LCBench tasks, `--configs` random configurations (one seeded draw, the same on
every task) get their whole 52-epoch validation-loss curves from the surrogate. The "good" ones
are those whose final loss is in the best 5 % of the task. At the rung, the trials that would go
on are the best fraction (a third, a quarter) ranked by the value at the rung (successive
halving), by the trend score (automl/trend_pruner.py) or by either of the two (trend halving).
The table gives, per rule, the share of the good configurations kept (mean and worst task) and
the share of all configurations that go on (the cost). A rule that keeps more of the good ones
for the same cost cuts fewer of the trials a search is looking for.

A second table rates stand-ins a GP sampler could fit for a trial pruned at the rung: its value
there (damping 0, what automl/gp_sampler.py fits) or its curve projected to the last epoch along
a share (damping) of its recent power law (`projected`). Over the configurations whose final
loss is in the best quarter of the task (the region the model must get right): the median
|log(stand-in / final)| and the rank correlation of stand-in and final, mean and worst task.
A better stand-in did not make a better search (bench/results/search_quality/README.md, step 6).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from automl.trend_pruner import trend_score  # noqa: E402
from search_quality import DATA, MAX_EPOCHS, SPACE, LCBench  # noqa: E402


def random_configs(n: int, seed: int = 1) -> list[dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask(SPACE).params for _ in range(n)]


def kept(curves: np.ndarray, rung: int, fraction: float) -> dict:
    """Per rule: share of the best-5 % finals that go on at `rung`, and share of all that go on."""
    final = curves[:, -1]
    good = final <= np.quantile(final, 0.05)
    value = curves[:, rung - 1]
    trend = np.array([trend_score({e + 1: c[e] for e in range(rung)}, rung, MAX_EPOCHS) for c in curves])
    by_value = value <= np.quantile(value, fraction)
    by_trend = trend <= np.quantile(trend, fraction)
    rules = {"value": by_value, "trend": by_trend, "either": by_value | by_trend}
    return {name: {"good_kept": float(on[good].mean()), "go_on": float(on.mean())} for name, on in rules.items()}


DAMPINGS = (0.0, 0.3, 0.5, 0.7, 1.0)


def projected(values: dict[int, float], horizon: int, damping: float) -> float:
    """v(e) * (horizon / e) ** (damping * min(0, b)), e the last epoch, b the slope of log v on log epoch over e/2..e."""
    last = max(values)
    value = values[last]
    points = np.array([(np.log(e), np.log(v)) for e, v in values.items() if last // 2 <= e <= last and v > 0])
    if value <= 0 or len(points) < 2 or last >= horizon:
        return value
    slope = float(np.polyfit(points[:, 0], points[:, 1], 1)[0])
    return value * float(np.exp(damping * min(0.0, slope) * np.log(horizon / last)))


def stand_ins(curves: np.ndarray, rung: int) -> dict:
    """Per damping: median |log(stand-in / final)| and Spearman rho over the best-quarter finals."""
    from scipy.stats import spearmanr

    final = curves[:, -1]
    good = final <= np.quantile(final, 0.25)
    out = {}
    for damping in DAMPINGS:
        stand = np.array([projected({e + 1: c[e] for e in range(rung)}, MAX_EPOCHS, damping)
                          for c in curves[good]])
        out[str(damping)] = {"median_abs_log_error": float(np.median(np.abs(np.log(stand / final[good])))),
                             "spearman": float(spearmanr(stand, final[good])[0])}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--rung", type=int, default=8)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    bench = LCBench(DATA)
    configs = random_configs(args.configs)
    fractions = {"third": 1 / 3, "quarter": 1 / 4}
    per_task = {}
    for task in bench.tasks:
        curves = bench.curves(task, configs)
        per_task[task] = {name: kept(curves, args.rung, f) for name, f in fractions.items()}
        per_task[task]["stand_in"] = stand_ins(curves, args.rung)
    summary = {}
    print(f"rung {args.rung} of {MAX_EPOCHS}, {args.configs} random configurations, {len(per_task)} tasks")
    print(f"{'fraction':8s} {'rule':7s} {'good kept (mean)':>16s} {'(worst task)':>13s} {'go on (mean)':>13s}")
    for name in fractions:
        for rule in ("value", "trend", "either"):
            good = [per_task[t][name][rule]["good_kept"] for t in per_task]
            on = [per_task[t][name][rule]["go_on"] for t in per_task]
            worst = min(per_task, key=lambda t: per_task[t][name][rule]["good_kept"])
            summary[f"{name}/{rule}"] = {"good_kept_mean": float(np.mean(good)), "good_kept_worst": float(min(good)),
                                         "worst_task": worst, "go_on_mean": float(np.mean(on))}
            print(f"{name:8s} {rule:7s} {np.mean(good):16.3f} {min(good):8.3f} {worst:>6s} {np.mean(on):12.3f}")
    print("\nstand-in of a trial pruned at the rung (configurations with best-quarter finals)")
    print(f"{'damping':>7s} {'median |log err| (mean)':>24s} {'(worst)':>8s} {'spearman (mean)':>16s} {'(worst)':>8s}")
    for damping in map(str, DAMPINGS):
        err = [per_task[t]["stand_in"][damping]["median_abs_log_error"] for t in per_task]
        rho = [per_task[t]["stand_in"][damping]["spearman"] for t in per_task]
        summary[f"stand_in/{damping}"] = {"median_abs_log_error_mean": float(np.mean(err)),
                                          "median_abs_log_error_worst": float(max(err)),
                                          "spearman_mean": float(np.mean(rho)), "spearman_worst": float(min(rho))}
        print(f"{damping:>7s} {np.mean(err):24.3f} {max(err):8.3f} {np.mean(rho):16.3f} {min(rho):8.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rung": args.rung, "configs": args.configs, "summary": summary,
                                               "tasks": per_task}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
