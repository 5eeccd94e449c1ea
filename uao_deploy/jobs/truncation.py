"""Truncated and occluded bodies, and false people (issue 23): joints hidden the way real footage
hides them, and what a lift makes of them, scored against the truth. ``uao eval --video --occlusion
MODEL`` runs them (:func:`uao_deploy.jobs.video_eval.evaluate_videos`); ``benchmarks/truncation.py``
compares the models on the val clips.

Models (:func:`occlude`):

* ``full``: nothing hidden.
* ``lower-out``: pelvis, hips, knees and ankles out of the frame for the whole clip.
* ``legs-gaps``: knees and ankles out for spans of 30-200 frames, about half the clip.
* ``limbs``: each arm and leg (elbow and wrist, knee and ankle) occluded at random, in spans of
  ``LIMB_SPANS`` frames, about ``LIMB_SHARE`` of the time each: short gaps and long ones.
* ``false-track``: a second person (the subject's own pose from elsewhere in the clip, up to
  1.3 times as large, beside it) in ``FALSE_TRACK_SHARE`` of the frames, both untracked, read as a
  detector file is (:func:`uao_deploy.io.keypoints.common.to_sequences`): it must never be lifted
  nor give an output.

Scores (:func:`visibility_metrics`), beside the video metrics: MPJPE (root-relative, mm) on the
joints the lift marked detected and on those it inferred; upper-body MPJPE (spine to wrists,
relative to the pelvis, and to the thorax, which stays detected where the pelvis is inferred);
the angle between the lifted and the true trunk (pelvis to thorax, median, degrees) and between
the lifted trunk and the true up (median, degrees: the truth's own is the ``truth`` row); the floor
error (|estimated - true| height of the root above the floor, mean, cm; the world frame fitted as
``uao infer`` fits it, to the detected joints); the length variation of the shins where inferred
and where seen (std / mean, %); the share of frames whose lifted subject is the true one; and the
outputs a ``--person all`` run would write.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..pipeline.missing import INFERRED
from ..pipeline.world import to_world

MODELS = ("full", "lower-out", "legs-gaps", "limbs", "false-track")
LOWER = [0, 1, 2, 3, 4, 5, 6]
LEGS = [2, 3, 5, 6]
UPPER = list(range(7, 17))
LIMBS = ([12, 13], [15, 16], [2, 3], [5, 6])  # left arm, right arm, right leg, left leg
LIMB_SPANS = (5, 60)  # frames an occlusion lasts (drawn uniformly)
LIMB_SHARE = 0.15
FALSE_TRACK_SHARE = 0.03
# A frame's lifted subject is the true one when its input keypoints lie this close to the truth's (px, median).
SAME_SUBJECT_PX = 50.0


def truncate(sequence, model: str, rng: np.random.Generator):
    """The sequence with the joints of ``model`` (``full``, ``lower-out``, ``legs-gaps`` or ``limbs``)
    missing (NaN, confidence 0) and the (T, 17) mask of them."""
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
    elif model == "limbs":
        mean_gap = sum(LIMB_SPANS) / 2 * (1 - LIMB_SHARE) / LIMB_SHARE
        for limb in LIMBS:
            frame = int(rng.uniform(0, mean_gap))
            while frame < frames:
                span = int(rng.integers(LIMB_SPANS[0], LIMB_SPANS[1] + 1))
                hidden[frame:frame + span, limb] = True
                frame += span + int(rng.exponential(mean_gap))
    pixels = np.where(hidden[..., None], np.nan, sequence.pixels).astype(np.float32)
    confidence = np.where(hidden, 0, sequence.confidence).astype(np.float32)
    return replace(sequence, pixels=pixels, confidence=confidence), hidden


def with_false_track(sequence, rng: np.random.Generator):
    """(what a detector file holding the subject and a false person reads as: the main subject by
    default, and the number of people ``--person all`` would lift) -- see the module docstring."""
    from ..io.keypoints.common import Detections, Person, to_sequences

    frames = len(sequence)
    length = max(1, int(FALSE_TRACK_SHARE * frames))
    start = int(rng.integers(0, frames - length + 1))
    source = np.roll(np.arange(frames), frames // 2)  # another moment of the clip: another pose
    size = rng.uniform(0.9, 1.3)
    body = np.nanmax(sequence.pixels[..., 1], axis=1) - np.nanmin(sequence.pixels[..., 1], axis=1)
    people = [Person(frame, np.column_stack([sequence.pixels[frame], sequence.confidence[frame]]))
              for frame in range(frames)]
    for frame in range(start, start + length):
        pose = sequence.pixels[source[frame]]
        centre = np.nanmean(pose, axis=0)
        toward_middle = 1 if np.nanmean(sequence.pixels[frame, :, 0]) < sequence.width / 2 else -1
        offset = np.array([toward_middle * rng.uniform(0.6, 1.0) * np.nanmean(body), 0.0])
        people.append(Person(frame, np.column_stack([(pose - centre) * size + centre + offset,
                                                     rng.uniform(0.5, 0.9, 17)])))
    detections = Detections(Path(sequence.source), sequence.format, frames, people, width=sequence.width,
                            height=sequence.height)
    everyone = to_sequences(detections, "h36m", "all")
    main, = to_sequences(detections, "h36m", "main")
    chosen = replace(sequence, pixels=main.pixels, confidence=main.confidence)
    return chosen, len(everyone)


def occlude(clip, model: str, rng: np.random.Generator):
    """(the clip as the ``model`` hides it, the (T, 17) mask of hidden joints, {extra scores})."""
    if model == "false-track":
        sequence, outputs = with_false_track(clip.sequence, rng)
        return replace(clip, sequence=sequence), np.zeros((len(sequence), 17), bool), {"outputs": float(outputs)}
    sequence, hidden = truncate(clip.sequence, model, rng)
    return replace(clip, sequence=sequence), hidden, {}


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Degrees between vectors (..., 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def subject_share(sequence, truth_pixels: np.ndarray) -> float:
    """Share of frames whose keypoints (where detected) are the true subject's (median distance <= SAME_SUBJECT_PX)."""
    distance = np.linalg.norm(sequence.pixels - truth_pixels, axis=-1)
    usable = np.isfinite(distance) & (sequence.confidence > 0)
    same = [np.median(d[u]) <= SAME_SUBJECT_PX for d, u in zip(distance, usable) if u.any()]
    return float(np.mean(same)) if same else 0.0


