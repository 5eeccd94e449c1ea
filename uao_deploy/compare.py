"""Comparing outputs of two backends: one table of tolerances, one way to measure a difference.

Used by the export's own check (every graph against PyTorch before anything is written), by
``uao verify`` (engines against the PyTorch reference on real keypoints) and by
``benchmarks/gpu_check.py`` (GPU engines against the CPU reference), all through
:func:`compare_outputs`. Each graph output has a kind, in its objective's registry entry: forward
outputs and poses are compared by their largest absolute difference, TTO losses and gradients
relative to each sample's own scale (a gradient's size varies by orders of magnitude between samples).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .contract import GRADIENT_OUTPUT, POSE_OUTPUT

GRADIENT_SCALE_FLOOR = 1e-6


@dataclass(frozen=True)
class Tolerances:
    """Largest accepted differences to the float32 CPU reference."""

    forward: float = 1e-5  # |mu|, |s|, absolute
    gradient: float | None = 1e-3  # step loss and gradients, relative to the sample's scale (see below)
    pose: float = 1e-4  # TTO pose, metres (Adam divides by |grad|, which magnifies float noise)
    pose_mean: float | None = None  # TTO pose, mean joint distance in metres (None: not checked)

    def to_dict(self) -> dict:
        return asdict(self)


# fp32 gradients: float32 itself is not closer. On the embedded model (256 channels) the PyTorch
# reference's own input gradients differ from a float64 evaluation by up to 6e-5 relative at the
# start point and 1.4e-4 at the moved point (where ||m - mu0|| is small for some joints and the
# norm's direction is noise-sensitive); ONNX Runtime differs from PyTorch by up to 2.4e-4. 1e-3
# leaves a margin over that noise while a wrong term (the Gaussian term alone weighs >= 4e-3) fails.
# fp32-gpu: cuBLAS/TensorRT reduce in other orders and TensorRT may run float32 matmuls as TF32.
# fp16: 11-bit mantissa, ~5e-4 relative per operation through 3 blocks, then amplified by Adam.
# bf16 (torch's bf16 TTO steps): the forward is float32; the steps are judged by what they
# produce, the 0.5 mm mean change of the final poses. Their gradients are not compared
# (they differ by design, and against the reference's float32 pseudo-targets the distance term
# is noise), and single coordinates move by up to ~1.4 cm (measured 13.6 mm max on the sample).
TOLERANCES = {
    "fp32": Tolerances(),
    "fp32-gpu": Tolerances(forward=1e-4, gradient=1e-2, pose=1e-3),
    "fp16": Tolerances(forward=1e-2, gradient=5e-2, pose=1e-2),
    "bf16": Tolerances(forward=1e-5, gradient=None, pose=3e-2, pose_mean=5e-4),
}

def compare_outputs(spec, produced: dict, expected: dict, tolerances: Tolerances, label: str = "",
                    suffix: str = "") -> list[dict]:
    """One check per output of graph ``spec`` found in both ``produced`` and ``expected`` ({name: array}),
    as Polygraphy's ``compare_accuracy``: each output measured by the metric of its kind (its spec's
    ``kind``) against that kind's tolerance. A kind whose tolerance is None is not compared; a pose
    is also judged by its mean joint distance where ``tolerances.pose_mean`` is set.

    Returns JSON-ready checks ``{"output", "metric", "max_diff", "tolerance", "passed"}``, each output
    named ``label`` + its name + ``suffix``; NaN anywhere fails."""
    checks = []
    for tensor, axis in zip(spec.outputs, spec.batch_axes()):
        if tensor.name not in produced or tensor.name not in expected:
            continue
        bound = getattr(tolerances, tensor.kind)
        if bound is None:
            continue
        value, reference = produced[tensor.name], expected[tensor.name]
        if tensor.kind == GRADIENT_OUTPUT:  # relative to each sample's scale: its batch axis first
            checks.append(_check(label + tensor.name + suffix, "rel",
                                 max_relative(np.moveaxis(value, axis, 0), np.moveaxis(reference, axis, 0)), bound))
        else:
            checks.append(_check(label + tensor.name + suffix, "abs", max_abs(value, reference), bound))
        if tensor.kind == POSE_OUTPUT and tolerances.pose_mean is not None:
            distance = np.linalg.norm(np.asarray(value, np.float64) - reference, axis=-1).mean()
            checks.append(_check(f"{label}{tensor.name} mean{suffix}", "mean m", float(distance), tolerances.pose_mean))
    return checks


def _check(output: str, metric: str, difference: float, tolerance: float) -> dict:
    return {"output": output, "metric": metric, "max_diff": difference, "tolerance": tolerance,
            "passed": bool(np.isfinite(difference) and difference <= tolerance)}


def max_abs(value, reference) -> float:
    """Largest absolute difference; NaN anywhere makes it NaN, which no tolerance accepts."""
    return float(np.abs(np.asarray(value, np.float64) - reference).max())


def max_relative(value, reference) -> float:
    """Worst per-sample difference divided by that sample's largest reference magnitude."""
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    axes = tuple(range(1, reference.ndim))
    difference = np.abs(value - reference).max(axis=axes) if axes else np.abs(value - reference)
    scale = np.abs(reference).max(axis=axes) if axes else np.abs(reference)
    return float((difference / np.maximum(scale, GRADIENT_SCALE_FLOOR)).max())
