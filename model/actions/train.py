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


def _check_data(spec: dict) -> None:
    """Build the train / val splits as training will and decode the first sample of every source,
    so no data source, a missing or empty annotation file, or an unreadable first pair fails here."""
    from model.data.datamodule import StereoDataModule
    from model.evaluation.evaluator import preflight

    data = StereoDataModule(spec["dataset"], int(spec["train"].get("seed", 0)))
    data.setup("fit")
    for dataset in (data.train_set, data.val_set):
        if dataset is not None:
            preflight(dataset)


def _check_checkpoints(train: dict, model: dict) -> None:
    """Each named checkpoint exists, is readable and fits the spec's network (shapes, widths)."""
    from model.training.runner import resolve_pretrained

    resolve_pretrained(train)
    named = [(key, train[key]) for key in ("pretrained_model_path", "resume_training_checkpoint_path")
             if train.get(key)]
    from model.network.builtin import builtin_file

    for key, value in named:
        if builtin_file(value, f"train.{key}") is not None:
            continue
        if not Path(value).is_file():
            what = "is a folder" if Path(value).is_dir() else "does not exist"
            raise CheckpointError(f"train.{key}: {value} {what} (give an existing .pth file, `builtin` or null)")
    if not named:
        return
    from model.config import NetworkConfig
    from model.network import build_network
    from model.network.checkpoint import load_network_weights

    cfg = NetworkConfig.from_dict(model, prefix="model")
    net = build_network(cfg)
    for key, value in named:
        try:
            load_network_weights(net, value, cfg)
        except CheckpointError as exc:
            raise CheckpointError(f"train.{key}: {exc}") from None


def check(spec: dict, request: str | None = None, automl_policy: str | None = None) -> None:
    """Fail before anything is written: a bad or unrunnable AutoML policy or study, hardware settings this
    machine cannot honour (GPU ids, fp16 without a GPU, multi-node environment), missing or
    unreadable training / validation data, or a named checkpoint that does not exist, cannot be
    read or does not fit the spec's network."""
    from model.training.runner import check_hardware

    decision = _policy(spec, request, automl_policy)
    check_hardware(spec)
    _check_data(spec)
    if decision is not None and decision.policy == "automl" and _study_runner() is not None:
        from automl.run import check_study

        check_study(spec)  # a study that cannot run (metric never logged, bad ranges) writes nothing
    _check_checkpoints(spec.get("train") or {}, spec["model"])
    _check_resume(spec)


def _check_resume(spec: dict) -> None:
    """The checkpoint a run would resume from (named, or dn_model_latest.pth in the results folder)
    holds a training state Lightning can restore."""
    from model.status import results_dir_for
    from model.training.resume import check_resumable
    from model.training.runner import resume_checkpoint

    train = spec.get("train") or {}
    path = resume_checkpoint(train, results_dir_for(spec, "train"))
    if path is not None:
        key = "train.resume_training_checkpoint_path" if train.get("resume_training_checkpoint_path") else \
            f"the results folder's {path.name} (resumed automatically; choose another results_dir to start afresh)"
        check_resumable(path, key)


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
