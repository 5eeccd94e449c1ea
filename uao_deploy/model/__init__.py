"""Lifter architectures (GUMLP, the residual MLP of Martinez et al., a user's module) and their checkpoints."""
from .checkpoint import ModelRef, default_checkpoint, load_checkpoint, resolve_model, save_checkpoint
from .gumlp import GUMLP, GUMLPConfig
from .martinez import MartinezConfig, MartinezMLP
from .registry import ARCHITECTURES, check_lifter, model_spec

__all__ = ["ARCHITECTURES", "GUMLP", "GUMLPConfig", "MartinezConfig", "MartinezMLP", "ModelRef", "check_lifter",
           "default_checkpoint", "load_checkpoint", "model_spec", "resolve_model", "save_checkpoint"]
