"""The PyTorch reference engine: a lifter (GUMLP by default) and :mod:`uao_deploy.tto` behind the engine interface."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from ..device import torch_device
from ..errors import UaoError
from ..model.checkpoint import resolve_model
from ..contract import FRAME, MODEL_GRAPH, OBJECTIVES, SEQUENCE, TORCH_PRECISIONS, objective_of
from ..model.precision import with_low_precision_mlps
from ..tto import TTOConfig, refine
from ..tto.config import SequenceConfig
from ..tto.optimize import _model_callables, refine_sequence
from ..tto.sequence import model_sequence_callables
from .base import Engine


# torch.compile modes that replay CUDA graphs (CUDAGraph Trees).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


class OutputsCopied(torch.nn.Module):
    """A compiled network whose outputs are copied out of the CUDA graphs' memory.

    CUDAGraph Trees free a call's outputs when the next call starts a new iteration (any call with
    no backward pending), and TTO reads the first step's prediction, its pseudo-targets, in every
    later step. The copies are the network's (N, 17, 3) and (N, 17, 1) outputs, small beside its work.
    """

    def __init__(self, compiled: torch.nn.Module):
        super().__init__()
        self.compiled = compiled

    def forward(self, *inputs):
        return tuple(output.clone() for output in self.compiled(*inputs))


class TorchEngine(Engine):
    """A lifter from a checkpoint path (None: the embedded GUMLP), a ModelRef (``--model`` and
    ``--checkpoint``) or a module meeting the lifter contract (:mod:`uao_deploy.model.registry`).

    ``device`` is "cpu" or "cuda"; ``compile=True`` wraps the network in ``torch.compile`` (a string
    is its mode, e.g. "reduce-overhead" for CUDA graphs). TTO runs :func:`uao_deploy.tto.refine` on
    the device for any number of iterations in one backend call (``last_tto_path`` "fused"), or on
    the host like the graph engines with ``tto(..., fused=False)``. ``precision="bf16"`` (or "fp16",
    for GPUs) runs the TTO gradient steps (and their pseudo-targets) with the blocks' U-MLPs in that
    precision (:func:`uao_deploy.model.precision.with_low_precision_mlps`); forward, eval and the
    final TTO pose stay float32. Its ``value_and_grad`` expects pseudo-targets from that network, as
    ``tto`` makes them: against float32 targets the distance term is noise, not 0, at z = x.
    """

    backend = "torch"
    fused_iters = None  # any K runs in one backend call

    def __init__(self, model: torch.nn.Module | str | Path | None = None, device: str = "cpu",
                 compile: bool | str = False, tto: TTOConfig = TTOConfig(), precision: str = "fp32",
                 sequence: SequenceConfig = SequenceConfig()):
        super().__init__()
        if precision not in TORCH_PRECISIONS:
            raise UaoError(f"the torch backend runs precision {' or '.join(TORCH_PRECISIONS)}; got {precision!r}")
        self.device = torch_device(device)
        if isinstance(model, torch.nn.Module):
            model = copy.deepcopy(model)  # freezing it below must not change the caller's module
        resolved = resolve_model(model)
        model, self.checkpoint, self.checkpoint_sha256 = resolved.model, resolved.path, resolved.sha256
        self.calibration, self.architecture = resolved.calibration, resolved.architecture
        # Every registered objective runs here: those without a config given with their defaults.
        self.configs = {**{name: objective.config() for name, objective in OBJECTIVES.items()},
                        FRAME.name: tto, SEQUENCE.name: sequence}
        self.compiled, self.precision = compile, precision
        self._functions = {}  # objective -> {graph: reference function} on the step network
        model = model.to(self.device).eval().requires_grad_(False)
        self.model = self._compiled(model)
        self.step_model = self.model  # the network of the gradient steps
        if precision != "fp32":
            self.step_model = with_low_precision_mlps(model, precision)
            self.step_model = self._compiled(self.step_model)

    def _compiled(self, model):
        if not self.compiled:
            return model
        mode = None if self.compiled is True else self.compiled
        compiled = torch.compile(model, mode=mode)
        return OutputsCopied(compiled) if mode in CUDA_GRAPH_MODES else compiled

    def describe(self) -> dict:
        return {**super().describe(), "device": str(self.device), "compiled": self.compiled,
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
                "checkpoint_sha256": self.checkpoint_sha256, "architecture": self.architecture}

    def _tensors(self, arrays):
        return [torch.from_numpy(array).to(self.device) for array in arrays]

    def _run(self, graph, *inputs):
        """The forward on the network; every other graph is its objective's reference function on the
        network of the gradient steps."""
        tensors = self._tensors(inputs)
        if graph == MODEL_GRAPH:
            with torch.no_grad():
                outputs = self.model(*tensors)
        else:
            objective = objective_of(graph)
            if objective.name not in self._functions:
                self._functions[objective.name] = objective.functions().reference_functions(
                    self.step_model, self.configs[objective.name])
            outputs = self._functions[objective.name][graph](*tensors)
        return tuple(output.detach().cpu().numpy() for output in outputs)

    def _target_mu(self, x):
        with torch.no_grad():
            return self.step_model(*self._tensors((x,)))[0].cpu().numpy()

    def _fuses(self, iters):
        return True

    def _fused(self, x, cam, root, config):
        forward = _model_callables(self.model, config)[0]
        _, step, first_step = _model_callables(self.step_model, config)
        pose, losses = refine(forward, step, *self._tensors((x, cam, root)), config, first_step)
        losses = torch.stack(losses).cpu().numpy() if losses else np.zeros((0, len(x)), np.float32)
        return pose.cpu().numpy(), losses

    def _fuses_sequence(self, iters):
        return True

    def _sequence_fused(self, x, confidence, cam, root, config):
        forward = model_sequence_callables(self.model, config)[0]
        _, step, first_step = model_sequence_callables(self.step_model, config)
        *outputs, losses = refine_sequence(forward, step, *self._tensors((x, confidence, cam, root)), config, first_step)
        losses = torch.stack(losses).cpu().numpy() if losses else np.zeros((0, len(x)), np.float32)
        return (*(output.cpu().numpy() for output in outputs), losses)
