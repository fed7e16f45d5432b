"""depth_net AutoML: the automl_policy resolver, schema-driven Optuna studies, workers, hand-off.

Public entries: `resolve_policy` (does `train` run a study?), `make_study` (the one study
factory, usable with any objective), `build_space` (search space from the train schema) and
`run_study` (one whole AutoML run from a resolved spec). Heavy modules load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["resolve_policy", "make_study", "build_space", "run_study"]


def __getattr__(name: str) -> Any:
    if name == "resolve_policy":
        from automl.policy import resolve_policy

        return resolve_policy
    if name == "make_study":
        from automl.study import make_study

        return make_study
    if name == "build_space":
        from automl.space import build_space

        return build_space
    if name == "run_study":
        from automl.run import run_study

        return run_study
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
