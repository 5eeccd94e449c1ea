"""Ultralytics YOLO-pose ``save_txt`` folders: one ``<video>_<frame>.txt`` per frame with someone in it.

Each line is one person: ``class cx cy w h`` then x y (visibility) per keypoint, all normalized to
the image (0..1), optionally followed by the box confidence (``save_conf``) and the track id
(``model.track``). Frames with nobody get no file; the frame number in the name keeps those gaps.
Normalized coordinates need the image size: ``--width`` and ``--height``. YOLO-pose models are
trained on COCO-17 (or Halpe-26 / COCO-WholeBody-133), so only those counts are read, and every line
of a folder must hold the same keypoint values: a stray or lost value is an error, not a skeleton.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import UaoError
from .. import layouts
from ..budget import frame_count, read_text, whole_number
from .common import Detections, Person, files_in, frame_numbers

BOX_VALUES = 5
JOINT_COUNTS = tuple(len(layouts.LAYOUTS[name]) for name in ("coco", "halpe26", "wholebody133"))


def looks_like(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() == ".txt" for p in path.iterdir())


def _split(count: int) -> tuple[int, int, int] | None:
    """(joints, values per joint, extra values) of a line with ``count`` values, or None."""
    for dims in (3, 2):
        for extra in (0, 1, 2):
            joints, rest = divmod(count - BOX_VALUES - extra, dims)
            if not rest and joints in JOINT_COUNTS:
                return joints, dims, extra
    return None


def read(path: Path, width=None, height=None) -> Detections:
    if not path.is_dir():
        raise UaoError(f"{path}: YOLO-pose results are a folder of .txt files (save_txt), one per frame")
    if not width or not height:
        raise UaoError(f"{path}: YOLO-pose coordinates are normalized to the image; pass --width and --height (pixels)")
    files = files_in(path, ".txt")
    frames = frame_numbers([f.name for f in files])
    detections = Detections(path, "yolo", frame_count(frames, path), width=width, height=height)
    first_line = None  # (where, joints, values per joint) of the folder's first line
    for frame, file in zip(frames, files):
        for number, line in enumerate(read_text(file, errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{file} line {number}"
            try:
                values = np.array(line.split(), dtype=np.float64)
            except ValueError:
                raise UaoError(f"{where} is not a line of numbers") from None
            shape = _split(len(values))
            if shape is None:
                raise UaoError(f"{where} has {len(values)} values, which fit no YOLO-pose keypoint count "
                               f"(class, box, then x y [visibility] for {' or '.join(map(str, JOINT_COUNTS))} "
                               "keypoints, [confidence], [track id])")
            joints, dims, extra = shape
            first_line = first_line or (where, joints, dims)
            if (joints, dims) != first_line[1:]:
                raise UaoError(f"{where} holds {joints} keypoints of {dims} values but {first_line[0]} holds "
                               f"{first_line[1]} of {first_line[2]}: a stray or lost value, or two models' "
                               "results in one folder")
            points = values[BOX_VALUES:BOX_VALUES + joints * dims].reshape(joints, dims)
            if dims == 3:
                confidence = points[:, 2]
            else:  # no visibility column: Ultralytics writes 0 0 for a keypoint it did not find
                confidence = (points[:, :2] != 0).any(axis=1).astype(np.float64)
            with np.errstate(over="ignore"):  # 1e308 * width: inf, a missing joint (layouts.mark_missing)
                pixels = points[:, :2] * [width, height]
            # One extra value is a box confidence (below 1) or a track id (an integer from 1); two are both.
            track = whole_number(float(values[-1]), f"{where} track id") \
                if extra == 2 or (extra == 1 and values[-1] >= 1) else None
            detections.people.append(Person(frame, np.column_stack([pixels, confidence]), track, where))
    return detections
