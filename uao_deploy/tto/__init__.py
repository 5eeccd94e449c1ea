"""Uncertainty-aware test-time optimization (UAO): the objective and the loop.

The loop (:mod:`.optimize`) runs on numpy arrays and torch tensors and imports no torch; the
objective (:mod:`.objective`) is PyTorch and is imported on first use, so the torch-free runtime
can use the loop.
"""
from .config import TTOConfig
from .optimize import adam_descent, adam_update, flip_average, optimize, predict, refine

_OBJECTIVE_NAMES = ("first_value_and_grad", "tto_objective", "value_and_grad")


def __getattr__(name):
    if name in _OBJECTIVE_NAMES:
        from . import objective
        return getattr(objective, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TTOConfig", "adam_descent", "adam_update", "first_value_and_grad", "flip_average", "optimize", "predict",
           "refine", "tto_objective", "value_and_grad"]
