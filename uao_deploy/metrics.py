"""Pose errors in the units of the inputs (the CLI reports millimetres).

Per pose: MPJPE (protocol 1) and P-MPJPE (protocol 2). Per sequence, the world-grounded metrics of
WHAM and GVHMR on 17 joints (see docs/world-grounded.md): W-MPJPE100 and WA-MPJPE100, RTE, jitter
and foot sliding; plus the root error split into lateral and depth parts and the angle between two
up directions.
"""
from __future__ import annotations

import numpy as np

CHUNK = 100  # frames per W-MPJPE100 / WA-MPJPE100 chunk
STILL_FOOT_M = 0.01  # a true foot moving less than this per frame at STILL_FOOT_FPS is planted (WHAM)
STILL_FOOT_FPS = 30.0


def mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean per-joint position error of each pose (..., J, 3) -> (...)."""
    return np.linalg.norm(predicted - target, axis=-1).mean(axis=-1)


def similarity_transform(predicted: np.ndarray, target: np.ndarray, with_scale: bool = True
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale (N,), rotation (N, 3, 3), translation (N, 3)) that best map each point set (N, J, 3) of
    ``predicted`` onto ``target`` in least squares (Umeyama): target ~ scale * predicted @ rotation.T +
    translation. ``with_scale`` False fixes the scale at 1 (a rigid fit). Never a reflection."""
    mu_p = predicted.mean(axis=1, keepdims=True)
    mu_t = target.mean(axis=1, keepdims=True)
    p, t = predicted - mu_p, target - mu_t
    u, sigma, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, t))
    v = vt.transpose(0, 2, 1)
    # Avoid reflections: flip the last singular direction where the determinant is negative.
    sign = np.where(np.linalg.det(v @ u.transpose(0, 2, 1)) < 0, -1.0, 1.0)
    v[:, :, -1] *= sign[:, None]
    sigma[:, -1] *= sign
    rotation = v @ u.transpose(0, 2, 1)
    spread = (p ** 2).sum(axis=(1, 2))
    scale = sigma.sum(axis=1) / np.where(spread > 0, spread, 1) if with_scale else np.ones(len(p))
    translation = mu_t[:, 0] - scale[:, None] * np.einsum("nk,njk->nj", mu_p[:, 0], rotation)
    return scale, rotation, translation


def _apply(scale, rotation, translation, points: np.ndarray) -> np.ndarray:
    """Points (N, J, 3) through the N transforms of :func:`similarity_transform`."""
    return scale[:, None, None] * np.einsum("njk,nlk->njl", points, rotation) + translation[:, None]


def procrustes_align(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Predicted poses (N, J, 3) after the similarity transform (rotation, scale, translation) that
    best fits them to the targets, as in protocol 2 (P-MPJPE)."""
    return _apply(*similarity_transform(predicted, target), predicted)


def p_mpjpe(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MPJPE after Procrustes alignment (protocol 2), per pose (N,)."""
    return mpjpe(procrustes_align(predicted, target), target)


def _chunks(frames: int, chunk: int):
    return [slice(start, min(start + chunk, frames)) for start in range(0, frames, chunk)]


def w_mpjpe(predicted: np.ndarray, target: np.ndarray, chunk: int = CHUNK, fit_frames: int | None = 2) -> float:
    """W-MPJPE100 (``fit_frames`` 2) or WA-MPJPE100 (``fit_frames`` None) of a sequence of absolute
    joints (T, J, 3): per ``chunk``-frame chunk, the similarity transform fitted on the chunk's first
    ``fit_frames`` frames (all of them where None) maps the whole predicted chunk onto the truth;
    the mean joint error over every frame of every chunk."""
    errors = []
    for part in _chunks(len(predicted), chunk):
        fit = slice(part.start, part.start + fit_frames) if fit_frames else part
        transform = similarity_transform(predicted[fit].reshape(1, -1, 3), target[fit].reshape(1, -1, 3))
        aligned = _apply(*transform, predicted[part].reshape(1, -1, 3)).reshape(predicted[part].shape)
        errors.append(np.linalg.norm(aligned - target[part], axis=-1).mean(axis=-1))
    return float(np.concatenate(errors).mean())


def rte(predicted_root: np.ndarray, target_root: np.ndarray) -> float:
    """Root translation error in % of the true path length: the predicted root trajectory (T, 3)
    rigidly aligned (rotation and translation, no scale) to the truth over the whole sequence,
    mean root error divided by the summed length of the true per-frame displacements, x 100."""
    transform = similarity_transform(predicted_root[None], target_root[None], with_scale=False)
    aligned = _apply(*transform, predicted_root[None])[0]
    path = np.linalg.norm(np.diff(target_root, axis=0), axis=-1).sum()
    return float(np.linalg.norm(aligned - target_root, axis=-1).mean() / max(path, 1e-9) * 100)


def jitter(joints: np.ndarray, fps: float) -> float:
    """Mean norm of the third finite difference of the joints (T, J, 3) x fps^3 / 10: in 10 m/s^3 for
    joints in metres (WHAM's unit)."""
    if len(joints) < 4:
        return 0.0
    third = joints[3:] - 3 * joints[2:-1] + 3 * joints[1:-2] - joints[:-3]
    return float(np.linalg.norm(third, axis=-1).mean() * fps ** 3 / 10)


def still_feet(feet: np.ndarray, fps: float) -> np.ndarray:
    """(T - 1, F) bool: where each foot (T, F, 3) moves less than ``STILL_FOOT_M`` per frame at
    ``STILL_FOOT_FPS`` to the next frame (the threshold scaled by STILL_FOOT_FPS / fps)."""
    return np.linalg.norm(np.diff(feet, axis=0), axis=-1) < STILL_FOOT_M * STILL_FOOT_FPS / fps


def foot_sliding(predicted_feet: np.ndarray, target_feet: np.ndarray, fps: float) -> float:
    """Mean displacement per frame of the predicted feet (T, F, 3) over the frames where the true foot
    moves less than ``STILL_FOOT_M`` per frame at ``STILL_FOOT_FPS`` (the threshold scaled by
    STILL_FOOT_FPS / fps); 0 where the true feet never stand still."""
    still = still_feet(target_feet, fps)
    moved = np.linalg.norm(np.diff(predicted_feet, axis=0), axis=-1)
    return float(moved[still].mean()) if still.any() else 0.0


def root_error_parts(predicted_root: np.ndarray, target_root: np.ndarray) -> dict[str, float]:
    """The camera-frame root error (T, 3), z forward, split: mean lateral error (x, y), mean absolute
    depth error (z) and the signed depth bias (mean of predicted - true z: negative is too near)."""
    error = predicted_root - target_root
    return {"root_lateral": float(np.linalg.norm(error[:, :2], axis=-1).mean()),
            "root_depth": float(np.abs(error[:, 2]).mean()), "depth_bias": float(error[:, 2].mean())}


def angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """Angle between two directions (3,), degrees."""
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
