"""The search space: schemas/train.schema.json AutoML metadata + the spec's `automl` section.

Searchable leaves carry `automl_enabled: true`, the default search range `automl_minimum` /
`automl_maximum` (falling back to the validation limits `minimum` / `maximum`) or `enum`, and
`automl_scale` (log | linear); the root lists `automl_default_parameters` and
`automl_disabled_parameters`. The spec narrows or widens a range within the schema's validation
limits (`minimum` / `maximum` / `exclusiveMinimum`: what a user may set the key to) through
`automl.parameters: {train.optim.lr: {min, max, log}}`, adds keys (`automl.include`) and
drops them (`automl.exclude`). `model.*` keys are searched only when the schema marks them
searchable and a user includes them; those marked `automl_architecture` (widths: a new width
would not load the fine-tuning checkpoint) only when training from scratch. Pure functions:
values in, values out.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from model.errors import SpecError

__all__ = [
    "ParamSpec",
    "build_space",
    "space_for",
    "searchable_leaves",
    "load_train_schema",
    "to_distributions",
    "suggest_params",
    "apply_params",
    "describe_space",
]

REPO = Path(__file__).resolve().parents[1]
_MODEL = "model."


@dataclass(frozen=True)
class ParamSpec:
    """One searched key: float / int ranges (with log scale) or categorical choices."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution of this parameter."""
        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(list(self.choices or ()))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)


def load_train_schema(repo_root: str | Path | None = None) -> dict:
    """schemas/train.schema.json of this checkout (or of `repo_root`)."""
    path = Path(repo_root or REPO) / "schemas" / "train.schema.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: not found; AutoML is not runnable until it exists") from None


def searchable_leaves(schema: dict) -> dict[str, dict]:
    """{dotted key: schema leaf} of every `automl_enabled` leaf, minus the disabled ones."""
    disabled = set(schema.get("automl_disabled_parameters", ()))
    found: dict[str, dict] = {}

    def walk(node: dict, path: str) -> None:
        if node.get("automl_enabled") and path not in disabled:
            found[path] = node
        for key, child in (node.get("properties") or {}).items():
            if isinstance(child, dict):
                walk(child, f"{path}.{key}" if path else key)

    walk(schema, "")
    return found


def _base_spec(name: str, leaf: dict) -> ParamSpec:
    """The schema's default search range for a searchable leaf."""
    if "enum" in leaf:
        return ParamSpec(name, "categorical", choices=tuple(leaf["enum"]))
    types = leaf.get("type")
    types = types if isinstance(types, list) else [types]
    kind = "int" if "integer" in types else "float"
    low, high = leaf.get("automl_minimum", leaf.get("minimum")), leaf.get("automl_maximum", leaf.get("maximum"))
    if low is None or high is None:
        raise SpecError(f"schemas/train.schema.json: {name} is automl_enabled but has no "
                        "automl_minimum/automl_maximum (or minimum/maximum)")
    log = leaf.get("automl_scale", "linear") == "log"
    return ParamSpec(name, kind, low=low, high=high, log=log)


def _limits_text(leaf: dict) -> str:
    lo = f"[{leaf['minimum']}" if "minimum" in leaf else (
        f"({leaf['exclusiveMinimum']}" if "exclusiveMinimum" in leaf else "(-inf")
    hi = f"{leaf['maximum']}]" if "maximum" in leaf else (
        f"{leaf['exclusiveMaximum']})" if "exclusiveMaximum" in leaf else "inf)")
    return f"{lo}, {hi}"


def _within_limits(value: float, leaf: dict) -> bool:
    """Whether `value` passes the leaf's validation limits (what the spec key may be set to)."""
    return not (("minimum" in leaf and value < leaf["minimum"])
                or ("exclusiveMinimum" in leaf and value <= leaf["exclusiveMinimum"])
                or ("maximum" in leaf and value > leaf["maximum"])
                or ("exclusiveMaximum" in leaf and value >= leaf["exclusiveMaximum"]))


