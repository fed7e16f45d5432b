"""Spec loading: YAML, overrides, defaults, schema validation, width rules, AutoML metadata."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from model.config import NetworkConfig
from model.errors import SpecError
from model.spec import ACTIONS_WITH_SCHEMA, SCHEMA_DIR, apply_overrides, load_schema, load_spec, parse_override

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _leaf(schema: dict, dotted: str) -> dict:
    node = schema
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


@pytest.mark.parametrize("action", ACTIONS_WITH_SCHEMA)
def test_schema_is_valid_draft_2020_12(action):
    schema = load_schema(action)
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_schema_files_are_up_to_date_with_their_builder():
    spec = importlib.util.spec_from_file_location("build_schemas", SCHEMA_DIR / "build_schemas.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for action in ACTIONS_WITH_SCHEMA:
        on_disk = (SCHEMA_DIR / f"{action}.schema.json").read_text(encoding="utf-8")
        assert on_disk == builder.render(action), f"run: python schemas/build_schemas.py ({action})"


def _no_open_objects(node, path="") -> list[str]:
    bad = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
            bad.append(path)
        for key, value in node.items():
            bad += _no_open_objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            bad += _no_open_objects(value, f"{path}/{i}")
    return bad


def test_every_section_rejects_unknown_keys():
    assert _no_open_objects(load_schema("train")) == []


def test_schema_model_keys_match_network_config_fields():
    model = load_schema("evaluate")["properties"]["model"]["properties"]
    keys = {k for k, leaf in model.items() if k != "stereo_backbone" and "x_tao_ignored" not in leaf}
    keys |= {k for k, leaf in model["stereo_backbone"]["properties"].items() if "x_tao_ignored" not in leaf}
    assert keys == {f.name for f in dataclasses.fields(NetworkConfig)}


def test_schema_model_defaults_are_bp2():
    spec = load_spec(None, "evaluate")
    assert NetworkConfig.from_dict(spec["model"]) == NetworkConfig()


def test_defaults_filled_recursively(tmp_path):
    spec = load_spec(_write(tmp_path, "train:\n  optim:\n    lr: 2.0e-4\n"), "train")
    assert spec["train"]["optim"]["lr"] == pytest.approx(2e-4)
    assert spec["train"]["optim"]["optimizer"] == "AdamW"
    assert spec["dataset"]["train_dataset"]["augmentation"]["crop_size"] == [320, 736]
    assert spec["model"]["gru_hidden"] == 60
    assert spec["evaluate"]["checkpoint"] is None


def test_empty_sections_and_empty_file_are_defaults(tmp_path):
    spec = load_spec(_write(tmp_path, "evaluate:\ntrain:\n"), "evaluate")
    assert spec["evaluate"]["vis"] is False and spec["train"]["num_epochs"] >= 1
    assert load_spec(_write(tmp_path, "", "empty.yaml"), "evaluate") == spec


def test_yaml_12_scalars_exponents_and_on_off(tmp_path):
    spec = load_spec(_write(tmp_path, "train:\n  automl_policy: off\n  optim:\n    lr: 1e-4\n"), "train")
    assert spec["train"]["automl_policy"] == "off"
    assert spec["train"]["optim"]["lr"] == pytest.approx(1e-4)


def test_overrides_typed_lists_nested_and_created(tmp_path):
    spec = load_spec(None, "train", [
        "dataset.train_dataset.augmentation.crop_size=[256,512]",
        "train.optim.lr=3e-4",
        "train.precision=bf16",
        "evaluate.vis=true",
        "dataset.test_dataset.data_sources=[{dataset_name: Synthetic, num_samples: 2}]",
        "dataset.test_dataset.data_sources.0.seed=7",
        "train.optim.warmup_steps=1e2",
    ])
    assert spec["dataset"]["train_dataset"]["augmentation"]["crop_size"] == [256, 512]
    assert spec["train"]["optim"]["lr"] == pytest.approx(3e-4)
    assert spec["evaluate"]["vis"] is True
    assert spec["dataset"]["test_dataset"]["data_sources"] == [
        {"dataset_name": "Synthetic", "num_samples": 2, "seed": 7}]
    assert spec["train"]["optim"]["warmup_steps"] == 100 and isinstance(spec["train"]["optim"]["warmup_steps"], int)


def test_override_creates_missing_sections():
    spec: dict = {}
    apply_overrides(spec, ["a.b.c=[1, 2]", "a.d=x"])
    assert spec == {"a": {"b": {"c": [1, 2]}, "d": "x"}}
    assert parse_override("k=") == (["k"], None)


def test_override_index_into_an_empty_list(tmp_path):
    path = _write(tmp_path, "dataset:\n  test_dataset:\n    data_sources: []\n")
    with pytest.raises(SpecError) as info:
        load_spec(path, "evaluate", ["dataset.test_dataset.data_sources.0.num_samples=2"])
    assert "dataset.test_dataset.data_sources is an empty list" in str(info.value)
    assert "0..-1" not in str(info.value)


def test_override_wins_over_file(tmp_path):
    path = _write(tmp_path, "train:\n  seed: 5\n")
    assert load_spec(path, "train", ["train.seed=9"])["train"]["seed"] == 9


@pytest.mark.parametrize("override, needle", [
    ("train.optim.lr=abc", "train.optim.lr: got 'abc' (a string); allowed: a number in (0.0, 1.0]"),
    ("train.optim.lr=1.5", "train.optim.lr: 1.5 is not allowed; allowed: a number in (0.0, 1.0]"),
    ("train.optim.lr=0", "train.optim.lr: 0 is not allowed; allowed: a number in (0.0, 1.0]"),
    ("train.optim.weight_decay=-1e-4", "train.optim.weight_decay: -0.0001 is not allowed; allowed: a number in [0.0, 1.0]"),
    ("train.optim.lrr=0.1", "train.optim.lrr: unknown key (did you mean 'lr'?)"),
    ("train.precision=fp64", "train.precision: 'fp64' is not allowed; allowed: one of 'fp32', 'fp16', 'bf16'"),
    ("model.mask_widths=[32]", "model.mask_widths: [32] has 1 items; allowed: a list of 2 integers in [1, 1024]"),
    ("model.gru_hidden=61", "model.cnet_conv04_widths"),
    ("model.max_disparity=200", "model.max_disparity: 200 is not allowed"),
    ("dataset.train_dataset.batch_size=-2", "dataset.train_dataset.batch_size: -2 is not allowed"),
    ("dataset.val_dataset.data_sources=[{dataset_name: Kitty, data_file: a.txt}]", "dataset_name: 'Kitty'"),
    ("dataset.val_dataset.data_sources=[{dataset_name: Kitti}]", "data_sources[0].data_file: required key"),
    ("export.batch_size=0", "export.batch_size: 0 is not allowed; allowed: -1 (dynamic batch)"),
    ("evaluate.input_width=100", "multiple of 32"),
    ("nonsense=1", "nonsense: unknown key; allowed keys at the top level"),
])
def test_bad_values_one_line_naming_key_value_and_allowed(override, needle):
    with pytest.raises(SpecError) as info:
        load_spec(None, "train", [override])
    message = str(info.value)
    assert "\n" not in message
    assert needle in message
    assert message.startswith(f"override {override!r}")


def test_errors_in_file_name_the_file(tmp_path):
    path = _write(tmp_path, "train:\n  num_epochs: zero\n")
    with pytest.raises(SpecError, match=rf"^{path}: train.num_epochs: got 'zero'"):
        load_spec(path, "train")


@pytest.mark.parametrize("text, needle", [
    ("train:\n  seed: [1\n", ":2: malformed YAML"),
    ("train:\n\tseed: 1\n", ":2: malformed YAML"),
    ("train:\n  seed: 1\n  seed: 2\n", ":3: duplicate key 'seed'"),
    ("- a\n- b\n", "must be a mapping"),
])
def test_malformed_yaml_names_file_and_line(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path, "train")
    assert str(info.value).startswith(str(path)) and needle in str(info.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml", "train")


@pytest.mark.parametrize("bad", ["noequals", "bad key=1", ".lead=1", "k=[1,2"])
def test_bad_override_syntax(bad):
    with pytest.raises(SpecError, match="override"):
        load_spec(None, "train", [bad])


def test_train_schema_automl_metadata():
    schema = load_schema("train")
    lr = _leaf(schema, "train.optim.lr")
    assert lr["automl_enabled"] and lr["automl_scale"] == "log"
    assert (lr["automl_minimum"], lr["automl_maximum"]) == (1e-6, 1e-2)  # search range
    assert (lr["exclusiveMinimum"], lr["maximum"]) == (0.0, 1.0)  # validation limits
    assert _leaf(schema, "train.optim.weight_decay")["automl_scale"] == "log"
    warm = _leaf(schema, "train.optim.warmup_steps")
    assert warm["type"] == "integer" and (warm["automl_minimum"], warm["automl_maximum"]) == (0, 2000)
    assert warm["minimum"] == 0 and warm["maximum"] == 10_000_000  # a limit, not the search range
    assert _leaf(schema, "train.optim.optimizer")["enum"] == ["AdamW", "SGD"]
    for key in schema["automl_default_parameters"]:
        assert _leaf(schema, key)["automl_enabled"] is True, key
    assert not any(k.startswith("dataset.") for k in schema["automl_default_parameters"])
    assert "model.gru_hidden" in schema["automl_disabled_parameters"]
    assert _leaf(schema, "dataset.train_dataset.augmentation.color_aug_prob")["automl_enabled"]
    # augmentation does nothing outside training: never searchable there
    assert "automl_enabled" not in _leaf(schema, "dataset.val_dataset.augmentation.color_aug_prob")
    assert "automl_enabled" not in json.dumps(load_schema("evaluate"))
    # only Synthetic has right-view GT, every other dataset refuses h_flip_prob > 0: not searchable
    assert "automl_enabled" not in _leaf(schema, "dataset.train_dataset.augmentation.h_flip_prob")


def test_every_searchable_leaf_has_bounds_or_enum_and_scale():
    def walk(node, path):
        if isinstance(node, dict):
            if node.get("automl_enabled"):
                assert node["automl_scale"] in ("log", "linear"), path
                low = node.get("automl_minimum", node.get("minimum"))
                high = node.get("automl_maximum", node.get("maximum"))
                assert "enum" in node or (low is not None and high is not None and low < high), path
                if node["automl_scale"] == "log":
                    assert low > 0, path
            for key, value in node.items():
                walk(value, f"{path}.{key}")
    walk(load_schema("train"), "")


@pytest.mark.parametrize("name, action", [("train", "train"), ("evaluate", "evaluate"), ("inference", "inference"),
                                          ("export", "export"), ("deploy", "gen_trt_engine")])
def test_spec_templates_pass_their_schema_with_the_bp2_model(name, action):
    path = REPO / "references" / f"spec_template_{name}.yaml"
    assert "PLACEHOLDER" in path.read_text()
    spec = load_spec(path, action)
    assert NetworkConfig.from_dict(spec["model"]) == NetworkConfig()


def test_demo_spec_and_skill_info():
    import yaml

    spec = load_spec(REPO / "references" / "demo_spec.yaml", "evaluate")
    assert NetworkConfig.from_dict(spec["model"]) == NetworkConfig.tiny()
    info = yaml.safe_load((REPO / "references" / "skill_info.yaml").read_text())
    assert info["automl_enabled"] is True
    assert set(info["actions"]) == set(ACTIONS_WITH_SCHEMA)
    assert info["automl"]["default_parameters"] == load_schema("train")["automl_default_parameters"]


def test_validation_limits_are_wider_than_the_search_range():
    # weight decay 0 and a learning rate above the AutoML search range are legitimate settings
    spec = load_spec(None, "train", ["train.optim.weight_decay=0", "train.optim.lr=0.05", "train.optim.warmup_steps=5000",
                                     "train.clip_grad_norm=50"])
    assert spec["train"]["optim"]["weight_decay"] == 0 and spec["train"]["optim"]["lr"] == 0.05


def test_a_leading_tilde_in_a_path_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = load_spec(None, "train", [
        "results_dir=~/runs/exp", "train.pretrained_model_path=~/w/bp2.pth",
        "dataset.train_dataset.data_sources=[{dataset_name: GenericDataset, data_file: ~/data/train.txt}]",
    ])
    assert spec["results_dir"] == f"{tmp_path}/runs/exp"
    assert spec["train"]["pretrained_model_path"] == f"{tmp_path}/w/bp2.pth"
    assert spec["dataset"]["train_dataset"]["data_sources"][0]["data_file"] == f"{tmp_path}/data/train.txt"
    # only a leading tilde
    assert load_spec(None, "train", ["results_dir=runs/~x"])["results_dir"] == "runs/~x"


def test_tao_top_level_keys_load_and_are_named_as_ignored(tmp_path, capsys):
    path = tmp_path / "tao.yaml"
    path.write_text("model_name: depth_net\nencryption_key: tlt_encode\nwandb:\n  enable: true\n  project: TAO Toolkit\n"
                    "  tags: [tao-toolkit]\n", encoding="utf-8")
    spec = load_spec(path, "train")
    assert spec["model_name"] == "depth_net" and spec["wandb"]["project"] == "TAO Toolkit"
    err = capsys.readouterr().out  # a note, not an error: stdout
    assert len(err.strip().splitlines()) == 1 and "TAO keys accepted but not used here" in err
    assert "wandb.enable" in err and "encryption_key" in err and "model_name" in err
    with pytest.raises(SpecError, match="wandb"):  # still a closed section: a typo is an error
        load_spec(path, "train", ["wandb.projekt=x"])
