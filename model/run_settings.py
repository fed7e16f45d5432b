"""What an evaluate / inference section asks of any model source (checkpoint, ONNX, TensorRT).

Shared by the PyTorch predictor (`model.evaluation.predictor`) and the deploy predictor
(`model.deploy.predictor`); it sits below both so the deploy package never imports the
evaluation predictor that dispatches to it.
"""

from __future__ import annotations

from model.errors import SpecError

__all__ = ["input_hw", "resolve_network_config"]


def input_hw(section: dict, action: str = "evaluate") -> tuple[int, int] | None:
    """(input_height, input_width) when both are set, None when neither; SpecError for one alone."""
    h, w = section.get("input_height"), section.get("input_width")
    if h is None and w is None:
        return None
    if h is None or w is None:
        raise SpecError(f"{action}.input_height / {action}.input_width: set both or neither (got {h} x {w})")
    return int(h), int(w)


def resolve_network_config(spec: dict, action: str):
    """The NetworkConfig to build: None (let the checkpoint's own spec decide) when the spec's
    `model` section is the bp2 default, else the spec's config."""
    from model.config import NetworkConfig

    cfg = NetworkConfig.from_dict(spec.get("model"), prefix="model")
    return None if cfg == NetworkConfig() else cfg
