"""The runtime libraries, found and opened in one place (no torch here): ONNX Runtime sessions, and
which TensorRT module builds and runs engines (``tensorrt`` or ``tensorrt_rtx``).

Shared by the exporter (its checks and engine builder), the engines and the benchmark, so none of
them imports another for this, and a missing library is reported in one way.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import re
import subprocess
import sys
import tempfile
import threading

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


@functools.cache
def load_cuda_libraries() -> str:
    """Load CUDA and cuDNN from pip's nvidia packages (``onnxruntime.preload_dlls``), which onnxruntime-gpu
    does not search by itself: without it the CUDA provider needs torch imported first or an
    LD_LIBRARY_PATH. Returns the first library that failed to load ("" when all did), for the error."""
    ort = import_onnxruntime()
    if not hasattr(ort, "preload_dlls"):  # onnxruntime < 1.21
        return ""
    with output_held() as held:  # it prints its failures; stdout may be a --json - result
        try:
            ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - a failure here only explains a later error
            print(f"Failed to load CUDA libraries: {first_line(exc)}")
    failures = [line for line in held().splitlines() if line.startswith("Failed to load")]
    return failures[0] if failures else ""


_OUTPUT_HELD = threading.Lock()  # file descriptor 2 and sys.stdout are the process's: one holder at a time


@contextlib.contextmanager
def output_held():
    """Hold back what is written in this block to Python's stdout and to file descriptor 2 (where
    ONNX Runtime's C++ log goes); yields a callable that returns it. Where fd 2 cannot be
    redirected, only Python's stdout is held."""
    held = []
    printed = io.StringIO()
    with _OUTPUT_HELD, tempfile.TemporaryFile() as native_log, contextlib.redirect_stdout(printed):
        try:
            saved = os.dup(2)
        except OSError:
            saved = None
        sys.stderr.flush()
        if saved is not None:
            os.dup2(native_log.fileno(), 2)
        try:
            yield lambda: "".join(held)
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
            native_log.seek(0)
            held.extend((printed.getvalue(), native_log.read().decode(errors="replace")))


def provider_failure(log: str) -> str:
    """Why ONNX Runtime did not start a GPU provider, from what it wrote: its Python "EP Error"
    (TensorRT missing, say), the library it could not load (``... with error: libcudnn.so.9: cannot
    open ...``), else its own reason ("Failed to create ...")."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines()  # without its colours
    for line in lines:
        reason = re.match(r"EP Error \S+:\d+ .*?\) (\w.*)$", line)
        if reason:
            return reason.group(1).strip()
    for line in lines:
        if "Failed to load library" in line and "with error:" in line:
            return line.split("with error:", 1)[1].strip()
    for line in lines:
        if "] " in line and ("Failed to create" in line or "CUDA failure" in line):
            return line.split("] ", 1)[1].strip()
    return ""


def require_provider(wanted: str, active: list[str], where: str, cause: str = "") -> None:
    """ONNX Runtime falls back to the CPU silently (e.g. onnxruntime-gpu without CUDA): make that an error."""
    if wanted not in active:
        remedy = ("this machine has no NVIDIA driver" if "libcuda.so" in cause else
                  "install onnxruntime-gpu matching your CUDA and TensorRT "
                  "(pip install 'uao-deploy[gpu]' brings CUDA and cuDNN)")
        raise UaoError(f"onnxruntime provider {wanted} was requested but is not active ({where} "
                       f"{', '.join(active)}{': ' + cause if cause else ''}); {remedy}, or use providers='cpu'")


def ort_session(path, providers="cpu", threads: int | None = None, profile_prefix: str | None = None,
                optimize: bool = True):
    """An ONNX Runtime session for a graph file (a path, so weights in ``.onnx.data`` are found), on the
    requested providers, the first of which must be active; a file ORT cannot load is one UaoError.

    For a GPU provider the CUDA libraries are loaded first, and ONNX Runtime's own log of the session's
    start is held back: when the provider does not start, its reason goes into the one error line.
    ``optimize`` False skips ONNX Runtime's graph optimizations: the session opens in half the time
    and memory."""
    ort = import_onnxruntime()
    requested = require_available(providers)
    on_gpu = requested[0] != "CPUExecutionProvider"
    unloaded = load_cuda_libraries() if on_gpu else ""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # No memory pattern: ONNX Runtime plans one per input shape and keeps it beside the arena, so the
    # fused sequence graph's second call held its activations twice over (benchmarks/results, infer_real).
    options.enable_mem_pattern = False
    # Idle threads sleep rather than spin: on a machine shared with other jobs (or with fewer free
    # cores than threads) spinning workers took the cores the work needed (benchmarks/results, infer_real).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    with output_held() if on_gpu else contextlib.nullcontext(lambda: "") as held:
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=requested)
        except Exception as exc:  # ORT raises its own exception types for every kind of bad file
            raise UaoError(f"onnxruntime cannot load {path}: {first_line(exc)}") from None
    require_provider(requested[0], session.get_providers(), f"{os.path.basename(path)} runs on",
                     provider_failure(held()) or unloaded)
    sys.stderr.write(held())  # the provider started: its warnings are the user's, on stderr (stdout may be a result)
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
