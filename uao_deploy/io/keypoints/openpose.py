"""OpenPose JSON: one file per frame (``*_keypoints.json`` from ``--write_json``), or one such file.

Each file: ``{"people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...], ...}]}`` (before
OpenPose 1.3: ``pose_keypoints``; AlphaPose ``--format open`` writes the same), pixels,
confidence 0 where a joint was not found. ``person_id`` -1 means untracked. The JSON does not name
the model: 18 joints are COCO-18; 25 are BODY_25 or BODY_25B, told apart by the keypoints
themselves or by ``--layout``.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UaoError
from ..budget import frame_count, load_json, whole_number
from .common import Detections, Person, files_in, frame_numbers, keypoint_rows


def looks_like(payload) -> bool:
    return isinstance(payload, dict) and "people" in payload


def read(path: Path, width=None, height=None) -> Detections:
    files = files_in(path, ".json") if path.is_dir() else [path]
    frames = frame_numbers([f.name for f in files])
    detections = Detections(path, "openpose", frame_count(frames, path), default_layouts={18: "coco18"},
                            width=width, height=height)
    for frame, file in zip(frames, files):
        payload = load_json(file)
        if not looks_like(payload) or not isinstance(payload["people"], list):
            raise UaoError(f"{file} is not an OpenPose keypoint file (no 'people' list)")
        for number, entry in enumerate(payload["people"]):
            where = f"{file} person {number}"
            # OpenPose before 1.3 called the body keypoints "pose_keypoints".
            key = next((k for k in ("pose_keypoints_2d", "pose_keypoints") if isinstance(entry, dict) and k in entry),
                       None)
            if key is None:
                raise UaoError(f"{where} has no 'pose_keypoints_2d'")
            if not entry[key]:
                continue  # OpenPose writes an empty list for a face- or hand-only detection
            track = entry.get("person_id", [-1])
            track = track[0] if isinstance(track, list) and track else track
            track = None if track is None or track == [] else whole_number(track, f"{where} person_id")
            detections.people.append(Person(frame, keypoint_rows(entry[key], where),
                                            track if track is not None and track >= 0 else None, where))
    return detections
