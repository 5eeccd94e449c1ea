"""MMPose / RTMPose predictions JSON (``MMPoseInferencer(..., pred_out_dir=...)``, ``--save-predictions``).

A video: ``[{"frame_id": n, "instances": [{"keypoints": [[x, y], ...], "keypoint_scores": [...],
"bbox": ..., "track_id"?: n}]}]``, or that list as ``instance_info`` beside ``meta_info`` (the
demo scripts' ``--save-predictions``); an image: the list of instances itself. MMPose 0.x
instances hold ``keypoints`` [[x, y, score], ...] and no ``keypoint_scores``. Pixels; 17 joints are
COCO, 26 Halpe, 133 COCO-WholeBody. ``track_id`` (pose tracking) is kept when present.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import UaoError
from ..budget import frame_count, load_json, whole_number
from .common import Detections, Person, keypoint_rows


def looks_like(payload) -> bool:
    if isinstance(payload, dict):  # the demo scripts' --save-predictions: {"meta_info", "instance_info"}
        payload = payload.get("instance_info")
    return isinstance(payload, list) and bool(payload) and isinstance(payload[0], dict) \
        and ("instances" in payload[0] or "keypoint_scores" in payload[0])


def read(path: Path, width=None, height=None) -> Detections:
    payload = load_json(path)
    if not looks_like(payload):
        raise UaoError(f"{path} is not MMPose predictions (a list of {{frame_id, instances}})")
    if isinstance(payload, dict):
        payload = payload["instance_info"]
    if "instances" not in payload[0]:
        payload = [{"frame_id": 0, "instances": payload}]  # one image
    frames = []
    for number, entry in enumerate(payload):
        if not isinstance(entry, dict):
            raise UaoError(f"{path} entry {number} is not a {{frame_id, instances}} object")
        frames.append(whole_number(entry.get("frame_id", number), f"{path} entry {number} frame_id"))
    first = min(frames)
    detections = Detections(path, "mmpose", frame_count(frames, path), width=width, height=height)
    for frame, entry in zip(frames, payload):
        instances = entry.get("instances")
        if not isinstance(instances, list):
            raise UaoError(f"{path} frame {frame} has no 'instances' list")
        for number, instance in enumerate(instances):
            where = f"{path} frame {frame} instance {number}"
            try:
                if "keypoint_scores" in instance:
                    xy = keypoint_rows(instance["keypoints"], where, dims=2)
                    scores = np.asarray(instance["keypoint_scores"], dtype=np.float64)
                else:  # MMPose 0.x: [[x, y, score], ...]
                    xy, scores = np.split(keypoint_rows(instance["keypoints"], where, dims=3), [2], axis=1)
                    scores = scores[:, 0]
            except (KeyError, TypeError, ValueError, OverflowError):
                raise UaoError(f"{where} has no readable 'keypoints' and 'keypoint_scores'") from None
            if scores.shape != (len(xy),):
                raise UaoError(f"{where}: {len(xy)} keypoints but {scores.size} keypoint_scores")
            track = instance.get("track_id")
            track = None if track is None else whole_number(track, f"{where} track_id")
            detections.people.append(Person(frame - first, np.column_stack([xy, scores]), track, where))
    return detections
