"""The runtime libraries, found and opened in one place (no torch here): ONNX Runtime sessions, and
which TensorRT module builds and runs engines (``tensorrt`` or ``tensorrt_rtx``).

Shared by the exporter (its checks and engine builder), the engines and the benchmark, so none of
them imports another for this, and a missing library is reported in one way.
"""
from __future__ import annotations

import importlib
import os
import subprocess

from .errors import UaoError, first_line

FLAVOURS = ("tensorrt", "tensorrt_rtx")
# Short ONNX Runtime provider names; each list ends in the providers ORT may use for nodes the first cannot run.
PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt_rtx": ["NvTensorRTRTXExecutionProvider", "CPUExecutionProvider"],
}


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise UaoError("this needs ONNX Runtime: pip install 'uao-deploy[cpu]' "
                       "(or 'uao-deploy[gpu]' for the CUDA and TensorRT providers)") from None
    return onnxruntime


def provider_list(providers) -> list[str]:
    """ORT provider names from "cpu" | "cuda" | "tensorrt" | "tensorrt_rtx" or a list of full names."""
    if isinstance(providers, str):
        if providers not in PROVIDERS:
            raise UaoError(f"unknown onnxruntime providers {providers!r}; choose one of {', '.join(PROVIDERS)}")
        return PROVIDERS[providers]
    return list(providers)


def require_available(providers) -> list[str]:
    """The ORT provider list for ``providers``, checked (cheaply, before any export) to be installed."""
    requested = provider_list(providers)
    ort = import_onnxruntime()
    require_provider(requested[0], ort.get_available_providers(), f"onnxruntime {ort.__version__} offers")
    return requested


def require_provider(wanted: str, active: list[str], where: str) -> None:
    """ONNX Runtime falls back to the CPU silently (e.g. onnxruntime-gpu without CUDA): make that an error."""
    if wanted not in active:
        raise UaoError(f"onnxruntime provider {wanted} was requested but is not active ({where} "
                       f"{', '.join(active)}); install onnxruntime-gpu matching your CUDA and TensorRT, "
                       "or use providers='cpu'")


def ort_session(path, providers="cpu", threads: int | None = None, profile_prefix: str | None = None):
    """An ONNX Runtime session for a graph file (a path, so weights in ``.onnx.data`` are found), on the
    requested providers, the first of which must be active; a file ORT cannot load is one UaoError."""
    ort = import_onnxruntime()
    requested = require_available(providers)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=requested)
    except Exception as exc:  # ORT raises its own exception types for every kind of bad file
        raise UaoError(f"onnxruntime cannot load {path}: {first_line(exc)}") from None
    require_provider(requested[0], session.get_providers(), f"{os.path.basename(path)} runs on")
    return session


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
