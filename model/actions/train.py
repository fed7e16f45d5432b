"""`depth_net train`: train or fine-tune the network, directly or through an AutoML study.

The AutoML policy resolver (`automl.policy.resolve_policy`) decides the route; when it is
not part of this build, or it says `off`, training runs directly (and the status says so).
"""

from __future__ import annotations

from pathlib import Path

from model.errors import CheckpointError
from model.status import StatusLogger

__all__ = ["run", "check"]


def _policy(spec: dict):
    """The resolver's decision, or None when the AutoML package is not in this build."""
    try:
        from automl.policy import resolve_policy
    except ModuleNotFoundError as exc:
        if exc.name in ("automl.policy", "automl"):
            return None
        raise
    return resolve_policy(spec)


def _uses_automl(decision) -> bool:
    """Whether a resolver decision routes through a study (`decision.use_automl` or `["use_automl"]`)."""
    if isinstance(decision, dict):
        return bool(decision.get("use_automl"))
    return bool(getattr(decision, "use_automl", False))


def _rule(decision) -> str:
    rule = decision.get("rule") if isinstance(decision, dict) else getattr(decision, "rule", None)
    return str(rule or "no rule given")


def check(spec: dict) -> None:
    """Fail before anything is written when a named checkpoint does not exist."""
    train = spec.get("train") or {}
    for key in ("pretrained_model_path", "resume_training_checkpoint_path"):
        value = train.get(key)
        if value and not Path(value).is_file():
            raise CheckpointError(f"train.{key}: {value} does not exist (give an existing .pth file or null)")


def run(spec: dict, status: StatusLogger) -> dict:
    """Train from the resolved spec; returns `{"kpi", "best_checkpoint", "latest_checkpoint"}`."""
    decision = _policy(spec)
    if decision is None:
        status.write("RUNNING", "AutoML is not available in this build: training directly")
    elif _uses_automl(decision):
        from automl import run_study

        status.write("RUNNING", f"AutoML policy routes this run through a study ({_rule(decision)})")
        return run_study(spec, status)
    else:
        status.write("RUNNING", f"training directly ({_rule(decision)})")
    from model.training.runner import fit

    return fit(spec, status)
