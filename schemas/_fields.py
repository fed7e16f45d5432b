"""Small constructors for JSON Schema leaves, shared by build_schemas.py.

Every leaf carries a `default` and a `description`: the schema files are the
user contract and the documentation of every spec key.
"""

from __future__ import annotations

from typing import Any

# Upper limits of values the schema would otherwise take without bound (a width of 10^9 passed the
# schema and failed allocating the network; a batch of 10^9 allocating its first batch).
MAX_WIDTH = 1024  # channels of a width field (bp2's widest is 244)
MAX_SIDE = 8192  # px of an image side: crops, resizes, export / engine sizes, Synthetic images
MAX_BATCH = 256  # samples per batch
MAX_WORKERS = 64  # DataLoader worker processes
MAX_STEPS = 10_000_000  # optimizer steps (schedules, warm-up, logging periods)
MAX_EPOCHS = 100_000
MAX_SEED = 2**32 - 1  # numpy / Lightning seeds are 32-bit
MAX_COUNT = 1_000_000  # generated samples, trials
MAX_GPUS = 1024  # GPU indices / counts, nodes, processes
MAX_SECONDS = 86_400  # heartbeat periods

DATASET_NAMES = [
    "Middlebury",
    "Eth3d",
    "Kitti",
    "Crestereo",
    "FSD",
    "IsaacRealDataset",
    "GenericDataset",
    "Synthetic",
]


def _leaf(kind: Any, default: Any, desc: str, nullable: bool, **extra: Any) -> dict:
    types = [kind, "null"] if nullable else kind
    out = {"type": types, "default": default, "description": desc}
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def integer(default: Any, desc: str, minimum: int | None = None, maximum: int | None = None,
            nullable: bool = False, **extra: Any) -> dict:
    """An integer leaf with optional inclusive bounds."""
    return _leaf("integer", default, desc, nullable, minimum=minimum, maximum=maximum, **extra)


def number(default: Any, desc: str, minimum: float | None = None, maximum: float | None = None,
           nullable: bool = False, **extra: Any) -> dict:
    """A number leaf with optional inclusive bounds."""
    return _leaf("number", default, desc, nullable, minimum=minimum, maximum=maximum, **extra)


def string(default: Any, desc: str, nullable: bool = False, **extra: Any) -> dict:
    """A string leaf (a path when nullable and defaulting to null)."""
    return _leaf("string", default, desc, nullable, **extra)


def path(desc: str) -> dict:
    """An optional file path, null by default (`format: path`: a leading ~ is expanded on load)."""
    return string(None, desc, nullable=True, format="path")


def boolean(default: bool, desc: str) -> dict:
    """A true / false leaf."""
    return _leaf("boolean", default, desc, False)


def enum(default: Any, choices: list, desc: str, nullable: bool = False, **extra: Any) -> dict:
    """A leaf restricted to `choices`."""
    out = {"enum": choices + ([None] if nullable else []), "default": default, "description": desc}
    out.update(extra)
    return out


def int_list(default: Any, desc: str, length: int | None = None, minimum: int = 0,
             nullable: bool = False, min_items: int | None = None, maximum: int | None = None,
             multiple_of: int | None = None) -> dict:
    """A list of integers (exactly `length` items when given), each in [minimum, maximum]."""
    items = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        items["maximum"] = maximum
    if multiple_of is not None:
        items["multipleOf"] = multiple_of
    out = _leaf("array", default, desc, nullable, items=items)
    if length is not None:
        out["minItems"] = out["maxItems"] = length
    elif min_items is not None:
        out["minItems"] = min_items
    return out


def num_pair(default: list, desc: str, minimum: float = 0.0) -> dict:
    """A [low, high] pair of numbers."""
    return {"type": "array", "default": default, "description": desc, "minItems": 2, "maxItems": 2,
            "items": {"type": "number", "minimum": minimum}}


def section(desc: str, props: dict, **extra: Any) -> dict:
    """An object whose keys are exactly `props` (unknown keys are errors)."""
    out = {"type": "object", "description": desc, "additionalProperties": False, "properties": props}
    out.update(extra)
    return out


def searchable(leaf: dict, scale: str, automl_minimum: float | None = None,
               automl_maximum: float | None = None) -> dict:
    """Mark a leaf as searchable by AutoML with a scale (`log` | `linear`) and default search bounds.

    `minimum` / `maximum` / `exclusiveMinimum` of the leaf are validation limits (what a user may
    set); `automl_minimum` / `automl_maximum` are the default search range (AutoML falls back to
    the validation limits when they are absent). A user's `automl.parameters` range may narrow or
    widen the search range, but only within the validation limits.
    """
    out = dict(leaf)
    out["automl_enabled"] = True
    out["automl_scale"] = scale
    if automl_minimum is not None:
        out["automl_minimum"] = automl_minimum
    if automl_maximum is not None:
        out["automl_maximum"] = automl_maximum
    return out


def architecture(leaf: dict) -> dict:
    """Mark a searchable `model.*` leaf as an architecture width: changing it changes the weights'
    shapes, so AutoML searches it only when training from scratch (no train.pretrained_model_path)."""
    return {**leaf, "automl_architecture": True}
