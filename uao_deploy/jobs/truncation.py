"""Truncated and occluded bodies (issue 23): joints hidden the way real footage hides them, and what
a lift makes of them, scored against the truth.

Truncation models (:func:`truncate`): ``full`` (nothing hidden), ``lower-out`` (pelvis, hips,
knees and ankles out of the frame for the whole clip), ``legs-gaps`` (knees and ankles out for
spans of 30-200 frames, about half the clip). :func:`truncation_scores` of a lifted clip:
upper-body MPJPE (spine to wrists, mm; relative to the pelvis, and to the thorax, which stays
detected where the pelvis is inferred), the angle between the lifted and the true trunk (median,
degrees), the angle between the estimated world up and the true up (degrees), the floor error
(|estimated - true| height of the root above the floor, mean, cm) and the length variation of
the shins where inferred and where seen (std / mean, %). ``benchmarks/truncation.py`` runs them
on the val clips.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..pipeline.world import add_world_frame

MODELS = ("full", "lower-out", "legs-gaps")
LOWER = [0, 1, 2, 3, 4, 5, 6]
LEGS = [2, 3, 5, 6]
UPPER = list(range(7, 17))


def truncate(sequence, model: str, rng: np.random.Generator):
    """The sequence with the joints of ``model`` missing (NaN, confidence 0) and the (T, 17) mask of them."""
    frames = len(sequence)
    hidden = np.zeros((frames, 17), bool)
    if model == "lower-out":
        hidden[:, LOWER] = True
    elif model == "legs-gaps":
        frame = int(rng.integers(0, 30))
        while frame < frames:
            span = int(rng.integers(30, 201))
            hidden[frame:frame + span, LEGS] = True
            frame += span + int(rng.integers(30, 201))
    pixels = np.where(hidden[..., None], np.nan, sequence.pixels).astype(np.float32)
    confidence = np.where(hidden, 0, sequence.confidence).astype(np.float32)
    return replace(sequence, pixels=pixels, confidence=confidence), hidden


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between vectors (..., 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def truncation_scores(result, clip, camera, hidden) -> dict:
    """The scores of the module docstring for ``result``, a lift of ``clip`` (a
    :class:`~uao_deploy.data.video_noise.VideoClip` seen by ``camera``) with ``hidden`` (T, 17) joints hidden."""
    pose = result.poses_3d
    arrays, metadata = add_world_frame(result.arrays(), result.metadata)
    up_true = camera.rotation[2]  # world Z (up) in camera coordinates
    frame = metadata["world_frame"]
    up = np.asarray(frame["up_in_camera"])
    true_height = clip.root @ camera.rotation[2] + camera.translation[2]  # world z of the root; floor z = 0
    height = arrays["root_world"][:, 1]
    shins = np.linalg.norm(pose[:, [3, 6]] - pose[:, [2, 5]], axis=-1)
    inferred = hidden[:, [3, 6]] | hidden[:, [2, 5]]
    return {
        "upper_mpjpe_mm": float(np.linalg.norm(pose[:, UPPER] - clip.target[:, UPPER], axis=-1).mean() * 1000),
        "upper_mpjpe_thorax_mm": float(np.linalg.norm((pose[:, UPPER] - pose[:, 8:9]) - (clip.target[:, UPPER]
                                                      - clip.target[:, 8:9]), axis=-1).mean() * 1000),
        "trunk_angle_deg": float(np.median(angle(pose[:, 8] - pose[:, 0], clip.target[:, 8] - clip.target[:, 0]))),
        "up_angle_deg": float(angle(up, up_true)),
        "floor_error_cm": float(np.abs(height - true_height).mean() * 100),
        "inferred_shin_variation_pct": float(shins[inferred].std() / shins[inferred].mean() * 100)
        if inferred.sum() > 10 else None,
        "seen_shin_variation_pct": float(shins[~inferred].std() / shins[~inferred].mean() * 100)
        if (~inferred).sum() > 10 else None,
    }
