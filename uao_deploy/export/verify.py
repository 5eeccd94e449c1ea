"""Run exported graphs in ONNX Runtime (CPU) against the PyTorch reference; measure fp16 error in mm."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..camera import default_intrinsics
from ..errors import UaoError
from ..contract import TTOConfig
from .layers import exportable_model
from ..contract import GRAPHS, read_manifest
from ..runtimes import ort_session
from ..model.checkpoint import resolve_model
from .onnx import reference_functions

VERIFY_BATCHES = (1, 3, 8)
# Largest absolute difference accepted per graph output: far above float noise, far below what an
# export bug gives. fp32 noise seen: <= 5e-6. The fused loop gets more room because Adam divides by
# |grad|, which magnifies noise where a gradient is near zero. fp16 graphs are checked against the
# same fp16 model in PyTorch, whose float16 products round differently (seen: mu 1e-3 = one fp16
# step at 1 m, fused pose 2e-3).
TOLERANCES = {
    "fp32": {"mu": 1e-4, "s": 1e-4, "loss": 1e-4, "grad_z": 1e-4, "grad_z_flip": 1e-4, "pose": 1e-3, "losses": 1e-4},
    "fp16": {"mu": 5e-3, "s": 5e-3, "loss": 1e-3, "grad_z": 5e-3, "grad_z_flip": 5e-3, "pose": 1e-2, "losses": 1e-3},
}


def sample_keypoints(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plausible (x, cam, root): a jittered standing skeleton about 4-6 m in front of a 1000 px camera."""
    rng = np.random.default_rng(seed)
    cam = np.repeat(default_intrinsics(1000, 1000)[None], batch, axis=0)
    root = np.stack([rng.uniform(-0.5, 0.5, batch), rng.uniform(-0.3, 0.3, batch), rng.uniform(4, 6, batch)], axis=1)
    height = np.array([0, -1, -5, -9, -1, -5, -9, 3, 6, 7, 8, 6, 4, 2, 6, 4, 2], dtype=np.float64) / 10
    side = np.array([0, -1, -1, -1, 1, 1, 1, 0, 0, 0, 0, 2, 3, 3, -2, -3, -3], dtype=np.float64) / 10
    pose = np.stack([side, -height, np.zeros_like(side)], axis=1)[None] + rng.normal(0, 0.05, (batch, 17, 3))
    points = pose + root[:, None]
    x = cam[:, None, 0:2] * points[..., :2] / points[..., 2:] + cam[:, None, 2:4]
    return x.astype(np.float32), cam.astype(np.float32), root.astype(np.float32)


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
    for name, spec in GRAPHS.items():
        session = ort_session(Path(directory) / f"{name}.onnx")
        for batch in batches:
            inputs = sample_inputs(name, reference["forward"], batch)
            expected = reference[name](*inputs)
            produced = session.run(spec.output_names, {key: value.numpy() for key, value in zip(spec.input_names, inputs)})
            for output, want, got in zip(spec.output_names, expected, produced):
                error = float(np.abs(got - want.detach().numpy()).max())
                errors.setdefault(name, {})[output] = max(error, errors.get(name, {}).get(output, 0.0))
                if not error <= TOLERANCES[precision][output]:
                    raise UaoError(f"exported {name} graph differs from PyTorch: {output} off by {error:.3g} at batch "
                                   f"{batch} (tolerance {TOLERANCES[precision][output]:g}); nothing was written")
    return errors


def precision_error_mm(directory: str | os.PathLike, model_or_checkpoint, x, cam, root) -> dict:
    """Error in mm of an export's forward and fused-TTO poses against the fp32 PyTorch model.

    x (B, 17, 2), cam (B, 9), root (B, 3) numpy arrays. Returns {"forward": {"mean_mm", "max_mm"},
    "tto_fused": {...}}: mean is the mean per-joint distance (MPJPE-like), max the largest one.
    For an fp16 export this is its precision cost; for fp32 it is float noise.
    """
    manifest = read_manifest(directory)
    model = resolve_model(model_or_checkpoint).model
    reference = reference_functions(exportable_model(model, "fp32"), TTOConfig(**manifest["tto"]))
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
