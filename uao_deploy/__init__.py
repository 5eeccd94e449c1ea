"""uao-deploy: GUMLP with uncertainty-aware test-time optimization, from PyTorch to ONNX and TensorRT."""
from .errors import UaoError
from .model import GUMLP, GUMLPConfig, default_checkpoint, load_checkpoint, save_checkpoint

__version__ = "0.2.0"

__all__ = ["GUMLP", "GUMLPConfig", "UaoError", "__version__", "default_checkpoint", "load_checkpoint", "save_checkpoint"]
