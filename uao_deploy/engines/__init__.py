"""Engines: GUMLP and UAO behind one interface on PyTorch, ONNX Runtime and TensorRT.

``load(path)`` picks the backend from what ``path`` is: a checkpoint (.pth) or a GUMLP -> "torch",
an export folder of ONNX graphs -> "onnxruntime", a folder of TensorRT engines -> "tensorrt".
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from ..contract import MODEL_GRAPH
from ..errors import UaoError
from .base import Engine

# backend -> (module under uao_deploy.engines, class); imported on use, so optional runtimes stay optional.
BACKENDS = {
    "torch": ("torch", "TorchEngine"),
    "onnxruntime": ("onnxruntime", "OnnxRuntimeEngine"),
    "tensorrt": ("tensorrt", "TensorRTEngine"),
}


def detect_backend(path) -> str:
    """The backend that loads ``path``: a GUMLP or checkpoint file, an ONNX export or an engine folder."""
    if path is None or not isinstance(path, (str, Path)):
        return "torch"  # the embedded default checkpoint, or a GUMLP module
    path = Path(path)
    if path.is_file():
        return {".onnx": "onnxruntime", ".engine": "tensorrt"}.get(path.suffix, "torch")
    if (path / f"{MODEL_GRAPH}.engine").is_file():
        return "tensorrt"
    if (path / f"{MODEL_GRAPH}.onnx").is_file():
        return "onnxruntime"
    if path.is_dir():
        raise UaoError(f"{path} holds neither a uao export ({MODEL_GRAPH}.onnx) nor TensorRT engines "
                       f"({MODEL_GRAPH}.engine)")
    raise UaoError(f"{path} does not exist")


def load(path=None, backend: str | None = None, **options) -> Engine:
    """An :class:`Engine` for ``path`` (default: the embedded checkpoint on the torch backend).

    ``backend`` ("torch" | "onnxruntime" | "tensorrt") overrides detection; ``options`` go to the
    backend: torch ``device``, ``compile``, ``tto``; onnxruntime ``providers`` ("cpu" | "cuda" |
    "tensorrt" | "tensorrt_rtx"), ``threads``, ``chunk`` (frames per call); tensorrt ``cuda_graphs``.
    """
    backend = detect_backend(path) if backend is None else backend
    if backend not in BACKENDS:
        raise UaoError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module, name = BACKENDS[backend]
    engine_class = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    accepted = list(inspect.signature(engine_class).parameters)[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UaoError(f"the {backend} backend has no option {', '.join(unknown)} (it takes {', '.join(accepted)})")
    if isinstance(path, (str, Path)) and Path(path).suffix in (".onnx", ".engine"):
        path = Path(path).parent  # one graph of an export stands for its folder
    if backend == "torch" and isinstance(path, (str, Path)) and Path(path).is_dir():
        raise UaoError(f"{path} is a folder of exported graphs; the torch backend loads a checkpoint (.pth) or a GUMLP")
    return engine_class(path, **options)


__all__ = ["BACKENDS", "Engine", "detect_backend", "load"]
