"""Pose errors in the units of the inputs (the CLI reports millimetres)."""
from __future__ import annotations

import numpy as np


def mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean per-joint position error of each pose (..., J, 3) -> (...)."""
    return np.linalg.norm(predicted - target, axis=-1).mean(axis=-1)


def procrustes_align(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Predicted poses (N, J, 3) after the similarity transform (rotation, scale, translation) that
    best fits them to the targets, as in protocol 2 (P-MPJPE)."""
    mu_p = predicted.mean(axis=1, keepdims=True)
    mu_t = target.mean(axis=1, keepdims=True)
    p, t = predicted - mu_p, target - mu_t
    norm_p = np.sqrt((p ** 2).sum(axis=(1, 2), keepdims=True))
    norm_t = np.sqrt((t ** 2).sum(axis=(1, 2), keepdims=True))
    p, t = p / norm_p, t / norm_t
    u, sigma, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, t))
    v = vt.transpose(0, 2, 1)
    rotation = v @ u.transpose(0, 2, 1)
    # Avoid reflections: flip the last singular direction where the determinant is negative.
    sign = np.sign(np.linalg.det(rotation))[:, None]
    v[:, :, -1] *= sign
    sigma[:, -1] *= sign[:, 0]
    rotation = v @ u.transpose(0, 2, 1)
    scale = (sigma.sum(axis=1) * norm_t[:, 0, 0] / norm_p[:, 0, 0])[:, None, None]
    return scale * np.einsum("njk,nlk->njl", p * norm_p, rotation) + mu_t


def p_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MPJPE after Procrustes alignment (protocol 2), per pose (N,)."""
    return mpjpe(procrustes_align(predicted, target), target)
