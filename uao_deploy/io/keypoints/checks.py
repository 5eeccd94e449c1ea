"""Keypoint values that cannot be right: points a detector did not see, a wrong image size, garbage.

* :func:`drop_implausible`: a point at exactly (0, 0) (how several detectors write "not found"),
  or one on the image's edge (x or y exactly 0, W - 1 or W, as detectors clamp) that lies more
  than ``BORDER_JUMP`` body sizes from where the rest of its track puts it (OpenPose's nose at
  x = 0 while the subject stands in the middle of the image), is missing, whatever its confidence.
* :func:`check_inside_image`: keypoints outside the stated image refuse the run, naming the common
  video size they fit. Detector files: any joint more than 25 % of the image outside it.
  Every input (:func:`check_upper_body_inside`): a confident head or shoulder more than 10 %
  outside; the other joints do not count there, as top-down detectors guess joints out of the
  frame (HRNet places the legs and elbows of a webcam clip up to 65 % of the image height below
  it, with confidence 0.3-0.6), while a head and shoulders they report are in the image.
* :func:`quality_notes`: a warning line for a low mean confidence or 2D bone lengths that vary
  beyond what a moving person's foreshortening does.
"""
from __future__ import annotations

import numpy as np

from ... import skeleton
from ...camera import check_intrinsics
from ...errors import UaoError
from .sequence import KeypointSequence

BORDER_JUMP = 0.25  # body sizes (the diagonal of the frame's detected joints)
# check_upper_body_inside: a head or shoulder with confidence above UPPER_CONFIDENCE farther than
# UPPER_MARGIN image sizes outside the image is outside; more than OUTSIDE_FRACTION of the points
# outside means the stated size is wrong (the real files of ../shared/data at their own sizes have
# none outside; at two thirds of it the Pose2Sim and PoseMamba webcam clips have 12 % and 60 %).
UPPER_BODY = tuple(skeleton.JOINT_NAMES.index(name) for name in
                   ("head", "neck_nose", "thorax", "l_shoulder", "r_shoulder"))
UPPER_CONFIDENCE = 0.3
UPPER_MARGIN = 0.1
OUTSIDE_FRACTION = 0.05
COMMON_SIZES = ((640, 360), (640, 480), (854, 480), (960, 540), (1024, 576), (1280, 720), (1280, 960),
                (1920, 1080), (2560, 1440), (3840, 2160), (1088, 1920))
# quality_notes: the warning thresholds
LOW_CONFIDENCE = 0.3  # mean confidence of the detected joints
# Median over the limbs of the std / mean of their 2D length: 2-25 % on the real files of
# ../shared/data (the AlphaPose dancer 25 %), 47 % for random points.
BONE_VARIATION = 0.35
LIMBS = ((1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16))


def drop_implausible(points: np.ndarray, confidence: np.ndarray, width: float | None = None,
                     height: float | None = None) -> np.ndarray:
    """Confidence (T, J) with 0 where a point of ``points`` (T, J, 2, any layout) cannot be a detection."""
    points = np.asarray(points, np.float64)
    confidence = np.array(confidence, np.float32)
    seen = (confidence > 0) & np.isfinite(points).all(axis=-1)
    confidence[seen & (points == 0).all(axis=-1)] = 0
    seen = confidence > 0
    edge = (points == 0).any(axis=-1)
    if width and height:  # clamped to the last pixel (W - 1) or the image's end (W)
        for axis, size in enumerate((width, height)):
            edge |= (points[..., axis] == size - 1) | (points[..., axis] == size)
    suspects = np.argwhere(seen & edge)
    if len(suspects) == 0:
        return confidence
    inner = seen & ~edge
    size = np.array([_body_size(points[t, seen[t]]) for t in range(len(points))])
    frames = np.arange(len(points))
    for t, j in suspects:
        trusted = inner[:, j]
        if trusted.sum() >= 1:  # where its own track, through its points off the edge, puts it
            expected = np.array([np.interp(t, frames[trusted], points[trusted, j, axis]) for axis in (0, 1)])
            off = np.linalg.norm(points[t, j] - expected)
        else:  # never off the edge: how far outside the box of the frame's other joints
            others = points[t, inner[t]]
            if len(others) < 2:
                continue
            off = np.linalg.norm(np.maximum(0, np.maximum(others.min(axis=0) - points[t, j],
                                                          points[t, j] - others.max(axis=0))))
        if off > BORDER_JUMP * size[t]:
            confidence[t, j] = 0
    return confidence


