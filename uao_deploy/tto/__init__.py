"""Uncertainty-aware test-time optimization (UAO): the objective and the loop."""
from .config import TTOConfig
from .objective import first_value_and_grad, tto_objective, value_and_grad
from .optimize import adam_descent, adam_update, flip_average, optimize, predict, refine

__all__ = ["TTOConfig", "adam_descent", "adam_update", "first_value_and_grad", "flip_average", "optimize", "predict", "refine", "tto_objective", "value_and_grad"]
