"""The automl_policy resolver: does `depth_net train` run a study or train directly?

Inputs: `references/skill_info.yaml` (`automl_enabled`), an explicit policy (`--automl-policy`,
or `train.automl_policy` on / off in the spec or an override) and the user's request text.
Order: explicit flag > spec on/off > request text ("turn off AutoML", "no HPO", ...) > auto.
Then: off -> direct; auto + enabled + schema + template -> study; a missing file -> direct,
saying what is missing. Every decision carries the one rule that made it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from model.errors import SpecError

__all__ = ["PolicyDecision", "resolve_policy", "request_asks_off", "record_decision", "POLICIES"]

POLICIES = ("auto", "on", "off")
REPO = Path(__file__).resolve().parents[1]
SKILL_INFO = Path("references/skill_info.yaml")
TRAIN_SCHEMA = Path("schemas/train.schema.json")
TRAIN_TEMPLATE = Path("references/spec_template_train.yaml")

# What "AutoML" is called in a request: automl, auto-ml, hpo, hyperparameter search/tuning, ...
_THING = (
    r"(?:the\s+|any\s+|an?\s+)?(?:auto[\s_-]?ml|hpo|hyper[\s-]?param(?:eter)?s?\s+(?:search|tuning|optimi[sz]ation|sweep)"
    r"|(?:param(?:eter)?\s+)?(?:search|sweep|tuning)(?!\s+space)|optuna(?:\s+study)?|study)"
)
_OFF_PATTERNS = [
    rf"\b(?:turn|switch|shut|toggle)(?:ing)?\s+off\s+{_THING}",
    rf"\b(?:turn|switch|shut|toggle)(?:ing)?\s+{_THING}\s+off\b",
    rf"\b(?:disabl(?:e|ing)|skip(?:ping)?|bypass(?:ing)?|deactivat(?:e|ing)|avoid(?:ing)?)\s+{_THING}",
    rf"\b(?:no|without|w/o|minus)\s+{_THING}",
    rf"\b(?:don'?t|do\s+not|never)\s+(?:use|run|do|want|need)\s+{_THING}",
    rf"\bno\s+need\s+(?:for|of)\s+{_THING}",
    rf"{_THING}\s+(?:is\s+not|isn'?t|not)\s+(?:needed|necessary|required|wanted)\b",
    rf"{_THING}\s*(?:=|:)?\s*(?:off|disabled|false|no)\b",
    r"\b(?:plain|direct|vanilla|simple|basic|regular)\s+(?:fine[\s-]?tun(?:e|ing)|train(?:ing)?(?:\s+run)?)\b",
    r"\btrain\s+directly\b",
]
_OFF = [re.compile(p, re.IGNORECASE) for p in _OFF_PATTERNS]
# "don't disable AutoML" is not a request to disable it.
_NEGATED = re.compile(r"\b(?:don'?t|do\s+not|never)\s+(?:turn|switch|disable|skip|want\s+(?:a\s+)?(?:plain|direct))", re.I)
# "AutoML, not plain training" / "instead of a plain training run": the phrase is the alternative refused.
_REFUSED_ALTERNATIVE = re.compile(r"\b(?:not|instead\s+of|rather\s+than)\s+(?:an?\s+|the\s+)?$", re.I)


@dataclass(frozen=True)
class PolicyDecision:
    """What `train` will do (`policy`: automl | direct), the resolved automl_policy and why (`rule`)."""

    policy: str
    automl_policy: str
    rule: str
    source: str

    def to_dict(self) -> dict:
        """Plain dict for JSON (plan --json, status.json)."""
        return asdict(self)


def request_asks_off(request: str | None) -> str | None:
    """The phrase in `request` that asks for no AutoML, or None."""
    if not request:
        return None
    text = " ".join(request.replace("\u2019", "'").split())
    if _NEGATED.search(text):
        return None
    for pattern in _OFF:
        for match in pattern.finditer(text):
            if not _REFUSED_ALTERNATIVE.search(text[: match.start()]):
                return match.group(0)
    return None


def _check_value(value: str | None, where: str) -> str | None:
    if value is None:
        return None
    value = str(value).strip().lower()
    if value not in POLICIES:
        raise SpecError(f"{where}: {value!r} is not allowed; use one of {', '.join(POLICIES)}")
    return value


def _read_enabled(path: Path) -> bool | None:
    """`automl_enabled` from skill_info.yaml (top level or one section down); None when absent."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        return None
    if "automl_enabled" in data:
        return bool(data["automl_enabled"])
    for section in data.values():
        if isinstance(section, dict) and "automl_enabled" in section:
            return bool(section["automl_enabled"])
    return None


