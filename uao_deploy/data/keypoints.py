"""2D keypoint files in, Human3.6M-17 pixel sequences out: format detection, COCO conversion, gap filling.

Formats, recognised by their keys (the file name does not matter):

* **MHFormer / PoseMamba demo output** -- key ``reconstruction``, (P, T, 17, 3) float: x, y in pixels,
  HRNet confidence; Human3.6M order. No image size inside: pass ``width``/``height``. Each person P
  is one sequence.
* **Plain keypoints** -- key ``keypoints``, (T, 17, 2) or (T, 17, 3) pixels (+ confidence), and
  optionally ``width``, ``height``, ``fps``, ``focal`` (pixels, one value or fx, fy) and ``center``
  (cx, cy pixels). No pickled objects.
* **VideoPose3D custom 2D** (``data_2d_custom_*.npz``) -- ``positions_2d``: a pickled dict
  video -> {"custom": [(T, 17, 2) array]}, and ``metadata`` with ``layout_name`` and
  ``video_metadata`` {video: {"w", "h"}}. Unpickling can run code, so it is refused unless the
  caller passes ``allow_pickle=True`` (``uao infer --allow-pickle``). Each video is one sequence.

Layouts: Human3.6M-17 (see :mod:`uao_deploy.skeleton`) or COCO-17 (YOLO-pose, RTMPose, MMPose,
Detectron), converted by :func:`coco_to_h36m`.

Missing detections: a joint whose coordinates are NaN or whose confidence is 0 (or NaN) is missing.
:func:`fill_missing` fills it by linear interpolation over time (per joint; the nearest detection at
the ends); a joint never detected in the whole sequence takes its parent's track (the pelvis: the
mean of the other joints). A sequence with no detected joint at all is an error.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import skeleton
from ..errors import UaoError
from .npz import numbers, open_npz, read_array

LAYOUTS = ("auto", "h36m", "coco")
COCO_JOINT_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
# Human3.6M joints that COCO detects directly: H36M index -> COCO index (neck/nose starts at the nose).
COCO_FOR_H36M = {9: 0, 11: 5, 14: 6, 12: 7, 15: 8, 13: 9, 16: 10, 4: 11, 1: 12, 5: 13, 2: 14, 6: 15, 3: 16}


@dataclass(frozen=True)
class KeypointSequence:
    """One person's 2D track in Human3.6M-17 order; missing joints are NaN with confidence 0."""

    name: str  # used to name output files: the file stem, plus the video or person when a file holds several
    source: str  # the file (and the video or person inside it)
    format: str  # "mhformer" | "keypoints" | "videopose3d"
    layout: str  # the layout the file was in: "h36m" | "coco"
    pixels: np.ndarray  # (T, 17, 2) float32, pixels, origin top left, y down
    confidence: np.ndarray  # (T, 17) float32
    width: float | None = None
    height: float | None = None
    fps: float | None = None
    focal: tuple[float, float] | None = None  # pixels
    center: tuple[float, float] | None = None  # pixels

    def __len__(self) -> int:
        return len(self.pixels)


