"""The per-frame objective's graphs as PyTorch functions: what the exporter traces and checks.

Registered in :data:`uao_deploy.contract.FRAME`. ``reference_functions`` gives the function each
directly traced graph computes; ``fused_loop`` builds the fused graph's function, the one UAO loop
:func:`~uao_deploy.tto.optimize.refine`, over any callables standing for those graphs (the model's
own functions, or the tracer's placeholders).
"""
from __future__ import annotations

import functools

import torch

from ..contract import TTOConfig
from .objective import first_value_and_grad, value_and_grad
from .optimize import refine


def fused_loop(graphs: dict, config: TTOConfig):
    """``refine`` as one function of (x, cam, root) -> (pose, losses (K, B)) over the given graphs."""
    forward, step, first_step = graphs["forward"], graphs["tto_step"], graphs["tto_first_step"]

    def run(x, cam, root):
        pose, losses = refine(lambda v: forward(v)[0], step, x, cam, root, config, first_step)
        return pose, torch.stack(losses)
    return run


def reference_functions(model: torch.nn.Module, config: TTOConfig) -> dict:
    """The PyTorch function each graph must compute, by graph name (model frozen by the caller)."""
    graphs = {"forward": model,
              "tto_step": functools.partial(value_and_grad, model, config=config),
              "tto_first_step": functools.partial(first_value_and_grad, model, config=config)}
    return {**graphs, "tto_fused": fused_loop(graphs, config)}