def _choose_policy(explicit: str | None, spec_policy: str | None, request: str | None) -> tuple[str, str]:
    """(automl_policy, source) by precedence: flag > spec on/off > request text > auto."""
    if explicit is not None:
        return explicit, f"--automl-policy {explicit}"
    if spec_policy in ("on", "off"):
        return spec_policy, f"train.automl_policy={spec_policy} (spec or override)"
    phrase = request_asks_off(request)
    if phrase:
        return "off", f'request text asks for no AutoML ("{phrase}")'
    if spec_policy == "auto":
        return "auto", "train.automl_policy=auto"
    return "auto", "default automl_policy=auto"


def resolve_policy(
    request: str | None = None,
    explicit: str | None = None,
    spec: dict | None = None,
    repo_root: str | Path | None = None,
) -> PolicyDecision:
    """Decide between an AutoML study and direct training.

    Args:
        request: the user's request text (`--request`), or None.
        explicit: `--automl-policy` (auto | on | off), or None.
        spec: the resolved spec; its `train.automl_policy` on / off counts as explicit.
        repo_root: where references/ and schemas/ live (tests pass a temp dir).
    Returns: a PolicyDecision. Raises SpecError for a bad policy value, or for `on`
        when a study cannot run.
    """
    root = Path(repo_root) if repo_root is not None else REPO
    explicit = _check_value(explicit, "--automl-policy")
    spec_policy = _check_value(((spec or {}).get("train") or {}).get("automl_policy"), "train.automl_policy")
    automl_policy, source = _choose_policy(explicit, spec_policy, request)
    if automl_policy == "off":
        return PolicyDecision("direct", "off", f"{source} -> direct training", source)
    enabled = _read_enabled(root / SKILL_INFO)
    missing = [str(p) for p in (TRAIN_SCHEMA, TRAIN_TEMPLATE) if not (root / p).is_file()]
    if automl_policy == "on":
        if missing:
            raise SpecError(f"automl_policy=on ({source}): AutoML is not runnable until {missing[0]} exists")
        note = "" if enabled else f" (overrides automl_enabled: {enabled} in {SKILL_INFO})"
        return PolicyDecision("automl", "on", f"{source} -> AutoML study{note}", source)
    if enabled is None:
        rule = f"{source}, but {SKILL_INFO} has no automl_enabled -> direct training"
        return PolicyDecision("direct", "auto", rule, source)
    if not enabled:
        rule = f"{source}, but {SKILL_INFO} says automl_enabled: false -> direct training"
        return PolicyDecision("direct", "auto", rule, source)
    if missing:
        until = " and ".join(missing) + (" exist" if len(missing) > 1 else " exists")
        rule = f"{source}: AutoML is enabled but not runnable until {until} -> direct training"
        return PolicyDecision("direct", "auto", rule, source)
    rule = f"{source}, {SKILL_INFO} automl_enabled: true, {TRAIN_SCHEMA} and {TRAIN_TEMPLATE} present -> AutoML study"
    return PolicyDecision("automl", "auto", rule, source)


def record_decision(decision: PolicyDecision, status) -> None:
    """Print the decision and append it to status.json (a `model.status.StatusLogger`)."""
    print(f"AutoML policy: {decision.policy} ({decision.rule})")
    status.write("RUNNING", f"automl policy: {decision.policy}: {decision.rule}", **decision.to_dict())
