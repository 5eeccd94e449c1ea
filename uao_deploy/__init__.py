"""uao-deploy: GUMLP with uncertainty-aware test-time optimization, from PyTorch to ONNX and TensorRT.

The model names below are imported on first use, so ``import uao_deploy`` (and the runtime that
only runs exported graphs) does not load PyTorch.
"""
import importlib

from .errors import UaoError

__version__ = "0.2.0"


def lazy_names(package: str, sources: dict[str, str]):
    """A package's ``__getattr__`` (PEP 562) that imports each name of ``sources`` ({name: submodule})
    from its submodule on first use, so importing the package loads none of them."""
    def __getattr__(name):
        if name in sources:
            return getattr(importlib.import_module(f".{sources[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__


_MODEL_NAMES = ("GUMLP", "GUMLPConfig", "default_checkpoint", "load_checkpoint", "save_checkpoint")
__getattr__ = lazy_names(__name__, dict.fromkeys(_MODEL_NAMES, "model"))


__all__ = ["UaoError", "__version__", *_MODEL_NAMES]
