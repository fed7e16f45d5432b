"""Training: the FFS loss, optimizers and schedulers, the Lightning system and the runner."""

__all__ = ["fit"]


def fit(*args, **kwargs) -> dict:
    """Run one training (`model.training.runner.fit`); imported lazily so `loss` / `optim` stay light."""
    from model.training.runner import fit as _fit

    return _fit(*args, **kwargs)
