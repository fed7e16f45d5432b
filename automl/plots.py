"""`automl plot`: pictures of a study as PNG (matplotlib) + HTML (plotly), axes named by the study's metrics.

Single objective: optimisation history, parameter importance and learning curves (x axis
"epoch", y axis the metric). Multi-objective: the Pareto front (also printed as text: one line
per point) and one optimisation history per objective; Optuna keeps no per-epoch values in a
multi-objective study, so there are no learning curves from the storage.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import optuna

from automl.pareto import metric_names, pareto_front
from model.errors import SpecError

__all__ = ["write_plots", "front_lines"]

STATE = optuna.trial.TrialState


def front_lines(study: optuna.Study) -> list[str]:
    """The Pareto front as text: a header line, then one line per point (most accurate first)."""
    names = metric_names(study)
    front = pareto_front(study)
    lines = [f"pareto front: {len(front)} point(s) of {sum(t.state == STATE.COMPLETE for t in study.trials)} "
             f"completed trials ({', '.join(names)})"]
    for trial in front:
        lines.append(f"  trial {trial.number}: " + ", ".join(f"{n} {v:.4g}" for n, v in zip(names, trial.values)))
    return lines


def _figures(study: optuna.Study) -> dict[str, tuple[str | None, Callable, Callable]]:
    """{name: (why it cannot be drawn or None, matplotlib figure maker, plotly figure maker)}."""
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as mvis

    trials = study.get_trials(deepcopy=False)
    complete = sum(t.state == STATE.COMPLETE for t in trials)
    names = metric_names(study)
    if len(names) > 1:
        out = {"pareto_front": (None if complete else "no completed trial",
                                lambda: mvis.plot_pareto_front(study, target_names=names),
                                lambda: vis.plot_pareto_front(study, target_names=names))}
        for i, name in enumerate(names):
            def target(t: optuna.trial.FrozenTrial, i: int = i) -> float:
                return t.values[i]

            safe = name.replace("/", "_")
            out[f"optimization_history_{safe}"] = (
                None if complete else "no completed trial",
                lambda target=target, name=name: mvis.plot_optimization_history(study, target=target, target_name=name),
                lambda target=target, name=name: vis.plot_optimization_history(study, target=target, target_name=name))
        out["intermediate_values"] = ("multi-objective: Optuna keeps no per-epoch values (each trial's curve is "
                                      "in its `curve` user attr)", None, None)
        return out
    name = names[0]

    def curves_mpl():
        ax = mvis.plot_intermediate_values(study)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        return ax

    return {
        "optimization_history": ("no completed trial" if not complete else None,
                                 lambda: mvis.plot_optimization_history(study, target_name=name),
                                 lambda: vis.plot_optimization_history(study, target_name=name)),
        "param_importances": ("fewer than 2 completed trials" if complete < 2 else None,
                              lambda: mvis.plot_param_importances(study, target_name=name),
                              lambda: vis.plot_param_importances(study, target_name=name)),
        "intermediate_values": (None if any(t.intermediate_values for t in trials) else "no trial reported a metric",
                                curves_mpl,
                                lambda: vis.plot_intermediate_values(study).update_layout(
                                    xaxis_title="epoch", yaxis_title=name)),
    }


def write_plots(study: optuna.Study, out_dir: Path) -> list[str]:
    """Write the study's pictures into `out_dir`; returns their paths.

    A picture without data is skipped with a printed reason (no empty pictures); a study with
    nothing to draw at all is a SpecError, and nothing is written. A multi-objective study also
    prints its Pareto front.
    """
    trials = study.get_trials(deepcopy=False)
    figures = _figures(study)
    if all(why for why, _, _ in figures.values()):
        counts = {s: sum(t.state == s for t in trials) for s in STATE}
        raise SpecError(
            f"automl plot: study {study.study_name!r} has nothing to plot yet ({len(trials)} trials: "
            f"{counts[STATE.COMPLETE]} complete, {counts[STATE.PRUNED]} pruned, {counts[STATE.FAIL]} failed)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (why_not, mpl, plotly) in figures.items():
        if why_not:
            print(f"plot {name} skipped: {why_not}")
            continue
        try:
            with warnings.catch_warnings():  # the matplotlib plots are "experimental" in Optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                ax = mpl()
                fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
                fig.savefig(out_dir / f"{name}.png", dpi=100, bbox_inches="tight")
                plt.close(fig)
                written.append(str(out_dir / f"{name}.png"))
                plotly().write_html(str(out_dir / f"{name}.html"), include_plotlyjs="cdn")
                written.append(str(out_dir / f"{name}.html"))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # e.g. importance of a parameter that never varied
            print(f"plot {name} skipped: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if len(study.directions) > 1:
        for line in front_lines(study):
            print(line)
    return written
