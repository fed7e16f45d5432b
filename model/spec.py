"""Spec loading: YAML (safe) -> dotted overrides -> schema defaults -> validation -> width rules.

`load_spec(path, action, overrides)` returns the resolved plain dict every action
reads. Every problem is a `SpecError` with one line naming the file or override,
the dotted key, the bad value and what is allowed.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from model._paths import path_problem, spec_path_problem
from model._spec_messages import allowed_text, describe_error, dotted, show
from model.errors import SpecError
from model.safe_yaml import MAX_SPEC_BYTES, BoundedLoader
from model.tao_compat import apply_tao_keys, note_ignored

__all__ = ["load_spec", "load_schema", "read_yaml", "parse_override", "apply_overrides",
           "fill_defaults", "validate_spec", "SCHEMA_DIR", "ACTIONS_WITH_SCHEMA"]

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
ACTIONS_WITH_SCHEMA = ("train", "evaluate", "inference", "export", "gen_trt_engine", "convert", "automl")
_KEY = re.compile(r"^[A-Za-z_]\w*(\.(\w+))*$")


class _SpecLoader(BoundedLoader):
    """SafeLoader with YAML 1.2 scalars, duplicate-key detection and bounded alias expansion.

    YAML 1.1 reads `on`/`off`/`yes`/`no` as booleans (so `automl_policy: off` would
    become False), `1e-4` as a string and `2024-01-31` as a date; users mean the word, the
    number and the text.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise SpecError(f"{mark.name}:{mark.line + 1}: duplicate key {key!r}; each key may appear once")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _yaml_value(text: str, where: str, key: str) -> Any:
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - _SpecLoader is a SafeLoader
    except SpecError as exc:  # alias bomb / recursion / nesting: name the override, not "<unicode string>"
        raise SpecError(f"{where}: {str(exc).split(': ', 1)[-1]}") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = ""
        if text.lstrip()[:1] in "*&!%@`|>" or ": " in text or " #" in text:
            # `*/image_2/*.png` reads as a YAML alias, `a: b` as a mapping: text needs quotes
            hint = f"; to pass it as text, quote the value inside the argument: '{key}=\"{text}\"'"
        raise SpecError(f"{where}: value is not valid YAML ({problem}){hint}") from None


def read_yaml(path: str | Path) -> dict:
    """The mapping in a YAML spec file (empty file -> {})."""
    p = Path(path)
    problem = path_problem(str(p))
    if problem:
        raise SpecError(f"-e {show(str(p))}: the spec file path {problem}")
    if not p.exists():
        raise SpecError(f"{p}: spec file not found (pass an existing YAML file to -e)")
    if p.is_dir():
        raise SpecError(f"{p}: is a directory; -e expects a YAML spec file")
    if p.is_file() and p.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{p}: {p.stat().st_size} bytes; a spec is a small YAML file (at most {MAX_SPEC_BYTES} bytes)")
    try:
        with open(p, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_SpecLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "<stream end>" in problem and getattr(exc, "context_mark", None) is not None:
            mark = exc.context_mark  # an unclosed bracket: point at where it opened
            problem = "a bracket opened on this line is never closed"
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{p}{line}: malformed YAML: {problem}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{p}: not a UTF-8 text file; a spec is YAML text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(f"{p}: the spec must be a mapping of sections (results_dir, model, dataset, ...), "
                        f"got a {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.optim.lr=1e-4` -> (['train', 'optim', 'lr'], 0.0001); values are YAML-typed."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key):
        raise SpecError(f"override {text!r}: expected dotted.key=value (e.g. train.optim.lr=1e-4)")
    return key.split("."), _yaml_value(raw, f"override {text!r}", key)


def apply_overrides(spec: dict, overrides: Iterable[str]) -> list[str]:
    """Set each `dotted.key=value` in place (creating sections); returns the dotted keys set."""
    keys = []
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = spec
        for i, part in enumerate(parts[:-1]):
            node = _step(node, part, parts[: i + 1], text)
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, parts, text)] = value
        else:
            node[last] = value
        keys.append(".".join(parts))
    return keys


def _index(node: list, part: str, parts: list[str], text: str) -> int:
    if not node:
        raise SpecError(f"override {text!r}: {'.'.join(parts[:-1]) or parts[0]} is an empty list; set the whole "
                        f"list instead ({'.'.join(parts[:-1])}=[...])")
    if not part.isdigit() or int(part) >= len(node):
        raise SpecError(f"override {text!r}: {'.'.join(parts[:-1]) or parts[0]} is a list of {len(node)} "
                        f"items; use an index 0..{len(node) - 1}")
    return int(part)


def _step(node: Any, part: str, prefix: list[str], text: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, prefix, text)]
    child = node.get(part)
    if child is None:
        child = node[part] = {}
    if not isinstance(child, (dict, list)):
        raise SpecError(f"override {text!r}: {'.'.join(prefix)} is a value ({child!r}), not a section")
    return child


def _is_section(schema: dict) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def fill_defaults(schema: dict, node: dict) -> None:
    """Fill schema `default`s in place, recursively; empty (null) sections become {}."""
    for key, sub in schema.get("properties", {}).items():
        if key not in node or (node[key] is None and _is_section(sub)):
            if "default" in sub:
                node[key] = copy.deepcopy(sub["default"])
            elif _is_section(sub):
                node[key] = {}
            else:
                continue
        if _is_section(sub) and isinstance(node[key], dict):
            fill_defaults(sub, node[key])