def read_keypoints(path, layout: str = "auto", allow_pickle: bool = False) -> list[KeypointSequence]:
    """All sequences of a keypoint file, converted to Human3.6M-17 (missing joints still NaN).

    ``layout`` "auto" takes the layout the file declares (VideoPose3D's ``layout_name``; MHFormer
    files are Human3.6M) and Human3.6M otherwise; "h36m" or "coco" force it, and contradicting a
    file's declared layout is an error.
    """
    if layout not in LAYOUTS:
        raise UaoError(f"unknown keypoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    path = Path(path)
    with open_npz(path, ".npz keypoint file", allow_pickle) as archive:
        if "reconstruction" in archive.files:
            sequences = _read_mhformer(path, archive)
        elif "keypoints" in archive.files:
            sequences = [_read_plain(path, archive)]
        elif "positions_2d" in archive.files:
            sequences = _read_videopose3d(path, archive, allow_pickle)
        else:
            raise UaoError(f"{path} holds none of the keys 'reconstruction' (MHFormer/PoseMamba), 'keypoints' "
                           f"(plain) or 'positions_2d' (VideoPose3D); it has {', '.join(archive.files) or 'no arrays'}")
    if not sequences:
        raise UaoError(f"{path} holds no keypoint sequence")
    return [_to_h36m(sequence, layout) for sequence in sequences]


def _array(path: Path, archive, key: str) -> np.ndarray:
    return read_array(path, archive, key, "pass --allow-pickle (allow_pickle=True) only if you trust the file")


def _track(path: Path, array, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, 17, 2|3) numbers -> pixels (T, 17, 2) and confidence (T, 17) (1.0 when absent)."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise UaoError(f"{path}: {what} is not numeric (dtype {array.dtype})")
    if array.ndim != 3 or array.shape[2] not in (2, 3):
        raise UaoError(f"{path}: {what} has shape {array.shape}; expected (T, {skeleton.NUM_JOINTS}, 2 or 3)")
    if array.shape[1] != skeleton.NUM_JOINTS:
        raise UaoError(f"{path}: {what} has {array.shape[1]} joints; expected {skeleton.NUM_JOINTS} "
                       "(Human3.6M-17 or COCO-17)")
    if len(array) == 0:
        raise UaoError(f"{path}: {what} holds no frames")
    array = array.astype(np.float32)
    confidence = array[..., 2] if array.shape[2] == 3 else np.ones(array.shape[:2], np.float32)
    return array[..., :2], confidence


def _scalar(path: Path, archive, key: str) -> float | None:
    if key not in archive.files:
        return None
    value = np.asarray(_array(path, archive, key))
    if value.size != 1 or value.dtype.kind not in "fiu" or not np.isfinite(value).all() or value.item() <= 0:
        raise UaoError(f"{path}: {key!r} must be one positive number; got {value!r}")
    return float(value.item())


def _pair(path: Path, archive, key: str) -> tuple[float, float] | None:
    if key not in archive.files:
        return None
    value = numbers(path, _array(path, archive, key), key).ravel()
    if value.size == 1:
        value = np.repeat(value, 2)
    if value.size != 2 or not np.isfinite(value).all():
        raise UaoError(f"{path}: {key!r} must hold one or two finite numbers; got {value!r}")
    return float(value[0]), float(value[1])


def _read_mhformer(path: Path, archive) -> list[KeypointSequence]:
    tracks = np.asarray(_array(path, archive, "reconstruction"))
    if tracks.ndim == 3:
        tracks = tracks[None]
    if tracks.ndim != 4:
        raise UaoError(f"{path}: 'reconstruction' has shape {tracks.shape}; expected (persons, T, 17, 3)")
    sequences = []
    for person, track in enumerate(tracks):
        pixels, confidence = _track(path, track, "'reconstruction'")
        several = len(tracks) > 1
        sequences.append(KeypointSequence(
            name=f"{path.stem}_person{person}" if several else path.stem,
            source=f"{path}#person{person}" if several else str(path),
            format="mhformer", layout="h36m", pixels=pixels, confidence=confidence))
    return sequences


def _read_plain(path: Path, archive) -> KeypointSequence:
    pixels, confidence = _track(path, _array(path, archive, "keypoints"), "'keypoints'")
    return KeypointSequence(
        name=path.stem, source=str(path), format="keypoints", layout="", pixels=pixels, confidence=confidence,
        width=_scalar(path, archive, "width"), height=_scalar(path, archive, "height"),
        fps=_scalar(path, archive, "fps"), focal=_pair(path, archive, "focal"), center=_pair(path, archive, "center"),
    )


def _read_videopose3d(path: Path, archive, allow_pickle: bool) -> list[KeypointSequence]:
    if not allow_pickle:
        raise UaoError(f"{path} is a VideoPose3D file: its 'positions_2d' is pickled Python objects, which can "
                       "run code when loaded; pass --allow-pickle (allow_pickle=True) only if you trust the file")
    positions = _array(path, archive, "positions_2d").item()
    metadata = _array(path, archive, "metadata").item() if "metadata" in archive.files else {}
    if not isinstance(positions, dict) or not positions or not isinstance(metadata, dict):
        raise UaoError(f"{path}: 'positions_2d' is not a dict video -> {{'custom': [array]}} as VideoPose3D writes")
    declared = _layout_name(path, metadata.get("layout_name"))
    sizes = metadata.get("video_metadata", {})
    sequences = []
    for video, cameras in positions.items():
        try:
            track = cameras["custom"][0]
        except (KeyError, IndexError, TypeError):
            raise UaoError(f"{path}: video {video!r} has no 'custom' keypoint array") from None
        pixels, confidence = _track(path, track, f"video {video!r}")
        size = sizes.get(video, {}) if isinstance(sizes, dict) else {}
        suffix = f"_{video}" if len(positions) > 1 else ""
        sequences.append(KeypointSequence(
            name=path.stem + suffix, source=f"{path}#{video}", format="videopose3d", layout=declared,
            pixels=pixels, confidence=confidence, width=_positive(size.get("w")), height=_positive(size.get("h")),
        ))
    return sequences


def _layout_name(path: Path, name) -> str:
    if name is None:
        return ""
    known = {"coco": "coco", "h36m": "h36m", "human3.6m": "h36m"}
    if str(name).lower() not in known:
        raise UaoError(f"{path}: keypoint layout {name!r} is not supported (only COCO-17 and Human3.6M-17)")
    return known[str(name).lower()]


def _positive(value) -> float | None:
    return float(value) if isinstance(value, (int, float, np.number)) and value > 0 else None


def _to_h36m(sequence: KeypointSequence, layout: str) -> KeypointSequence:
    """Resolve the layout, mark missing joints NaN with confidence 0, and convert COCO to Human3.6M."""
    declared = sequence.layout
    if layout != "auto" and declared and declared != layout:
        raise UaoError(f"{sequence.source} is in the {declared} layout but --layout {layout} was given")
    resolved = declared or ("h36m" if layout == "auto" else layout)
    pixels, confidence = mark_missing(sequence.pixels, sequence.confidence)
    if resolved == "coco":
        pixels, confidence = coco_to_h36m(pixels, confidence)
    return replace(sequence, layout=resolved, pixels=pixels, confidence=confidence)


def mark_missing(pixels: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Set joints with NaN coordinates or confidence <= 0 (or NaN) to NaN with confidence 0."""
    confidence = np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    missing = ~np.isfinite(pixels).all(axis=-1) | (confidence <= 0)
    pixels = np.where(missing[..., None], np.nan, pixels).astype(np.float32)
    return pixels, np.where(missing, 0.0, confidence).astype(np.float32)


def coco_to_h36m(pixels: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 (T, 17, 2) pixels and (T, 17) confidence -> Human3.6M-17, the MHFormer/PoseMamba way.

    Limbs, hips and shoulders are copied (COCO's left/right are the person's own sides, as in
    Human3.6M). The five joints COCO lacks are synthesized as in those projects' ``coco_h36m``
    (image y points down; "eye-to-nose height" is nose y minus the eyes' mean y):

    * pelvis (0) = midpoint of the hips;
    * thorax (8) = shoulder midpoint moved 1/3 of the way toward the nose, then lowered by 2/3 of
      the eye-to-nose height;
    * neck/nose (9) = the nose moved 1/4 of the way toward the shoulder midpoint;
    * head (10) = x of the mean of both eyes and ears; y one eye-to-nose height above the eyes;
    * spine (7) = mean of shoulders and hips, its x pushed away from the pelvis-thorax midline by
      twice its offset from it (x_7 += 2 (x_7 - (x_0 + x_8) / 2)).

    Confidences: copied joints keep theirs; pelvis = mean of the hips, thorax = mean of the
    shoulders, spine = mean of pelvis and thorax, head = mean of eyes and ears, neck/nose = the nose.
    A synthesized joint is missing (NaN, confidence 0) when any joint it is made from is missing.
    """
    pixels, confidence = mark_missing(np.asarray(pixels, np.float32), confidence)
    nose, eyes, eyes_ears = pixels[:, 0], pixels[:, 1:3], pixels[:, 1:5]
    shoulders, hips = pixels[:, 5:7].mean(axis=1), pixels[:, 11:13].mean(axis=1)
    eye_to_nose = nose[:, 1] - eyes[..., 1].mean(axis=1)

    h36m = np.empty_like(pixels)
    h36m_conf = np.empty_like(confidence)
    for h36m_joint, coco_joint in COCO_FOR_H36M.items():
        h36m[:, h36m_joint] = pixels[:, coco_joint]
        h36m_conf[:, h36m_joint] = confidence[:, coco_joint]
    h36m[:, 0] = hips
    h36m[:, 8] = shoulders + (nose - shoulders) / 3
    h36m[:, 8, 1] += 2 / 3 * eye_to_nose
    h36m[:, 9] = nose - (nose - shoulders) / 4
    h36m[:, 10, 0] = eyes_ears[..., 0].mean(axis=1)
    h36m[:, 10, 1] = eyes[..., 1].mean(axis=1) - eye_to_nose
    h36m[:, 7] = pixels[:, [5, 6, 11, 12]].mean(axis=1)
    h36m[:, 7, 0] += 2 * (h36m[:, 7, 0] - (h36m[:, 0, 0] + h36m[:, 8, 0]) / 2)

    h36m_conf[:, 0] = confidence[:, 11:13].mean(axis=1)
    h36m_conf[:, 8] = confidence[:, 5:7].mean(axis=1)
    h36m_conf[:, 7] = (h36m_conf[:, 0] + h36m_conf[:, 8]) / 2
    h36m_conf[:, 10] = confidence[:, 1:5].mean(axis=1)
    # A NaN source leaves its synthesized joint NaN; mark_missing turns that into confidence 0.
    return mark_missing(h36m, h36m_conf)


def fill_missing(pixels: np.ndarray, confidence: np.ndarray | None = None,
                 source: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
    """Fill missing joints of (T, 17, 2) pixels; returns (filled pixels, detected mask (T, 17)).

    Missing: NaN coordinates, or confidence <= 0 when ``confidence`` (T, 17) is given. Per joint,
    linear interpolation over frames between detections and the nearest detection before the
    first and after the last. A joint never detected takes its parent's track (the pelvis the mean
    of the other joints). No detected joint at all is a :class:`UaoError`.
    """
    if confidence is not None:
        pixels, confidence = mark_missing(pixels, confidence)
    pixels = np.asarray(pixels, np.float32)
    detected = np.isfinite(pixels).all(axis=-1)
    if not detected.any():
        raise UaoError(f"{source} has no detected joint in any frame (all NaN or zero confidence)")
    frames = np.arange(len(pixels))
    filled = pixels.copy()
    never = []
    for joint in range(skeleton.NUM_JOINTS):
        seen = detected[:, joint]
        if not seen.any():
            never.append(joint)
            continue
        for axis in (0, 1):
            filled[:, joint, axis] = np.interp(frames, frames[seen], pixels[seen, joint, axis])
    for joint in never:  # parents come before children in the joint order, so they are filled first
        parent = skeleton.PARENTS[joint]
        if parent >= 0:
            filled[:, joint] = filled[:, parent]
        else:
            others = [j for j in range(skeleton.NUM_JOINTS) if j not in never]
            filled[:, joint] = filled[:, others].mean(axis=1)
    return filled, detected
