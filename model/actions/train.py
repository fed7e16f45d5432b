"""`depth_net train`: train or fine-tune the network, directly or through an AutoML study.

The AutoML policy resolver (`automl.policy.resolve_policy`) decides the route from the spec's
`train.automl_policy`, the command line's `--automl-policy` and `--request` text (an explicit
value beats the request text); when it is not part of this build, or it says `off`, training
runs directly. The decision and its rule are printed and written to status.json.
"""

from __future__ import annotations

from pathlib import Path

from model.errors import CheckpointError
from model.status import StatusLogger

__all__ = ["run", "check"]


def _policy(spec: dict, request: str | None = None, automl_policy: str | None = None):
    """The resolver's decision (`automl.policy.resolve_policy`), or None when it is not in this build."""
    try:
        from automl.policy import resolve_policy
    except ModuleNotFoundError as exc:
        if exc.name in ("automl.policy", "automl"):
            return None
        raise
    return resolve_policy(request=request, explicit=automl_policy, spec=spec)


def _study_runner():
    """`automl.run_study(spec, status) -> dict`, or None while the study runner is not in this build."""
    try:
        import automl
    except ModuleNotFoundError:
        return None
    return getattr(automl, "run_study", None)


def check(spec: dict, request: str | None = None, automl_policy: str | None = None) -> None:
    """Fail before anything is written: a bad or unrunnable AutoML policy, a named checkpoint that
    does not exist, or hardware settings this machine cannot honour (GPU ids, fp16 without a GPU,
    multi-node environment)."""
    from model.training.runner import check_hardware

    _policy(spec, request, automl_policy)

    check_hardware(spec)
    train = spec.get("train") or {}
    for key in ("pretrained_model_path", "resume_training_checkpoint_path"):
        value = train.get(key)
        if value and not Path(value).is_file():
            raise CheckpointError(f"train.{key}: {value} does not exist (give an existing .pth file or null)")


def run(spec: dict, status: StatusLogger, request: str | None = None, automl_policy: str | None = None) -> dict:
    """Train from the resolved spec; returns `{"kpi", "best_checkpoint", "latest_checkpoint"}`.

    Args: request: the user's request text (`--request`); automl_policy: `--automl-policy`.
    """
    decision = _policy(spec, request, automl_policy)
    if decision is None:
        status.write("RUNNING", "AutoML is not available in this build: training directly")
    else:
        from automl.policy import record_decision

        record_decision(decision, status)
        if decision.policy == "automl":
            run_study = _study_runner()
            if run_study is not None:
                return run_study(spec, status)
            status.write("RUNNING", "the AutoML study runner is not in this build yet: training directly")
        else:
            status.write("RUNNING", "training directly")
    from model.training.runner import fit

    return fit(spec, status)
