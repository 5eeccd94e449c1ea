"""Lifter architectures (GUMLP, the residual MLP of Martinez et al., a user's module) and their checkpoints.

The names below are imported on first use: :mod:`.files` (a checkpoint's files and its export key)
loads no PyTorch, so ``uao infer`` on a cached export runs without it.
"""
import importlib

_SOURCES = {"ModelRef": "files", "default_checkpoint": "files", "load_checkpoint": "checkpoint",
            "resolve_model": "checkpoint", "save_checkpoint": "checkpoint", "GUMLP": "gumlp", "GUMLPConfig": "gumlp",
            "MartinezConfig": "martinez", "MartinezMLP": "martinez", "ARCHITECTURES": "registry",
            "check_lifter": "registry", "model_spec": "registry"}


def __getattr__(name):
    if name in _SOURCES:
        return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_SOURCES)
