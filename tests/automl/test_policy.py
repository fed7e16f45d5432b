"""The automl_policy resolver: every rule, every phrase, explicit values beating phrases."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.policy import record_decision, request_asks_off, resolve_policy
from model.errors import SpecError
from model.status import StatusLogger, read_status


def _repo(tmp_path: Path, enabled: bool | None = True, schema: bool = True, template: bool = True) -> Path:
    (tmp_path / "references").mkdir()
    (tmp_path / "schemas").mkdir()
    if enabled is not None:
        (tmp_path / "references" / "skill_info.yaml").write_text(f"name: depth_net\nautoml_enabled: {str(enabled).lower()}\n")
    if schema:
        (tmp_path / "schemas" / "train.schema.json").write_text("{}")
    if template:
        (tmp_path / "references" / "spec_template_train.yaml").write_text("train: {}\n")
    return tmp_path


OFF_PHRASES = [
    "turn off AutoML",
    "Please TURN OFF automl for this run",
    "disable AutoML",
    "disable the hpo, thanks",
    "no HPO",
    "No AutoML please",
    "plain training",
    "just do a plain training run on my data",
    "fine-tune without AutoML",
    "switch off HPO",
    "switch hpo off",
    "don't use AutoML",
    "Don\u2019t use automl",
    "do not run a hyperparameter search",
    "skip the hyperparameter tuning",
    "train directly, no optuna",
    "automl: off",
    "no auto-ml",
    "no need for HPO",
    "AutoML is not needed here",
]
AUTO_PHRASES = [
    None,
    "",
    "fine-tune on my warehouse data",
    "use AutoML to find a good learning rate",
    "no problem if it takes an hour",
    "run a study with no search space changes",
    "don't disable AutoML",
    "train the model",
    # a phrase that asks for no AutoML, itself negated: the request asks for AutoML
    "run AutoML, not plain training",
    "use AutoML instead of a plain training run",
    "I want an HPO study rather than direct training",
]


@pytest.mark.parametrize("request_text", OFF_PHRASES)
def test_off_phrases_mean_direct(tmp_path: Path, request_text: str) -> None:
    decision = resolve_policy(request=request_text, repo_root=_repo(tmp_path))
    assert (decision.policy, decision.automl_policy) == ("direct", "off")
    assert "request text" in decision.rule


@pytest.mark.parametrize("request_text", AUTO_PHRASES)
def test_other_requests_mean_auto_and_a_study(tmp_path: Path, request_text: str | None) -> None:
    assert request_asks_off(request_text) is None
    decision = resolve_policy(request=request_text, repo_root=_repo(tmp_path))
    assert (decision.policy, decision.automl_policy) == ("automl", "auto")
    assert "AutoML study" in decision.rule


def test_explicit_flag_beats_phrase(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    for value in ("auto", "on"):
        decision = resolve_policy(request="turn off AutoML", explicit=value, repo_root=root)
        assert decision.policy == "automl" and decision.automl_policy == value
        assert f"--automl-policy {value}" in decision.rule


def test_spec_value_beats_phrase_and_flag_beats_spec(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    spec_on = {"train": {"automl_policy": "on"}}
    assert resolve_policy(request="no HPO", spec=spec_on, repo_root=root).policy == "automl"
    spec_off = {"train": {"automl_policy": "off"}}
    decision = resolve_policy(request="use automl", spec=spec_off, repo_root=root)
    assert decision.policy == "direct" and "train.automl_policy=off" in decision.rule
    assert resolve_policy(explicit="on", spec=spec_off, repo_root=root).policy == "automl"
    # A spec value of auto (the schema default) does not silence the request text.
    assert resolve_policy(request="no HPO", spec={"train": {"automl_policy": "auto"}}, repo_root=root).policy == "direct"


def test_explicit_off_is_direct(tmp_path: Path) -> None:
    decision = resolve_policy(explicit="off", repo_root=_repo(tmp_path))
    assert decision.policy == "direct" and "--automl-policy off" in decision.rule


def test_disabled_in_skill_info_is_direct(tmp_path: Path) -> None:
    decision = resolve_policy(repo_root=_repo(tmp_path, enabled=False))
    assert decision.policy == "direct" and "automl_enabled: false" in decision.rule


def test_missing_skill_info_is_direct(tmp_path: Path) -> None:
    decision = resolve_policy(repo_root=_repo(tmp_path, enabled=None))
    assert decision.policy == "direct" and "skill_info.yaml" in decision.rule


def test_missing_schema_says_not_runnable(tmp_path: Path) -> None:
    decision = resolve_policy(repo_root=_repo(tmp_path, schema=False))
    assert decision.policy == "direct"
    assert "AutoML is enabled but not runnable until schemas/train.schema.json exists" in decision.rule


def test_missing_template_says_not_runnable(tmp_path: Path) -> None:
    decision = resolve_policy(repo_root=_repo(tmp_path, template=False))
    assert decision.policy == "direct"
    assert "not runnable until references/spec_template_train.yaml exists" in decision.rule


def test_on_with_missing_schema_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not runnable until schemas/train.schema.json"):
        resolve_policy(explicit="on", repo_root=_repo(tmp_path, schema=False))


def test_on_overrides_disabled_skill_info(tmp_path: Path) -> None:
    decision = resolve_policy(explicit="on", repo_root=_repo(tmp_path, enabled=False))
    assert decision.policy == "automl" and "overrides automl_enabled" in decision.rule


def test_bad_policy_value_is_one_line_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"--automl-policy: 'maybe' is not allowed; use one of auto, on, off") as info:
        resolve_policy(explicit="maybe", repo_root=_repo(tmp_path))
    assert "\n" not in str(info.value)
    with pytest.raises(SpecError, match="train.automl_policy"):
        resolve_policy(spec={"train": {"automl_policy": "yes"}}, repo_root=tmp_path)


def test_decision_is_printed_and_written_to_status(tmp_path: Path, capsys) -> None:
    decision = resolve_policy(request="no HPO", repo_root=_repo(tmp_path))
    status = StatusLogger(tmp_path / "status.json")
    record_decision(decision, status)
    assert "AutoML policy: direct" in capsys.readouterr().out
    event = read_status(tmp_path / "status.json")[-1]
    assert event["policy"] == "direct" and event["rule"] == decision.rule


def test_real_repository_files_are_read() -> None:
    """With this checkout's own references/ and schemas/, the resolver reaches a decision."""
    decision = resolve_policy()
    assert decision.policy in ("automl", "direct") and decision.rule
