"""Uncertainty-aware test-time optimization (UAO): the objective and the loop."""
from .objective import TTOConfig, tto_objective, value_and_grad
from .optimize import adam_update, flip_average, optimize, predict, refine

__all__ = ["TTOConfig", "adam_update", "flip_average", "optimize", "predict", "refine", "tto_objective", "value_and_grad"]
