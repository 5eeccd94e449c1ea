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
Detectron), converted by :func:`uao_deploy.io.layouts.to_h36m`.

Detector outputs (OpenPose, AlphaPose, MMPose, YOLO-pose, MediaPipe; files or folders) are read by
:mod:`uao_deploy.io.keypoints`, to which :func:`read_keypoints` hands every path that is not an npz.

Missing detections: a joint whose coordinates are NaN or whose confidence is 0 (or NaN) is missing.
:func:`uao_deploy.pipeline.missing.fill_and_mark` fills it: interpolated over short gaps, inferred
from a pose prior over long ones and where never seen. A sequence with no detected joint at
all is an error.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import skeleton
from ..errors import UaoError
from ..io import layouts
from ..io.keypoints.checks import check_upper_body_inside, drop_implausible, quality_notes
from ..io.keypoints.people import choose_people
from ..io.keypoints.sequence import KeypointSequence
from ..io.npz import is_zip, numbers, open_npz, read_array

LAYOUTS = ("auto", *layouts.LAYOUTS)
DETECTRON2_KEYS = {"boxes", "keypoints"}  # what VideoPose3D's infer_video_d2.py writes (with segments, metadata)


def read_keypoints(path, layout: str = "auto", allow_pickle: bool = False, format: str = "auto",
                   person: str = "main", width: float | None = None,
                   height: float | None = None, fps: float | None = None) -> list[KeypointSequence]:
    """All sequences of a keypoint file or folder, converted to Human3.6M-17 (missing joints still NaN).

    ``layout`` "auto" takes the layout the file declares (VideoPose3D's ``layout_name``; MHFormer
    files are Human3.6M) and Human3.6M otherwise; a name of :data:`uao_deploy.io.layouts.LAYOUTS`
    forces it, and contradicting a file's declared layout is an error. Anything but an npz (or any
    ``format`` but "npz") goes to :func:`uao_deploy.io.keypoints.read_detector_output` with
    the image size ``width``/``height``; ``person`` picks the people of a file of several
    (:mod:`uao_deploy.io.keypoints.people`: the main subject by default). ``fps`` (frames per
    second) replaces the file's own rate. Every sequence is checked
    (:mod:`uao_deploy.io.keypoints.checks`): impossible points are missing, a head and shoulders
    outside the image are an error, and garbage gets a warning in the sequence's ``notes``.
    """
    if layout not in LAYOUTS:
        raise UaoError(f"unknown keypoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    path = Path(path)
    if format != "npz" and (format != "auto" or not (is_zip(path) or path.suffix.lower() == ".npz")):
        from ..io.keypoints import read_detector_output

        sequences = read_detector_output(path, format, layout, person, width, height)
    else:
        sequences = _read_npz(path, layout, allow_pickle, person, width, height)
    checked = []
    for sequence in sequences:
        check_upper_body_inside(sequence, width or sequence.width, height or sequence.height)
        sequence = replace(sequence, fps=fps or sequence.fps)
        checked.append(replace(sequence, notes=sequence.notes + quality_notes(sequence)))
    return checked


def _read_npz(path: Path, layout: str, allow_pickle: bool, person: str, width, height) -> list[KeypointSequence]:
    with open_npz(path, ".npz keypoint file", allow_pickle) as archive:
        if DETECTRON2_KEYS <= set(archive.files):
            raise UaoError(f"{path} is raw Detectron2 output (VideoPose3D's infer_video_d2.py: per-frame 'boxes' and "
                           "'keypoints'); convert it with VideoPose3D's data/prepare_data_2d_custom.py "
                           "(-i FOLDER -o NAME) and lift data_2d_custom_NAME.npz with --allow-pickle")
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
    sequences = [_to_h36m(sequence, layout, width, height) for sequence in sequences]
    if sequences[0].format == "mhformer":  # MHFormer files hold several people
        sequences = choose_people(sequences, person, path)
    elif person not in ("main", "all"):  # one person a sequence: --person 0 is they, another id names nobody
        sequences = [chosen for sequence in sequences for chosen in choose_people([sequence], person, path)]
    return sequences


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
    with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf: a missing joint
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
        sequences.append(KeypointSequence(
            name=path.stem, source=f"{path}#person{person}" if len(tracks) > 1 else str(path),
            format="mhformer", layout="h36m", pixels=pixels, confidence=confidence, person=person))
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
    positions = _pickled_object(path, archive, "positions_2d")
    metadata = _pickled_object(path, archive, "metadata") if "metadata" in archive.files else {}
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
        size = sizes.get(video) if isinstance(sizes, dict) else None
        size = size if isinstance(size, dict) else {}
        suffix = f"_{video}" if len(positions) > 1 else ""
        sequences.append(KeypointSequence(
            name=path.stem + suffix, source=f"{path}#{video}", format="videopose3d", layout=declared,
            pixels=pixels, confidence=confidence, width=_positive(size.get("w")), height=_positive(size.get("h")),
        ))
    return sequences


def _pickled_object(path: Path, archive, key: str):
    """The one Python object pickled as ``key`` (VideoPose3D saves dicts as 0-d object arrays)."""
    value = _array(path, archive, key)
    if value.shape != ():
        raise UaoError(f"{path}: {key!r} has shape {value.shape}; VideoPose3D saves one dict there")
    return value.item()


def _layout_name(path: Path, name) -> str:
    if name is None:
        return ""
    known = {"coco": "coco", "h36m": "h36m", "human3.6m": "h36m"}
    if str(name).lower() not in known:
        raise UaoError(f"{path}: keypoint layout {name!r} is not supported (only COCO-17 and Human3.6M-17)")
    return known[str(name).lower()]


def _positive(value) -> float | None:
    return float(value) if isinstance(value, (int, float, np.number)) and value > 0 else None


def _to_h36m(sequence: KeypointSequence, layout: str, width=None, height=None) -> KeypointSequence:
    """Resolve the layout, mark missing joints (and :func:`~uao_deploy.io.keypoints.checks.drop_implausible`
    ones) NaN with confidence 0, and convert COCO to Human3.6M."""
    declared = sequence.layout
    if layout != "auto" and declared and declared != layout:
        raise UaoError(f"{sequence.source} is in the {declared} layout but --layout {layout} was given")
    resolved = declared or ("h36m" if layout == "auto" else layout)
    pixels, confidence = layouts.mark_missing(sequence.pixels, sequence.confidence)
    confidence = drop_implausible(pixels, confidence, width or sequence.width, height or sequence.height)
    pixels, confidence = layouts.to_h36m(pixels, confidence, resolved, sequence.source)
    return replace(sequence, layout=resolved, pixels=pixels, confidence=confidence)
