"""Lifter architectures (GUMLP, the residual MLP of Martinez et al., a user's module) and their checkpoints.

The names below are imported on first use: :mod:`.files` (a checkpoint's files and its export key)
loads no PyTorch, so ``uao infer`` on a cached export runs without it.
"""
from .. import lazy_names

_SOURCES = {"ModelRef": "files", "default_checkpoint": "files", "load_checkpoint": "checkpoint",
            "resolve_model": "checkpoint", "save_checkpoint": "checkpoint", "GUMLP": "gumlp", "GUMLPConfig": "gumlp",
            "MartinezConfig": "martinez", "MartinezMLP": "martinez", "ARCHITECTURES": "registry",
            "check_lifter": "registry", "model_spec": "registry"}
__getattr__ = lazy_names(__name__, _SOURCES)
__all__ = sorted(_SOURCES)