def _map_leaves(schema: dict, node: Any, leaf: Callable[[dict, Any], Any]) -> Any:
    """A copy of `node` with `leaf(leaf_schema, value)` applied to every value below mappings and lists."""
    if isinstance(node, dict):
        props = schema.get("properties", {})
        return {k: _map_leaves(props.get(k, {}), v, leaf) for k, v in node.items()}
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        return [_map_leaves(schema["items"], v, leaf) for v in node]
    return leaf(schema, node)


def _coerce_int(schema: dict, value: Any) -> Any:
    """1e3 parses as 1000.0; where the schema says integer, hand the code an int."""
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _expand_path(schema: dict, value: Any) -> Any:
    """`~` / `~user` at the start of a `format: path` value becomes the home folder (as a shell does)."""
    if schema.get("format") == "path" and isinstance(value, str) and value.startswith("~"):
        return os.path.expanduser(value)
    return value


def load_schema(action: str) -> dict:
    """The parsed `schemas/<action>.schema.json`."""
    if action not in ACTIONS_WITH_SCHEMA:
        raise SpecError(f"action {action!r} has no schema; allowed: {', '.join(ACTIONS_WITH_SCHEMA)}")
    return json.loads((SCHEMA_DIR / f"{action}.schema.json").read_text(encoding="utf-8"))


def _origin(key: str, source: str, override_keys: list[str], overrides: list[str]) -> str:
    """The override that set `key` (the last one wins, as it does when applied), else the file."""
    key = re.sub(r"\[(\d+)\]", r".\1", key)
    for okey, text in reversed(list(zip(override_keys, overrides))):
        if key == okey or key.startswith(okey + ".") or okey.startswith(key + "."):
            return f"override {text!r}"
    return source


def _non_finite(node: Any, schema: dict, path: list) -> tuple[list, Any, dict] | None:
    """(path, value, leaf schema) of the first nan / inf number in the spec, or None.

    JSON Schema bounds do not catch nan (every comparison with it is false), and no spec key
    means anything with an infinite value.
    """
    if isinstance(node, float) and not math.isfinite(node):
        return path, node, schema
    if isinstance(node, dict):
        props = schema.get("properties", {})
        for key, value in node.items():
            found = _non_finite(value, props.get(key, {}), path + [key])
            if found:
                return found
    if isinstance(node, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        for i, value in enumerate(node):
            found = _non_finite(value, items, path + [i])
            if found:
                return found
    return None


def validate_spec(spec: dict, schema: dict, source: str = "spec",
                  override_keys: list[str] = (), overrides: list[str] = ()) -> None:
    """Raise SpecError (one line) for the most relevant schema violation, if any."""
    error = best_match(Draft202012Validator(schema).iter_errors(spec))
    if error is not None:
        key, message = describe_error(error)
        raise SpecError(f"{_origin(key, source, list(override_keys), list(overrides))}: {message}")
    found = _non_finite(spec, schema, [])
    if found is not None:
        path, value, leaf = found
        key = dotted(path)
        allowed = allowed_text(leaf) if leaf.get("type") else "a number"
        raise SpecError(f"{_origin(key, source, list(override_keys), list(overrides))}: {key}: got {show(value)}; "
                        f"allowed: {allowed} (finite)")
    bad_path = spec_path_problem(spec, schema)
    if bad_path is not None:
        path, value, problem = bad_path
        key = dotted(path)
        raise SpecError(f"{_origin(key, source, list(override_keys), list(overrides))}: {key}: {show(value)} "
                        f"{problem}")


def _check_network(spec: dict, source: str, override_keys: list[str], overrides: list[str]) -> None:
    try:
        from model.config import NetworkConfig
    except ModuleNotFoundError as exc:  # the network package lands separately
        if exc.name != "model.config":
            raise
        return
    try:
        NetworkConfig.from_dict(spec["model"], prefix="model")
    except SpecError as exc:
        touched = [f"override {t!r}" for k, t in zip(override_keys, overrides) if k.split(".")[0] == "model"]
        raise SpecError(f"{touched[0] if touched else source}: {exc}") from None


def load_spec(path: str | Path | None, action: str, overrides: Iterable[str] = ()) -> dict:
    """Load, override, default, validate; returns the resolved spec.

    Args:
        path: YAML spec file, or None to start from the schema defaults.
        action: one of ACTIONS_WITH_SCHEMA; selects `schemas/<action>.schema.json`.
        overrides: `dotted.key=value` strings, values YAML-typed.
    Returns:
        The resolved spec (plain dicts / lists), every default filled in.
    """
    overrides = list(overrides)
    schema = load_schema(action)
    spec = read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "spec"
    override_keys = apply_overrides(spec, overrides)
    raw = copy.deepcopy(spec)
    fill_defaults(schema, spec)
    validate_spec(spec, schema, source, override_keys, overrides)
    note_ignored(raw, schema, source)
    apply_tao_keys(spec)
    spec = _map_leaves(schema, spec, lambda leaf, value: _expand_path(leaf, _coerce_int(leaf, value)))
    _check_network(spec, source, override_keys, overrides)
    return spec

