"""The backends' cases: one task along one path, and the registry of backends."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..contract import TTOConfig
from ..errors import UaoError
from .seed import SeedStyleTorch


@dataclass
class Case:
    """One timed thing: a task on a path of a backend, with where it really runs."""

    backend: str
    path: str
    task: str
    device: str
    precision: str
    run: Callable  # (x, cam, root) -> pose (B, 17, 3) numpy
    engine: object = None  # an engine whose last_tto_path is recorded after the timed calls
    info: dict = field(default_factory=dict)


@dataclass
class Setup:
    """What the backends are built from."""

    checkpoint: object  # a checkpoint path, a ModelRef (--model and --checkpoint) or None: the embedded model
    model: torch.nn.Module
    tto: TTOConfig
    threads: int
    batches: tuple[int, ...]


def _engine_cases(name: str, engine, device: str, tto_paths=(None,)) -> list[Case]:
    info = engine.describe()
    cases = [Case(name, "forward", "eval", device, engine.precision, lambda x, cam, root: engine.predict(x),
                  engine, info)]
    for fused in tto_paths:
        path = {None: "uao loop", True: "fused", False: "step-loop"}[fused]
        cases.append(Case(name, path, "tto", device, engine.precision,
                          lambda x, cam, root, fused=fused: engine.tto(x, cam, root, fused=fused), engine, info))
    return cases


def _require_cuda() -> None:
    if not torch.cuda.is_available():
        raise UaoError("no CUDA GPU (torch.cuda.is_available() is False)")


def _seed_cases(setup: Setup, name: str = "seed-eager", device: str = "cpu") -> list[Case]:
    seed = SeedStyleTorch(setup.model, setup.tto, device)
    return [Case(name, "2 forwards", "eval", device, "fp32", seed.predict),
            Case(name, "seed loop", "tto", device, "fp32", seed.tto)]


def _seed_cuda_cases(setup: Setup) -> list[Case]:
    _require_cuda()
    return _seed_cases(setup, "seed-cuda", "cuda")


def _torch_cases(setup: Setup, name: str = "torch", device: str = "cpu", compile: bool | str = False,
                 precision: str = "fp32", tasks=("eval", "tto")) -> list[Case]:
    from .. import engines

    engine = engines.load(setup.model, backend="torch", device=device, compile=compile, tto=setup.tto,
                          precision=precision)
    return [case for case in _engine_cases(name, engine, device) if case.task in tasks]


def _torch_compile_cases(setup: Setup) -> list[Case]:
    return _torch_cases(setup, "torch-compile", compile=True)


def _torch_bf16_cases(setup: Setup) -> list[Case]:
    # Only TTO: its eval (the forward) is float32, the torch row's.
    return _torch_cases(setup, "torch-bf16", precision="bf16", tasks=("tto",))


def _torch_cuda_cases(setup: Setup, name: str = "torch-cuda", **options) -> list[Case]:
    _require_cuda()
    return _torch_cases(setup, name, device="cuda", **options)


def _onnxruntime_cases(setup: Setup, name: str = "onnxruntime", providers: str = "cpu") -> list[Case]:
    from .. import engines
    from ..export.cache import exported_graphs
    from ..runtimes import require_available

    require_available(providers)  # before the export, which takes a minute
    engine = engines.load(exported_graphs(setup.checkpoint, setup.tto), backend="onnxruntime", providers=providers,
                          threads=setup.threads)
    return _engine_cases(name, engine, "cpu" if providers == "cpu" else "cuda", tto_paths=(False, True))


def _tensorrt_cases(setup: Setup) -> list[Case]:
    from .. import engines
    from ..export.cache import built_engines, exported_graphs

    _require_cuda()
    folder = built_engines(exported_graphs(setup.checkpoint, setup.tto), max_batch=max(setup.batches))
    engine = engines.load(folder, backend="tensorrt")
    return _engine_cases("tensorrt", engine, "cuda", tto_paths=(False, True))


# name -> (cases factory, what it is); the order is the table's order.
BACKENDS = {
    "seed-eager": (_seed_cases, "PyTorch eager as the seed runs it: weight gradients on, separate flip forwards, "
                                "torch.optim.Adam, batch-mean loss"),
    "torch": (_torch_cases, "PyTorch, frozen weights, no_grad forwards, the uao_deploy.tto loop"),
    "torch-compile": (_torch_compile_cases, "as torch, with torch.compile (compiles per batch size in warm-up)"),
    "torch-bf16": (_torch_bf16_cases, "as torch, TTO steps with the blocks' U-MLPs in bf16, final pose float32"),
    "onnxruntime": (_onnxruntime_cases, "ONNX Runtime CPU: forward graph, step graph looped on the host, "
                                        "fused TTO graph"),
    "tensorrt": (_tensorrt_cases, "TensorRT engines on the GPU: forward, step loop, fused TTO"),
    "seed-cuda": (_seed_cuda_cases, "as seed-eager, on the GPU: the baseline of the GPU rows"),
    "torch-cuda": (_torch_cuda_cases, "as torch, on the GPU"),
    "torch-cuda-graphs": (functools.partial(_torch_cuda_cases, name="torch-cuda-graphs", compile="reduce-overhead"),
                          "as torch-cuda, under torch.compile with CUDA graphs (mode reduce-overhead)"),
    "torch-cuda-bf16": (functools.partial(_torch_cuda_cases, name="torch-cuda-bf16", precision="bf16",
                                          tasks=("tto",)),
                        "as torch-cuda, TTO steps with the U-MLPs in bf16, final pose float32"),
    "torch-cuda-fp16": (functools.partial(_torch_cuda_cases, name="torch-cuda-fp16", precision="fp16",
                                          tasks=("tto",)),
                        "as torch-cuda, TTO steps with the U-MLPs in fp16, final pose float32"),
    "onnxruntime-cuda": (functools.partial(_onnxruntime_cases, name="onnxruntime-cuda", providers="cuda"),
                         "ONNX Runtime's CUDA provider (onnxruntime-gpu): forward, step loop, fused TTO"),
}
GPU_BACKENDS = ("seed-cuda", "torch-cuda", "torch-cuda-graphs", "torch-cuda-bf16", "torch-cuda-fp16",
                "onnxruntime-cuda", "tensorrt")
DEFAULT_BACKENDS = ("seed-eager", "torch", "torch-bf16", "onnxruntime", "tensorrt", "torch-cuda")
# preset -> (backends, batch sizes) of `uao bench --preset`
PRESETS = {"cpu": (DEFAULT_BACKENDS, (1, 8, 64, 512)), "gpu": (GPU_BACKENDS, (1, 64, 1024, 8192))}
