"""MediaPipe Pose landmarks (33, BlazePose), as a long CSV: ``frame_number,landmark,x,y,z[,visibility]``.

MediaPipe has no file format of its own; this is the table most scripts write from
``results.pose_landmarks``: one row per frame and landmark, the landmark by name (``NOSE``,
``LEFT_EYE_INNER``, ... as ``mp.solutions.pose.PoseLandmark``) or index. Image landmarks are
normalized (x / width, y / height) and need ``--width`` and ``--height``. World landmarks
(``pose_world_landmarks``: metres, centred between the hips) are already 3D and are refused.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ...errors import UaoError
from .. import layouts
from .common import Detections, Person

HEADER = ("frame_number", "landmark", "x", "y")
LANDMARKS = layouts.LAYOUTS["mediapipe33"].joints
# PoseLandmark names (LEFT_EYE_INNER) -> this project's names (l_eye_inner).
_BY_NAME = {re.sub(r"^R_", "RIGHT_", re.sub(r"^L_", "LEFT_", name.upper())): i for i, name in enumerate(LANDMARKS)}


def looks_like(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, newline="", errors="replace") as handle:
        header = handle.readline().strip().lower().split(",")
    return all(column in header for column in HEADER)


def read(path: Path, width=None, height=None) -> Detections:
    with open(path, newline="", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise UaoError(f"{path} holds no landmark rows")
    frames: dict[int, np.ndarray] = {}
    for number, row in enumerate(rows, 2):
        try:
            frame = int(row["frame_number"])
            landmark = row["landmark"].strip()
            joint = int(landmark) if landmark.isdigit() else _BY_NAME[landmark.upper()]
            x, y = float(row["x"]), float(row["y"])
            visibility = float(row["visibility"]) if row.get("visibility") not in (None, "") else 1.0
        except (KeyError, ValueError, TypeError, AttributeError):
            raise UaoError(f"{path} line {number} is not frame_number,landmark,x,y,... with a MediaPipe landmark") from None
        if not 0 <= joint < len(LANDMARKS):
            raise UaoError(f"{path} line {number}: landmark {joint} is not one of MediaPipe Pose's 33")
        frames.setdefault(frame, np.zeros((len(LANDMARKS), 3)))[joint] = (x, y, visibility)
    first = min(frames)
    points = np.stack(list(frames.values()))
    hips = points[:, 23:25, :2].mean(axis=1)
    if np.abs(hips).max() < 0.05 and (points[..., :2] < 0).any():
        raise UaoError(f"{path} holds MediaPipe world landmarks (metres, centred between the hips), which are "
                       "already 3D; write the image landmarks (results.pose_landmarks) to lift them")
    if not width or not height:
        raise UaoError(f"{path}: MediaPipe image landmarks are normalized to the image; pass --width and --height")
    detections = Detections(path, "mediapipe", max(frames) - first + 1, width=width, height=height)
    for frame, keypoints in frames.items():
        keypoints[:, :2] *= (width, height)
        detections.people.append(Person(frame - first, keypoints, 0, f"{path} frame {frame}"))
    return detections
