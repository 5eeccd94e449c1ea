"""Export stage: ONNX graphs (forward, TTO step, fused TTO) and TensorRT engines built from them.

The directory layout and graph signatures are the contract with ``uao_deploy.engines``; see
:mod:`uao_deploy.contract`. The names below are imported on first use: the exporter loads PyTorch,
which :mod:`.cache` (finding an export made before) does not need.
"""
from .. import lazy_names
from ..contract import GRAPHS, read_manifest

_SOURCES = {"FORMATS": "formats", "export": "formats",
            "export_onnx": "onnx", "DEFAULT_PROFILE": "tensorrt", "build_engines": "tensorrt",
            "export_engines": "tensorrt", "parse_profile": "tensorrt", "precision_error_mm": "verify"}
__getattr__ = lazy_names(__name__, _SOURCES)
__all__ = sorted([*_SOURCES, "GRAPHS", "read_manifest"])
