"""The search space from the real train schema's AutoML metadata and the spec's automl section."""

from __future__ import annotations

import optuna
import pytest

from automl.space import (
    apply_params,
    build_space,
    describe_space,
    load_train_schema,
    searchable_leaves,
    suggest_params,
    to_distributions,
)
from model.errors import SpecError

SCHEMA = load_train_schema()


def _by_name(settings: dict) -> dict:
    return {p.name: p for p in build_space(settings, SCHEMA)}


def test_defaults_come_from_the_schema_metadata() -> None:
    space = _by_name({})
    assert list(space) == SCHEMA["automl_default_parameters"]
    assert set(space) == {"train.optim.lr", "train.optim.lr_decay", "train.optim.weight_decay", "train.optim.warmup_steps"}
    lr_leaf = SCHEMA["properties"]["train"]["properties"]["optim"]["properties"]["lr"]
    # the search range is the leaf's automl_minimum / automl_maximum, not its (wider) validation limits
    assert (space["train.optim.lr"].low, space["train.optim.lr"].high) == (lr_leaf["automl_minimum"], lr_leaf["automl_maximum"])
    assert (space["train.optim.lr"].low, space["train.optim.lr"].high) == (1e-6, 1e-2)
    assert lr_leaf["maximum"] > lr_leaf["automl_maximum"]


def test_learning_rate_and_decay_are_log_scale() -> None:
    dists = to_distributions(build_space({}, SCHEMA))
    assert isinstance(dists["train.optim.lr"], optuna.distributions.FloatDistribution)
    assert dists["train.optim.lr"].log and dists["train.optim.lr_decay"].log
    assert isinstance(dists["train.optim.warmup_steps"], optuna.distributions.IntDistribution)


def test_model_keys_only_those_the_schema_marks_and_widths_only_from_scratch() -> None:
    leaves = searchable_leaves(SCHEMA)
    model = sorted(k for k in leaves if k.startswith("model."))
    assert model == ["model.corr_radius", "model.disp_head_intermediate", "model.motion_encoder_final",
                     "model.valid_iters"]
    assert not set(model) & set(SCHEMA["automl_disabled_parameters"])
    assert "model.gru_hidden" in SCHEMA["automl_disabled_parameters"]
    assert not [k for k in SCHEMA["automl_default_parameters"] if k.startswith("model.")]  # only when included
    with pytest.raises(SpecError, match="model.gru_hidden is never searched"):
        build_space({"include": ["model.gru_hidden"]}, SCHEMA)
    # training from scratch: widths may be searched; fine-tuning bp2: they may not
    space = {p.name: p for p in build_space({"include": ["model.motion_encoder_final", "model.valid_iters"]}, SCHEMA)}
    assert (space["model.motion_encoder_final"].kind, space["model.motion_encoder_final"].low) == ("int", 16)
    with pytest.raises(SpecError, match="model.motion_encoder_final is an architecture width.*pretrained_model_path"):
        build_space({"include": ["model.motion_encoder_final"]}, SCHEMA, fine_tuning=True)
    # the GRU iterations change speed, not the weights: searchable when fine-tuning too
    assert "model.valid_iters" in {p.name for p in build_space({"include": ["model.valid_iters"]}, SCHEMA,
                                                               fine_tuning=True)}


def test_narrow_widen_within_bounds_include_exclude() -> None:
    space = _by_name(
        {
            "parameters": {"train.optim.lr": {"min": 1e-5, "max": 1e-3}},
            "include": ["train.optim.optimizer"],
            "exclude": ["train.optim.warmup_steps"],
        }
    )
    assert (space["train.optim.lr"].low, space["train.optim.lr"].high, space["train.optim.lr"].log) == (1e-5, 1e-3, True)
    assert space["train.optim.optimizer"].choices == ("AdamW", "SGD")
    assert "train.optim.warmup_steps" not in space


def test_parameters_key_is_included_and_choices_narrowed() -> None:
    space = _by_name({"parameters": {"train.optim.lr_scheduler": {"choices": ["StepLR", "CosineAnnealingLR"]}}})
    assert space["train.optim.lr_scheduler"].choices == ("StepLR", "CosineAnnealingLR")


def test_range_may_widen_up_to_the_validation_limits() -> None:
    # beyond the default search range [1e-6, 1e-2] but within what train.optim.lr accepts, (0, 1]
    space = _by_name({"parameters": {"train.optim.lr": {"min": 1e-9, "max": 0.5},
                                     "train.optim.weight_decay": {"min": 0.0, "max": 0.5, "log": False}}})
    assert (space["train.optim.lr"].low, space["train.optim.lr"].high, space["train.optim.lr"].log) == (1e-9, 0.5, True)
    assert (space["train.optim.weight_decay"].low, space["train.optim.weight_decay"].log) == (0.0, False)


