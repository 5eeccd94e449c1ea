"""2D detector outputs in, Human3.6M-17 keypoint sequences out: one reader per detector family.

========== ============================================ ===========================================
format     what                                         layouts (joints)
========== ============================================ ===========================================
openpose   folder of per-frame JSON (or one file)       COCO-18, BODY_25, BODY_25B (``--layout``)
alphapose  ``alphapose-results.json``                   COCO-17, Halpe-26, COCO-WholeBody-133
mmpose     MMPose/RTMPose predictions JSON              COCO-17, Halpe-26, COCO-WholeBody-133
yolo       Ultralytics ``save_txt`` folder (normalized) COCO-17
mediapipe  landmark CSV (normalized image landmarks)    MediaPipe-33
npz        MHFormer/PoseMamba, plain, VideoPose3D       Human3.6M-17, COCO-17
========== ============================================ ===========================================

The format is recognised by content (a folder by the files in it), never by name; ``format``
forces it. People, tracks and gaps: see :mod:`uao_deploy.io.keypoints.common`.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import UaoError
from ..budget import first_bytes, load_json, regular_file
from . import alphapose, mediapipe, mmpose, openpose, yolo
from .common import natural_key, to_sequences

READERS = {"openpose": openpose, "alphapose": alphapose, "mmpose": mmpose, "yolo": yolo, "mediapipe": mediapipe}
FORMATS = ("auto", *READERS, "npz")


def detect_format(path: Path) -> str:
    """The reader for ``path`` (an existing file or folder that is not an npz), recognised by its
    content; only regular files are opened (:mod:`uao_deploy.io.budget`)."""
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        if not files:
            raise UaoError(f"{path} is an empty folder")
        frames = sorted((p for p in files if p.suffix.lower() == ".json"), key=lambda p: natural_key(p.name))
        if frames:
            if is_openpose_frame(frames[0]):
                return "openpose"
            raise UaoError(f"{path} holds JSON that is not OpenPose frames ({frames[0].name}): give the file itself "
                           "(AlphaPose and MMPose write one file per video)")
        if yolo.looks_like(path):
            return "yolo"
        raise UaoError(f"{path} holds neither OpenPose .json nor YOLO-pose .txt files")
    regular_file(path)
    if mediapipe.looks_like(path):
        return "mediapipe"
    if first_bytes(path, 1) not in (b"{", b"["):
        raise UaoError(f"{path} is not a keypoint file uao reads (npz, OpenPose/AlphaPose/MMPose JSON, "
                       "MediaPipe CSV, or a folder of OpenPose JSON or YOLO-pose txt files)")
    payload = load_json(path)
    for name in ("openpose", "alphapose", "mmpose"):
        if READERS[name].looks_like(payload):
            return name
    if payload in ([], {}):
        raise UaoError(f"{path} is an empty JSON {'list' if payload == [] else 'object'}: no detections")
    raise UaoError(f"{path} is JSON but not OpenPose, AlphaPose or MMPose keypoints")


def is_openpose_frame(path: Path) -> bool:
    """Whether a JSON file is one OpenPose frame (an object with "people"), not a whole video's
    AlphaPose or MMPose results (a list, or an object without "people"): read only when it starts
    as an object. A damaged one counts as a frame, so that the OpenPose reader names the damage."""
    if first_bytes(path, 1) != b"{":
        return False
    try:
        return openpose.looks_like(load_json(path))
    except UaoError:
        return True


def read_detector_output(path, format: str = "auto", layout: str = "auto", person: str = "main",
                         width: float | None = None, height: float | None = None):
    """Every selected person of a detector output as Human3.6M-17 :class:`KeypointSequence` s."""
    path = Path(path)
    if format not in READERS and format != "auto":
        raise UaoError(f"unknown keypoint format {format!r}; choose one of {', '.join(FORMATS)}")
    if not path.is_dir():
        regular_file(path)  # a missing path, a FIFO, a device or a loop of links: refused before any read
    reader = READERS[detect_format(path) if format == "auto" else format]
    return to_sequences(reader.read(path, width, height), layout, person)
