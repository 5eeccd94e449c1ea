"""Export stage: ONNX graphs (forward, TTO step, fused TTO) and TensorRT engines built from them.

The directory layout and graph signatures are the contract with ``uao_deploy.engines``; see
:mod:`uao_deploy.contract`.
"""
from .formats import FORMATS, export
from ..contract import GRAPHS, read_manifest
from .onnx import export_onnx
from .tensorrt import DEFAULT_PROFILE, build_engines, export_engines, parse_profile
from .verify import precision_error_mm

__all__ = [
    "DEFAULT_PROFILE", "FORMATS", "GRAPHS", "build_engines", "export", "export_engines", "export_onnx",
    "parse_profile", "precision_error_mm", "read_manifest",
]