@pytest.mark.parametrize("key, change, bad", [
    ("train.optim.lr", {"min": 1e-5, "max": 2.0}, "[1e-05, 2.0]"),
    ("train.optim.lr", {"min": 0.0, "max": 1e-3, "log": False}, "[0.0, 0.001]"),  # exclusiveMinimum 0
    ("train.optim.weight_decay", {"min": -0.1, "max": 0.1, "log": False}, "[-0.1, 0.1]"),
    ("train.optim.warmup_steps", {"min": -5, "max": 10}, "[-5, 10]"),
])
def test_range_outside_schema_is_one_line_error(key: str, change: dict, bad: str) -> None:
    with pytest.raises(SpecError) as info:
        build_space({"parameters": {key: change}}, SCHEMA)
    msg = str(info.value)
    assert f"automl.parameters.{key}" in msg and bad in msg and "outside the schema bounds" in msg
    assert "\n" not in msg


def test_weight_decay_log_range_from_zero_needs_linear_scale() -> None:
    with pytest.raises(SpecError, match="log scale needs min > 0, got 0.0"):
        build_space({"parameters": {"train.optim.weight_decay": {"min": 0.0, "max": 0.1}}}, SCHEMA)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"include": ["train.num_epochs"]}, "train.num_epochs is not searchable"),
        ({"parameters": {"train.optim.lr": {"min": 1e-3, "max": 1e-4}}}, "must be below max"),
        ({"parameters": {"train.optim.min_lr": {"min": 0.0, "max": 1e-4, "log": True}}}, "log scale needs min > 0"),
        ({"parameters": {"train.optim.optimizer": {"choices": ["Adam"]}}}, "not allowed; the schema allows"),
        ({"exclude": ["train.bogus"]}, "train.bogus is not searchable"),
    ],
)
def test_bad_overrides(settings: dict, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        build_space(settings, SCHEMA)


def test_small_schema_dict() -> None:
    schema = {
        "automl_default_parameters": ["a.x"],
        "automl_disabled_parameters": ["a.z"],
        "properties": {
            "a": {
                "type": "object",
                "properties": {
                    "x": {"type": "integer", "minimum": 0, "maximum": 100, "automl_minimum": 1, "automl_maximum": 8,
                          "automl_enabled": True},
                    "y": {"type": "number", "minimum": 0.1, "maximum": 1.0, "automl_enabled": True, "automl_scale": "log"},
                    "z": {"type": "number", "minimum": 0, "maximum": 1, "automl_enabled": True},
                },
            }
        },
    }
    assert set(searchable_leaves(schema)) == {"a.x", "a.y"}
    space = build_space({"include": ["a.y"]}, schema)
    assert [(p.name, p.kind, p.log) for p in space] == [("a.x", "int", False), ("a.y", "float", True)]
    assert (space[0].low, space[0].high) == (1, 8)  # automl bounds
    assert (space[1].low, space[1].high) == (0.1, 1.0)  # no automl bounds: the validation limits
    assert build_space({"parameters": {"a.x": {"min": 0, "max": 100}}}, schema)[0].high == 100


def test_suggest_and_apply_params() -> None:
    space = build_space({"include": ["train.optim.optimizer"]}, SCHEMA)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = suggest_params(trial, space)
    spec = {"train": {"optim": {"lr": 1.0, "optimizer": "AdamW"}, "num_epochs": 3}}
    out = apply_params(spec, params)
    assert out["train"]["optim"]["lr"] == params["train.optim.lr"] and 1e-6 <= params["train.optim.lr"] <= 1e-2
    assert out["train"]["num_epochs"] == 3 and spec["train"]["optim"]["lr"] == 1.0  # input left alone
    rows = describe_space(space)
    assert {r["name"] for r in rows} == set(params) and rows[0]["log"] is True


def test_demo_spec_sets_its_lr_range_within_the_limits() -> None:
    from pathlib import Path

    from model.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "references" / "demo_automl.yaml", "train")
    space = {p.name: p for p in build_space(spec["automl"], SCHEMA)}
    assert set(space) == {"train.optim.lr", "train.optim.weight_decay"}
    # fine-tuning the shipped weights: from barely moving them to a step that visibly hurts them
    assert (space["train.optim.lr"].low, space["train.optim.lr"].high, space["train.optim.lr"].log) == (1e-6, 1e-3, True)


@pytest.mark.parametrize("change, bad", [
    ({"min": 0.5, "max": 10}, "min: 0.5"),  # int() would quietly search from 0, outside what was asked
    ({"min": 0, "max": 10.7}, "max: 10.7"),
])
def test_integer_key_needs_integer_bounds(change: dict, bad: str) -> None:
    with pytest.raises(SpecError) as info:
        build_space({"parameters": {"train.optim.warmup_steps": change}}, SCHEMA)
    msg = str(info.value)
    assert f"automl.parameters.train.optim.warmup_steps.{bad}" in msg and "integer" in msg and "\n" not in msg
    assert build_space({"parameters": {"train.optim.warmup_steps": {"min": 0.0, "max": 10.0}}},
                       SCHEMA)[-1].high == 10  # whole numbers written as floats are fine


def test_excluding_every_parameter_is_an_error() -> None:
    """An empty search space would train the same configuration n_trials times."""
    every = list(SCHEMA["automl_default_parameters"])
    with pytest.raises(SpecError, match="automl.exclude: .* leaves nothing to search"):
        build_space({"exclude": every}, SCHEMA)
