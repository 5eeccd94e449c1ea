"""Run exported graphs in ONNX Runtime (CPU) against the PyTorch reference; measure fp16 error in mm."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..errors import UaoError
from ..contract import TTOConfig
from .layers import exportable_model
from ..contract import FRAME, GRAPHS, read_manifest
from ..compare import TOLERANCES, difference, sample_keypoints, tolerance
from ..runtimes import ort_session
from ..model.checkpoint import resolve_model
from ..tto.frame_graphs import reference_functions

VERIFY_BATCHES = (1, 3, 8)


def sample_inputs(graph: str, forward, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs of ``graph`` in its input order; TTO-step inputs sit one small step away from x."""
    x, cam, root = (torch.from_numpy(array) for array in sample_keypoints(batch, seed))
    if graph == "forward":
        return (x,)
    if graph == "tto_fused":
        return x, cam, root
    x_flip = skeleton.flip_pose(x)
    with torch.no_grad():
        mu0, mu0_flip = forward(x)[0], skeleton.flip_pose(forward(x_flip)[0])
    nudge = torch.from_numpy(np.random.default_rng(seed + 1).normal(0, 1e-3, (2,) + tuple(x.shape)).astype(np.float32))
    return x + nudge[0], x_flip + nudge[1], x, mu0, mu0_flip, cam, root


def verify_graphs(directory: str | os.PathLike, model: torch.nn.Module, config: TTOConfig, precision: str,
                  batches=VERIFY_BATCHES) -> dict:
    """Largest |ONNX Runtime - PyTorch| per graph output over ``batches``; UaoError above tolerance."""
    reference = reference_functions(exportable_model(model, precision), config)
    errors = {}
    for spec in FRAME.graphs:
        name = spec.name
        session = ort_session(Path(directory) / f"{name}.onnx")
        for batch in batches:
            inputs = sample_inputs(name, reference["forward"], batch)
            expected = reference[name](*inputs)
            produced = session.run(spec.output_names, {key: value.numpy() for key, value in zip(spec.input_names, inputs)})
            for output, want, got in zip(spec.output_names, expected, produced):
                error = difference(output, got, want.detach().numpy())
                errors.setdefault(name, {})[output] = max(error, errors.get(name, {}).get(output, 0.0))
                bound = tolerance(output, TOLERANCES[precision])
                if not error <= bound:
                    raise UaoError(f"exported {name} graph differs from PyTorch: {output} off by {error:.3g} at batch "
                                   f"{batch} (tolerance {bound:g}); nothing was written")
    return errors


def precision_error_mm(directory: str | os.PathLike, model_or_checkpoint, x, cam, root) -> dict:
    """Error in mm of an export's forward and fused-TTO poses against the fp32 PyTorch model.

    x (B, 17, 2), cam (B, 9), root (B, 3) numpy arrays. Returns {"forward": {"mean_mm", "max_mm"},
    "tto_fused": {...}}: mean is the mean per-joint distance (MPJPE-like), max the largest one.
    For an fp16 export this is its precision cost; for fp32 it is float noise.
    """
    manifest = read_manifest(directory)
    model = resolve_model(model_or_checkpoint).model
    reference = reference_functions(exportable_model(model, "fp32"), TTOConfig.from_dict(manifest["tto"], directory))
    inputs = {"forward": (x,), "tto_fused": (x, cam, root)}
    errors = {}
    for name, args in inputs.items():
        spec = GRAPHS[name]
        produced = ort_session(Path(directory) / manifest["graphs"][name]["file"]).run(
            spec.output_names[:1], dict(zip(spec.input_names, (np.asarray(a, dtype=np.float32) for a in args))))[0]
        expected = reference[name](*(torch.from_numpy(np.asarray(a, dtype=np.float32)) for a in args))[0].detach().numpy()
        distance = np.linalg.norm(produced - expected, axis=-1) * 1000
        errors[name] = {"mean_mm": float(distance.mean()), "max_mm": float(distance.max())}
    return errors
