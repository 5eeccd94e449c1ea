"""Comparing outputs of two backends: one table of tolerances, one way to measure a difference.

Used by the export's own check (every graph against PyTorch before anything is written), by
``uao verify`` (engines against the PyTorch reference on real keypoints) and by
``benchmarks/gpu_check.py`` (GPU engines against the CPU reference). Each output has a kind:
forward outputs and poses are compared by their largest absolute difference, TTO losses and
gradients relative to each sample's own scale (a gradient's size varies by orders of magnitude
between samples).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .camera import default_intrinsics

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

# The kind of each graph output: which tolerance of :class:`Tolerances` applies, and how it is measured.
OUTPUT_KINDS = {"mu": "forward", "s": "forward", "loss": "gradient", "grad_z": "gradient",
                "grad_z_flip": "gradient", "losses": "gradient", "mu0": "forward", "mu0_flip": "forward",
                "pose": "pose", "grad_root": "gradient", "grad_log_focal": "gradient", "trajectory": "pose",
                "focal_scale": "pose"}


def difference(output: str, value, reference) -> float:
    """How far ``value`` is from ``reference`` for a graph output of that name, in its kind's metric."""
    kind = OUTPUT_KINDS[output]
    if kind != "gradient":
        return max_abs(value, reference)
    if output == "losses":  # (K, B): the batch is the second axis
        value, reference = np.swapaxes(value, 0, 1), np.swapaxes(reference, 0, 1)
    return max_relative(value, reference)


def tolerance(output: str, tolerances: Tolerances) -> float:
    return getattr(tolerances, OUTPUT_KINDS[output])


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
