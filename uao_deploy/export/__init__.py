"""Export stage: ONNX graphs (forward, TTO step, fused TTO) and TensorRT engines built from them.

The directory layout and graph signatures are the contract with ``uao_deploy.engines``; see
:mod:`uao_deploy.contract`. The names below are imported on first use: the exporter loads PyTorch,
which :mod:`.cache` (finding an export made before) does not need.
"""
import importlib

from ..contract import GRAPHS, read_manifest

_SOURCES = {"FORMATS": "formats", "export": "formats",
            "export_onnx": "onnx", "DEFAULT_PROFILE": "tensorrt", "build_engines": "tensorrt",
            "export_engines": "tensorrt", "parse_profile": "tensorrt", "precision_error_mm": "verify"}


def __getattr__(name):
    if name in _SOURCES:
        return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted([*_SOURCES, "GRAPHS", "read_manifest"])
