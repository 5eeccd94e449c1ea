"""The GUMLP network and its checkpoints."""
from .checkpoint import default_checkpoint, load_checkpoint, save_checkpoint
from .gumlp import GUMLP, GUMLPConfig

__all__ = ["GUMLP", "GUMLPConfig", "default_checkpoint", "load_checkpoint", "save_checkpoint"]