def _body_size(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0))) if len(points) > 1 else 0.0


def check_upper_body_inside(sequence: KeypointSequence, width: float | None, height: float | None) -> None:
    """Refuse a Human3.6M-17 sequence whose confident head and shoulder points lie outside the image."""
    if width and height:
        check_intrinsics(width, height, source=sequence.source)  # a size no image has, named as such first
    upper = sequence.pixels[:, UPPER_BODY]
    confident = (sequence.confidence[:, UPPER_BODY] > UPPER_CONFIDENCE) & np.isfinite(upper).all(axis=-1)
    check_inside_image(upper[confident], width, height, UPPER_MARGIN, sequence.source, "head and shoulder keypoints")


def check_inside_image(points: np.ndarray, width: float | None, height: float | None, margin: float, source,
                       what: str = "keypoints") -> None:
    """Refuse when more than ``OUTSIDE_FRACTION`` of ``points`` (N, 2) lie farther than ``margin`` image
    sizes outside the ``width`` x ``height`` image, naming the common video size they fit."""
    if not width or not height or len(points) == 0:
        return
    size = np.array([width, height], np.float64)
    outside = ((points < -margin * size) | (points > (1 + margin) * size)).any(axis=1)
    if outside.mean() <= OUTSIDE_FRACTION:
        return
    reach = np.percentile(points, 99, axis=0)
    fits = [(w, h) for w, h in COMMON_SIZES if (h > w) == (height > width) and w >= reach[0] and h >= reach[1]]
    likely = (f"they fit {fits[0][0]}x{fits[0][1]}, a common video size: is that the video's?" if fits else
              "no common video size of that orientation holds them")
    raise UaoError(f"{source}: {outside.mean():.0%} of the {what} lie outside the {width:g}x{height:g} image "
                   f"(they reach x={reach[0]:.0f}, y={reach[1]:.0f}; {likely}). Pass the video's own "
                   "--width/--height; a wrong size, or frames of videos of different resolutions mixed")


def quality_notes(sequence: KeypointSequence) -> tuple[str, ...]:
    """Warning lines for keypoints that look like garbage (see the module docstring); () when fine."""
    notes = []
    detected = sequence.confidence > 0
    if detected.any() and sequence.confidence[detected].mean() < LOW_CONFIDENCE:
        notes.append(f"{sequence.source}: the mean keypoint confidence is {sequence.confidence[detected].mean():.2f} "
                     f"(below {LOW_CONFIDENCE}): the detections may be poor and the 3D result with them")
    variation = bone_variation(sequence.pixels, detected)
    if variation is not None and variation > BONE_VARIATION:
        notes.append(f"{sequence.source}: the limbs' 2D lengths vary {variation:.0%} over the frames (a moving "
                     f"person's foreshortening stays below {BONE_VARIATION:.0%}): are these keypoints of one "
                     "person, in the stated layout?")
    return tuple(notes)


def bone_variation(pixels: np.ndarray, detected: np.ndarray) -> float | None:
    """Median over the limbs of the std / mean of their 2D length over frames (None with too few frames)."""
    ratios = []
    for a, b in LIMBS:
        both = detected[:, a] & detected[:, b]
        if both.sum() >= 5:
            lengths = np.linalg.norm(pixels[both, a] - pixels[both, b], axis=-1)
            if lengths.mean() > 0:
                ratios.append(lengths.std() / lengths.mean())
    return float(np.median(ratios)) if ratios else None
