"""uao-deploy: GUMLP with uncertainty-aware test-time optimization, from PyTorch to ONNX and TensorRT.

The model names below are imported on first use, so ``import uao_deploy`` (and the runtime that
only runs exported graphs) does not load PyTorch.
"""
from .errors import UaoError

__version__ = "0.2.0"

_MODEL_NAMES = ("GUMLP", "GUMLPConfig", "default_checkpoint", "load_checkpoint", "save_checkpoint")


def __getattr__(name):
    if name in _MODEL_NAMES:
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["UaoError", "__version__", *_MODEL_NAMES]