def visibility_metrics(pose, root, clip, joint_source, hidden) -> dict[str, float]:
    """The scores of the module docstring for a lift (root-relative ``pose`` (T, 17, 3), ``root``
    (T, 3)) of ``clip``, whose joints the lift marked ``joint_source`` (T, 17), ``hidden`` (T, 17) being
    the joints the model hid. A score with nothing to measure (no inferred joint...) is left out."""
    pose, root = np.asarray(pose, np.float64), np.asarray(root, np.float64)
    error = np.linalg.norm(pose - clip.target, axis=-1) * 1000
    inferred = np.asarray(joint_source) == INFERRED
    detected = np.asarray(joint_source) == 0
    trunk = pose[:, 8] - pose[:, 0]
    values = {
        "mpjpe_detected": error[detected].mean(),
        "upper_mpjpe": error[:, UPPER].mean(),
        "upper_mpjpe_thorax": np.linalg.norm((pose[:, UPPER] - pose[:, 8:9]) - (clip.target[:, UPPER]
                                             - clip.target[:, 8:9]), axis=-1).mean() * 1000,
        "trunk_angle": np.median(angle(trunk, clip.target[:, 8] - clip.target[:, 0])),
    }
    if inferred.any():
        values["mpjpe_inferred"] = error[inferred].mean()
    if clip.up is not None:
        values["trunk_up_angle"] = np.median(angle(trunk, clip.up))
        if clip.camera_height is not None:
            _, root_world, _ = to_world(pose, root, detected=detected)
            true_height = clip.root @ clip.up + clip.camera_height
            values["floor_error_cm"] = np.abs(root_world[:, 1] - true_height).mean() * 100
    shins = np.linalg.norm(pose[:, [3, 6]] - pose[:, [2, 5]], axis=-1)
    legs_hidden = hidden[:, [3, 6]] | hidden[:, [2, 5]]
    for name, where in (("inferred_shin_variation", legs_hidden), ("seen_shin_variation", ~legs_hidden)):
        if where.sum() > 10:
            values[name] = shins[where].std() / shins[where].mean() * 100
    return {name: float(value) for name, value in values.items()}


def truth_visibility(clip) -> dict[str, float]:
    """The truth's own trunk angle to the up direction (median, degrees), where the clip knows it."""
    if clip.up is None:
        return {}
    return {"trunk_up_angle": float(np.median(angle(clip.target[:, 8] - clip.target[:, 0], clip.up)))}
