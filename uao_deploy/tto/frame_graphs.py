"""The per-frame objective's graphs as PyTorch functions: what the exporter traces and checks.

Registered in :data:`uao_deploy.contract.FRAME`. ``reference_functions`` gives the function each
directly traced graph computes; ``fused_loop`` builds the fused graph's function, the one UAO loop
:func:`~uao_deploy.tto.optimize.refine`, over any callables standing for those graphs (the model's
own functions, or the tracer's placeholders).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .. import skeleton
from ..contract import TTOConfig
from ..inputs import moved, sample_keypoints
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


def sample_inputs(graph: str, forward, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs of ``graph`` in its input order for ``batch`` frames of :func:`~uao_deploy.inputs.sample_keypoints`;
    the step's point sits one small step away from x, its targets are ``forward``'s predictions."""
    x, cam, root = (torch.from_numpy(array) for array in sample_keypoints(batch, seed))
    if graph == "forward":
        return (x,)
    if graph == "tto_fused":
        return x, cam, root
    x_flip = skeleton.flip_pose(x)
    with torch.no_grad():
        mu0, mu0_flip = forward(x)[0], skeleton.flip_pose(forward(x_flip)[0])
    rng = np.random.default_rng(seed + 1)
    z, z_flip = (torch.from_numpy(moved(array.numpy(), 1e-3, rng)) for array in (x, x_flip))
    return z, z_flip, x, mu0, mu0_flip, cam, root
