"""Training: the FFS loss, optimizers and schedulers, the Lightning system and the runner."""

__all__ = ["fit"]


def fit(*args, **kwargs):  # noqa: D103 - thin lazy re-export, see runner.fit
    """Run one training (`model.training.runner.fit`); imported lazily to keep imports light."""
    from model.training.runner import fit as _fit

    return _fit(*args, **kwargs)
