"""MediaPipe Pose landmarks (33, BlazePose), as a long CSV: ``frame_number,landmark,x,y,z[,visibility]``.

MediaPipe has no file format of its own; this is the table most scripts write from
``results.pose_landmarks``: one row per frame and landmark, the landmark by name (``NOSE``,
``LEFT_EYE_INNER``, ... as ``mp.solutions.pose.PoseLandmark``) or index. Image landmarks are
normalized (x / width, y / height) and need ``--width`` and ``--height``. World landmarks
(``pose_world_landmarks``: metres, centred between the hips) are already 3D and are refused.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from ...errors import UaoError
from .. import layouts
from ..budget import first_bytes, frame_count, read_text, whole_number
from .common import Detections, Person

HEADER = ("frame_number", "landmark", "x", "y")
LANDMARKS = layouts.LAYOUTS["mediapipe33"].joints
# PoseLandmark names (LEFT_EYE_INNER) -> this project's names (l_eye_inner).
_BY_NAME = {re.sub(r"^R_", "RIGHT_", re.sub(r"^L_", "LEFT_", name.upper())): i for i, name in enumerate(LANDMARKS)}


def looks_like(path: Path) -> bool:
    if not path.is_file():
        return False
    header = first_bytes(path, 4096).decode("utf-8", errors="replace").splitlines()[:1]
    return bool(header) and all(column in header[0].strip().lower().split(",") for column in HEADER)


def read(path: Path, width=None, height=None) -> Detections:
    frames: dict[int, np.ndarray] = {}
    rows = csv.DictReader(io.StringIO(read_text(path, errors="replace"), newline=""))
    try:
        for number, row in enumerate(rows, 2):
            _add_row(path, number, row, frames)
    except csv.Error as exc:  # a field longer than csv reads (128 KiB), a NUL byte
        raise UaoError(f"{path} is not a landmark CSV ({exc})") from None
    if not frames:
        raise UaoError(f"{path} holds no landmark rows")
    count = frame_count(frames, path)
    first = min(frames)
    hips = np.array([keypoints[23:25, :2].mean(axis=0) for keypoints in frames.values()])
    if np.abs(hips).max() < 0.05 and any((keypoints[:, :2] < 0).any() for keypoints in frames.values()):
        raise UaoError(f"{path} holds MediaPipe world landmarks (metres, centred between the hips), which are "
                       "already 3D; write the image landmarks (results.pose_landmarks) to lift them")
    if not width or not height:
        raise UaoError(f"{path}: MediaPipe image landmarks are normalized to the image; pass --width and --height")
    detections = Detections(path, "mediapipe", count, width=width, height=height)
    for frame, keypoints in frames.items():
        with np.errstate(over="ignore"):  # 1e308 * width: inf, a missing joint (layouts.mark_missing)
            keypoints[:, :2] *= (width, height)
        detections.people.append(Person(frame - first, keypoints, 0, f"{path} frame {frame}"))
    return detections


def _add_row(path: Path, number: int, row: dict, frames: dict[int, np.ndarray]) -> None:
    """Put one CSV row's landmark into ``frames`` (frame number -> (33, 3) x, y, visibility)."""
    try:
        frame = whole_number(row["frame_number"], f"{path} line {number} frame_number")
        landmark = row["landmark"].strip()
        joint = int(landmark) if landmark.isdigit() else _BY_NAME[landmark.upper()]
        x, y = (float(row[axis]) if row[axis].strip() else np.nan for axis in ("x", "y"))  # empty: not found
        visibility = float(row["visibility"]) if row.get("visibility") not in (None, "") else 1.0
    except (KeyError, ValueError, TypeError, AttributeError):
        raise UaoError(f"{path} line {number} is not frame_number,landmark,x,y,... with a MediaPipe landmark") from None
    if not 0 <= joint < len(LANDMARKS):
        raise UaoError(f"{path} line {number}: landmark {joint} is not one of MediaPipe Pose's 33")
    frames.setdefault(frame, np.zeros((len(LANDMARKS), 3)))[joint] = (x, y, visibility)
