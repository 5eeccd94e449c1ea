"""AlphaPose ``alphapose-results.json``: a list of detections, ``[{image_id, keypoints, score, idx}]``.

``keypoints`` is flat [x, y, score, ...] in pixels: 17 joints (COCO), 26 (Halpe), 133 (whole body).
``idx`` is the PoseFlow/tracker id when AlphaPose ran with ``--pose_track``; untracked results have
a list there and are linked into tracks by position. The frame is the number in ``image_id``.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UaoError
from ..budget import frame_count, load_json, whole_number
from .common import Detections, Person, frame_numbers, keypoint_rows


def looks_like(payload) -> bool:
    return isinstance(payload, list) and bool(payload) and isinstance(payload[0], dict) \
        and "image_id" in payload[0] and "keypoints" in payload[0]


def read(path: Path, width=None, height=None) -> Detections:
    payload = load_json(path)
    if not looks_like(payload):
        raise UaoError(f"{path} is not AlphaPose results (a list of {{image_id, keypoints, ...}})")
    images = list(dict.fromkeys(str(entry.get("image_id")) for entry in payload if isinstance(entry, dict)))
    frame_of = dict(zip(images, frame_numbers(images)))
    detections = Detections(path, "alphapose", frame_count(frame_of.values(), path), width=width, height=height)
    for number, entry in enumerate(payload):
        where = f"{path} entry {number}"
        if not isinstance(entry, dict) or "keypoints" not in entry:
            raise UaoError(f"{where} has no 'keypoints'")
        track = entry.get("idx")  # a list when untracked
        track = None if track is None or isinstance(track, list) else whole_number(track, f"{where} idx")
        detections.people.append(Person(frame_of[str(entry.get("image_id"))], keypoint_rows(entry["keypoints"], where),
                                        track, where))
    return detections
