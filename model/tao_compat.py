"""TAO spec keys: name the ones depth_net does not use, map the ones it does.

A TAO depth_net spec loads unchanged (the schemas carry TAO's keys, see
`schemas/_sections_tao.py`). After validation this module

- names, in ONE note line on stdout, every key of the user's spec whose schema leaf
  carries `x_tao_ignored` (grouped by the reason), so no setting is dropped silently;
- maps TAO's spellings onto depth_net's keys: `tensorrt.data_type` case, `batch_size: -1`
  of evaluate / inference, the section-level TRT profile sizes and `batch_size` of
  `gen_trt_engine`, the `color_aug_*` jitter of each split, `dataset.baseline` /
  `focal_x` for inference's depth;
- refuses, in one line, what it cannot honour and would change results (a
  normalisation other than ImageNet's).
"""

from __future__ import annotations

from typing import Any, Iterator

from model.errors import SpecError

__all__ = ["ignored_keys", "note_ignored", "apply_tao_keys"]

_IMAGENET = {"input_mean": [0.485, 0.456, 0.406], "input_std": [0.229, 0.224, 0.225]}
_SPLITS = ("train_dataset", "val_dataset", "test_dataset", "infer_dataset")


def _walk(node: Any, schema: dict, path: list[str]) -> Iterator[tuple[list[str], dict]]:
    """(path, leaf schema) of every key present in `node` that the schema describes."""
    if not isinstance(node, dict):
        return
    props = schema.get("properties", {})
    for key, value in node.items():
        sub = props.get(key)
        if sub is None:
            continue
        yield path + [key], sub
        yield from _walk(value, sub, path + [key])


def ignored_keys(raw: dict, schema: dict) -> list[tuple[str, str]]:
    """(dotted key, why) of each key set in `raw` that depth_net accepts from TAO but does not use."""
    return [(".".join(p), leaf["x_tao_ignored"]) for p, leaf in _walk(raw, schema, []) if "x_tao_ignored" in leaf]


def note_ignored(raw: dict, schema: dict, source: str) -> str | None:
    """Print (and return) the one note line naming the ignored TAO keys of `raw`; None when there are none."""
    found = ignored_keys(raw, schema)
    if not found:
        return None
    groups: dict[str, list[str]] = {}
    for key, why in found:
        groups.setdefault(why, []).append(key)
    text = "; ".join(f"{', '.join(keys)} ({why})" for why, keys in groups.items())
    line = f"note: {source}: TAO keys accepted but not used here: {text}"
    print(line)
    return line


def _check_normalisation(aug: dict, where: str) -> None:
    for key, expected in _IMAGENET.items():
        value = aug.get(key)
        if value is not None and (len(value) != 3 or any(abs(float(a) - b) > 1e-3 for a, b in zip(value, expected))):
            raise SpecError(f"{where}.augmentation.{key}: {value} is not supported; allowed: ImageNet's {expected} "
                            "(every FFS checkpoint is trained with it) or null")


def _map_colour(aug: dict) -> None:
    for tao, ours in (("color_aug_brightness", "brightness"), ("color_aug_contrast", "contrast")):
        if aug.get(tao) is not None:
            aug[ours] = [1.0 - float(aug[tao]), 1.0 + float(aug[tao])]
    if aug.get("color_aug_saturation") is not None:
        aug["saturation"] = [float(v) for v in aug["color_aug_saturation"]]
    if aug.get("color_aug_hue_range") is not None:
        aug["hue"] = max(abs(float(v)) for v in aug["color_aug_hue_range"])


def _map_trt(gen: dict) -> None:
    trt = gen["tensorrt"]
    trt["data_type"] = str(trt["data_type"]).upper()
    for level in ("min", "opt", "max"):
        for dim in ("height", "width"):
            if trt.get(f"{level}_{dim}") is None and gen.get(f"{level}_{dim}") is not None:
                trt[f"{level}_{dim}"] = gen[f"{level}_{dim}"]
    batch = gen.get("batch_size")
    if batch is not None and batch >= 1:
        for level in ("min", "opt", "max"):
            trt[f"{level}_batch_size"] = batch


def apply_tao_keys(spec: dict) -> None:
    """Map TAO's keys onto depth_net's, in place, on a validated spec with defaults filled."""
    dataset = spec["dataset"]
    for split in _SPLITS:
        aug = dataset[split]["augmentation"]
        _check_normalisation(aug, f"dataset.{split}")
        _map_colour(aug)
    for action in ("evaluate", "inference"):
        if spec[action].get("batch_size") == -1:
            spec[action]["batch_size"] = None
    inference = spec["inference"]
    if inference.get("baseline_m") is None and dataset.get("baseline") is not None:
        inference["baseline_m"] = dataset["baseline"]
    if inference.get("focal_px") is None and dataset.get("focal_x") is not None:
        inference["focal_px"] = dataset["focal_x"]
    _map_trt(spec["gen_trt_engine"])
