"""Run exported graphs in ONNX Runtime (CPU) against the PyTorch reference; measure fp16 error in mm."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..errors import UaoError
from ..contract import GRAPHS, MODEL_GRAPH, OBJECTIVES, SEQUENCE, TTOConfig, read_manifest
from .layers import exportable_model
from ..compare import TOLERANCES, difference, sample_keypoints, tolerance
from ..runtimes import ort_session
from ..model.checkpoint import resolve_model
from ..tto.frame_graphs import reference_functions
from ..tto.optimize import sequence_targets

VERIFY_BATCHES = (1, 3, 8)
SAMPLE_FRAMES = 9  # frames per window of the sequence graphs' checks (the trace used another size)


def sample_inputs(graph: str, forward, batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs of ``graph`` in its input order (``batch`` frames, or windows for sequence graphs);
    step inputs sit one small step away from x."""
    if graph in SEQUENCE.graph_names:
        return _sequence_inputs(graph, forward, batch, seed)
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


def _sequence_inputs(graph: str, forward, windows: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Windows of SAMPLE_FRAMES frames, each frame a different pose and root, with random confidences."""
    rng = np.random.default_rng(seed + 2)
    x, cam, root = (torch.from_numpy(array) for array in sample_keypoints(windows * SAMPLE_FRAMES, seed))
    x, root = x.unflatten(0, (windows, SAMPLE_FRAMES)), root.unflatten(0, (windows, SAMPLE_FRAMES))
    cam = cam[::SAMPLE_FRAMES]
    confidence = torch.from_numpy(rng.uniform(0.2, 1.0, x.shape[:3]).astype(np.float32))
    if graph == "seq_fused":
        return x, confidence, cam, root
    with torch.no_grad():
        mu0, mu0_flip, smooth_weight = sequence_targets(forward, x, confidence)

    def nudged(array, scale):
        return array + torch.from_numpy(rng.normal(0, scale, tuple(array.shape)).astype(np.float32))

    log_focal = nudged(torch.zeros(windows, 1), 0.01)
    return (nudged(x, 1e-3), nudged(skeleton.flip_pose(x), 1e-3), nudged(root, 0.01), log_focal, x, confidence,
            smooth_weight, mu0, mu0_flip, cam)


def verify_graphs(directory: str | os.PathLike, model: torch.nn.Module, configs: dict, precision: str,
                  batches=VERIFY_BATCHES) -> dict:
    """Largest |ONNX Runtime - PyTorch| per graph output over ``batches`` (frames, or windows for
    sequence graphs) for the objectives of ``configs`` ({objective: config}); UaoError above tolerance."""
    exportable = exportable_model(model, precision)
    errors = {}
    checked = set()
    for objective, config in configs.items():
        reference = importlib.import_module(OBJECTIVES[objective].reference).reference_functions(exportable, config)
        specs = [spec for spec in OBJECTIVES[objective].graphs if spec.name not in checked]
        checked.update(spec.name for spec in specs)
        _verify(directory, specs, reference, precision, batches, errors)
    return errors


def _verify(directory, specs, reference, precision, batches, errors) -> None:
    for spec in specs:
        name = spec.name
        session = ort_session(Path(directory) / f"{name}.onnx")
        for batch in batches:
            inputs = sample_inputs(name, reference[MODEL_GRAPH], batch)
            expected = reference[name](*inputs)
            produced = session.run(spec.output_names, {key: value.numpy() for key, value in zip(spec.input_names, inputs)})
            for output, want, got in zip(spec.output_names, expected, produced):
                error = difference(output, got, want.detach().numpy())
                errors.setdefault(name, {})[output] = max(error, errors.get(name, {}).get(output, 0.0))
                bound = tolerance(output, TOLERANCES[precision])
                if not error <= bound:
                    raise UaoError(f"exported {name} graph differs from PyTorch: {output} off by {error:.3g} at batch "
                                   f"{batch} (tolerance {bound:g}); nothing was written")


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