def _override(base: ParamSpec, change: dict, leaf: dict) -> ParamSpec:
    """`automl.parameters.<key>` applied to the default search range; outside the schema's
    validation limits (the values the key may take at all) is an error."""
    where = f"automl.parameters.{base.name}"
    if base.kind == "categorical":
        if set(change) - {"choices"}:
            raise SpecError(f"{where}: a categorical key takes only choices (from {list(base.choices)})")
        choices = tuple(change.get("choices", base.choices))
        bad = [c for c in choices if c not in base.choices]
        if bad or not choices:
            raise SpecError(f"{where}.choices: {bad or '[]'} not allowed; the schema allows {list(base.choices)}")
        return ParamSpec(base.name, "categorical", choices=choices)
    if "choices" in change:
        raise SpecError(f"{where}: choices are for enum keys; use min / max for this {base.kind} key")
    low, high = change.get("min", base.low), change.get("max", base.high)
    log = bool(change.get("log", base.log))
    for bound, value in (("min", low), ("max", high)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where}.{bound}: {value!r} is not a number")
        if base.kind == "int" and value != int(value):
            raise SpecError(f"{where}.{bound}: {value!r} is not an integer; {base.name} takes whole numbers")
    if not (_within_limits(low, leaf) and _within_limits(high, leaf)):
        raise SpecError(
            f"{where}: range [{low}, {high}] is outside the schema bounds {_limits_text(leaf)} of {base.name}; "
            "choose min / max within them"
        )
    if low >= high:
        raise SpecError(f"{where}: min {low} must be below max {high}")
    if log and low <= 0:
        raise SpecError(f"{where}: log scale needs min > 0, got {low}; set min > 0 or log: false")
    if base.kind == "int":
        low, high = int(low), int(high)
    return ParamSpec(base.name, base.kind, low=low, high=high, log=log)


def build_space(settings: dict, schema: dict, fine_tuning: bool = False) -> list[ParamSpec]:
    """The searched parameters, in a stable order.

    Args:
        settings: the spec's `automl` section (parameters, include, exclude).
        schema: the train schema (its AutoML metadata).
        fine_tuning: the trials start from `train.pretrained_model_path`: architecture widths
            (`automl_architecture` leaves) cannot be searched.
    Returns: a list of ParamSpec. Raises SpecError naming the key for anything not searchable.
    """
    leaves = searchable_leaves(schema)
    overrides: dict[str, dict] = dict(settings.get("parameters") or {})
    names = list(schema.get("automl_default_parameters", ()))
    names += [k for k in list(settings.get("include") or ()) + list(overrides) if k not in names]
    excluded = set(settings.get("exclude") or ())
    for key in list(excluded) + names:
        _check_searchable(key, leaves)
    widths = [k for k in names if k not in excluded and leaves[k].get("automl_architecture")]
    if fine_tuning and widths:
        raise SpecError(f"automl: {widths[0]} is an architecture width: a new width would not load the fine-tuning "
                        "checkpoint train.pretrained_model_path; search it only when training from scratch "
                        "(train.pretrained_model_path: null)")
    space = []
    for name in names:
        if name in excluded:
            continue
        base = _base_spec(name, leaves[name])
        space.append(_override(base, overrides[name], leaves[name]) if name in overrides else base)
    if not space:  # every trial would train the same configuration
        where = f"automl.exclude: {sorted(excluded)} leaves" if excluded else "automl: the schema's defaults leave"
        raise SpecError(f"{where} nothing to search; keep at least one parameter or add one with "
                        f"automl.include (searchable: {', '.join(sorted(leaves))})")
    return space


def _check_searchable(key: str, leaves: dict[str, dict]) -> None:
    if key in leaves:
        return
    if key.startswith(_MODEL):
        model = sorted(k for k in leaves if k.startswith(_MODEL))
        raise SpecError(f"automl: {key} is never searched (widths tied to other widths or to the checkpoint); "
                        f"searchable model keys: {', '.join(model)}")
    raise SpecError(f"automl: {key} is not searchable; searchable keys: {', '.join(sorted(leaves))}")


def space_for(spec: dict, settings: dict | None = None, schema: dict | None = None) -> list[ParamSpec]:
    """`build_space` for a resolved spec: fine-tuning when `train.pretrained_model_path` is set."""
    fine_tuning = bool((spec.get("train") or {}).get("pretrained_model_path"))
    settings = spec.get("automl") or {} if settings is None else settings
    return build_space(settings, schema or load_train_schema(), fine_tuning=fine_tuning)


def to_distributions(space: list[ParamSpec]) -> dict[str, optuna.distributions.BaseDistribution]:
    """{name: Optuna distribution} for `study.ask(...)` / `trial._suggest`."""
    return {p.name: p.distribution() for p in space}


def suggest_params(trial: optuna.Trial, space: list[ParamSpec]) -> dict[str, Any]:
    """Ask the trial for one value of every parameter."""
    params: dict[str, Any] = {}
    for p in space:
        if p.kind == "categorical":
            params[p.name] = trial.suggest_categorical(p.name, list(p.choices or ()))
        elif p.kind == "int":
            params[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            params[p.name] = trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)
    return params


def apply_params(spec: dict, params: dict[str, Any]) -> dict:
    """A deep copy of `spec` with every dotted key of `params` set."""
    out = copy.deepcopy(spec)
    for name, value in params.items():
        node = out
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def describe_space(space: list[ParamSpec]) -> list[dict]:
    """JSON-ready rows: name, type, low, high, log, choices."""
    return [
        {"name": p.name, "type": p.kind, "low": p.low, "high": p.high, "log": p.log,
         "choices": list(p.choices) if p.choices else None}
        for p in space
    ]
