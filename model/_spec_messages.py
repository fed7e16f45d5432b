"""One-line messages for jsonschema validation errors: dotted key, bad value, what is allowed."""

from __future__ import annotations

import difflib

import yaml
from jsonschema.exceptions import ValidationError

__all__ = ["dotted", "show", "allowed_text", "describe_error"]

_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false", "array": "a list", "object": "a section (mapping)", "null": "null"}


def dotted(parts: list | tuple) -> str:
    """`['dataset', 'train_dataset', 'data_sources', 0, 'data_file']` -> `dataset.train_dataset.data_sources[0].data_file`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<spec root>"


def show(value: object) -> str:
    """The value as the user would have written it in YAML (quoted strings), cut to 80 chars."""
    if isinstance(value, str):
        text = repr(value)
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _range(schema: dict) -> str:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    left = f"[{lo}" if lo is not None else (f"({xlo}" if xlo is not None else None)
    right = f"{hi}]" if hi is not None else (f"{xhi})" if xhi is not None else None)
    parts = []
    if left and right:
        parts.append(f"in {left}, {right}")
    elif left:
        parts.append(f">= {lo}" if lo is not None else f"> {xlo}")
    elif right:
        parts.append(f"<= {hi}" if hi is not None else f"< {xhi}")
    if "multipleOf" in schema:
        parts.append(f"multiple of {schema['multipleOf']}")
    return ", ".join(parts)


def allowed_text(schema: dict) -> str:
    """What a leaf accepts, in words: 'null or an integer >= 32, multiple of 32'."""
    if "enum" in schema:
        return "one of " + ", ".join(show(v) for v in schema["enum"])
    if "x_allowed" in schema:
        return schema["x_allowed"]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    nullable = "null" in types
    types = [t for t in types if t != "null"]
    text = " or ".join(_TYPE_NAMES.get(t, t) for t in types) or "a value"
    if types == ["array"]:
        n_min, n_max = schema.get("minItems"), schema.get("maxItems")
        items = schema.get("items", {})
        inner = _TYPE_NAMES.get(items.get("type", ""), "value").split(" ", 1)[-1] + "s"
        count = f"{n_min} " if n_min is not None and n_min == n_max else ""
        text = f"a list of {count}{inner}"
        if _range(items):
            text += f" {_range(items)}"
        if n_min is not None and n_min != n_max:
            text += f" (at least {n_min})"
    elif _range(schema):
        text += f" {_range(schema)}"
    return ("null or " if nullable else "") + text


def _extras(error: ValidationError) -> tuple[str, list[str]]:
    known = list(error.schema.get("properties", {}))
    extra = sorted(k for k in error.instance if k not in known)
    return str(extra[0]), known


def describe_error(error: ValidationError) -> tuple[str, str]:
    """(dotted key, one-line message) for a validation error."""
    path = list(error.absolute_path)
    key = dotted(path)
    value, schema, kind = error.instance, error.schema, error.validator
    if kind == "additionalProperties" and isinstance(value, dict) and "properties" in schema:
        extra, known = _extras(error)
        key = dotted(path + [extra])
        close = difflib.get_close_matches(extra, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        where = f"under {dotted(path)}" if path else "at the top level"
        return key, f"{key}: unknown key{hint}; allowed keys {where}: {', '.join(known)}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        key = dotted(path + [missing])
        hint = " (every dataset_name but Synthetic reads a data_file)" if missing == "data_file" else ""
        return key, f"{key}: required key is missing{hint}"
    if kind == "type":
        leaf = _leaf_schema(error)
        hint = " (every dataset_name but Synthetic reads a data_file)" if key.endswith("data_file") else ""
        got = "null" if value is None else f"{show(value)} ({_kind(value)})"
        return key, f"{key}: got {got}; allowed: {allowed_text(leaf)}{hint}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "enum",
                "pattern"):
        leaf = _leaf_schema(error)
        return key, f"{key}: {show(value)} is not allowed; allowed: {allowed_text(leaf)}"
    if kind in ("minItems", "maxItems"):
        leaf = _leaf_schema(error)
        return key, f"{key}: {show(value)} has {len(value)} items; allowed: {allowed_text(leaf)}"
    if kind == "not":
        return key, f"{key}: {show(value)} is not allowed; allowed: {allowed_text(_leaf_schema(error))}"
    return key, f"{key}: {show(value)}: {error.message}".replace("\n", " ")


def _leaf_schema(error: ValidationError) -> dict:
    """The schema of the failing leaf (not just the failing keyword)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    parent = error.parent
    if parent is not None and isinstance(parent.schema, dict) and "type" not in schema:
        return parent.schema
    return schema
