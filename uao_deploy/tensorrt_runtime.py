"""Which TensorRT module builds and runs engines: ``tensorrt`` or ``tensorrt_rtx`` (no torch here).

Shared by the engine builder (:mod:`uao_deploy.export.tensorrt`) and the runtime
(:mod:`uao_deploy.engines.tensorrt`), so neither imports the other.
"""
from __future__ import annotations

import importlib
import os
import subprocess

from .errors import UaoError

FLAVOURS = ("tensorrt", "tensorrt_rtx")


def visible_gpus() -> list[dict]:
    """[{"name", "compute_capability"}] of the NVIDIA GPUs nvidia-smi lists (empty without driver or GPU)."""
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [dict(zip(("name", "compute_capability"), (field.strip() for field in line.split(","))))
            for line in listing.splitlines() if line.strip()]


def load_tensorrt(flavour: str | None = None):
    """(module, flavour): ``tensorrt`` when importable and a GPU is visible, else ``tensorrt_rtx``.

    ``flavour`` (or the environment variable UAO_TRT_FLAVOUR) forces one of the two.
    """
    flavour = flavour or os.environ.get("UAO_TRT_FLAVOUR") or None
    if flavour is not None and flavour not in FLAVOURS:
        raise UaoError(f"unknown TensorRT flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}")
    candidates = [flavour] if flavour else (["tensorrt"] if visible_gpus() else []) + ["tensorrt_rtx"]
    for name in candidates:
        try:
            return importlib.import_module(name), name
        except ImportError:
            continue
    wanted = flavour or "tensorrt_rtx (or tensorrt with a GPU)"
    raise UaoError(f"{wanted} is not installed: pip install uao-deploy[rtx] (or uao-deploy[trt] on a GPU machine)")


_LOGGERS = {}


def trt_logger(trt):
    """The one logger TensorRT wants per process and module."""
    return _LOGGERS.setdefault(trt.__name__, trt.Logger(trt.Logger.WARNING))
