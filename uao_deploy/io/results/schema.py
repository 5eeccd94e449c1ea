"""What a lifted result holds, written once: the writer checks a result against it before writing
and the reader (``uao view``, ``--resume``) before trusting a file.

``ARRAYS`` lists every array a result may hold: its shape (``"T"`` the frame count), the numpy
kind of its dtype, whether every result has it, and the bounds of its values (every value is
finite). A new array is one more :class:`ArraySpec` (``required=False``, so older results still
read); an array not listed here is neither written nor read.

The metadata is a JSON object. Checked fields: ``fps`` (``FPS_RANGE``, or null: unknown),
``frames`` (T, when present), ``camera`` (an object; ``width``/``height`` positive pixels when
present) and, with the world arrays, ``world_frame`` (``camera_to_world_rotation`` a 3x3
rotation, ``origin_in_camera`` (3,); the world arrays must be the camera-frame joints in it).
Other fields are kept as they are.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ... import skeleton
from ...errors import UaoError

J = skeleton.NUM_JOINTS
FPS_RANGE = (1.0, 1000.0)  # frames per second a recording can have; outside it the value is broken
MAX_METRES = 1e4  # no camera sees a person 10 km away: larger coordinates are broken values
MAX_PIXELS = 1e7
# joint_source values: the detector's point, interpolated over a short gap, inferred (uao_deploy.pipeline.missing)
JOINT_SOURCES = ("detected", "interpolated", "inferred")
FEET = ("left", "right")  # the columns of ``contacts``


@dataclass(frozen=True)
class ArraySpec:
    name: str
    shape: tuple  # "T" stands for the frame count, shared by every array of a result
    kind: str  # numpy dtype kinds accepted: "f" floating (``uao infer`` writes float32), "u" unsigned, "b" bool
    required: bool = True
    low: float = -math.inf  # bounds of every value (all values are finite)
    high: float = math.inf
    meaning: str = ""


ARRAYS = (
    ArraySpec("poses_3d", ("T", J, 3), "f", low=-MAX_METRES, high=MAX_METRES,
              meaning="refined pose, root-relative, camera frame, metres"),
    ArraySpec("poses_3d_initial", ("T", J, 3), "f", low=-MAX_METRES, high=MAX_METRES,
              meaning="the flip-averaged prediction before TTO"),
    ArraySpec("root", ("T", 3), "f", low=-MAX_METRES, high=MAX_METRES,
              meaning="camera-frame root (pelvis), metres; in front of the camera (z > 0)"),
    ArraySpec("uncertainty", ("T", J), "f", low=0, high=MAX_METRES,
              meaning="exp(s) per joint, metres"),
    ArraySpec("keypoints_2d", ("T", J, 2), "f", low=-MAX_PIXELS, high=MAX_PIXELS,
              meaning="the pixels used, after filling; inferred joints where the lifted body projects them"),
    ArraySpec("confidence", ("T", J), "f", low=0,
              meaning="detector confidence, 0 where a joint was missing and filled"),
    ArraySpec("joint_source", ("T", J), "u", required=False, low=0, high=len(JOINT_SOURCES) - 1,
              meaning="where each joint came from: " + ", ".join(f"{i} {n}" for i, n in enumerate(JOINT_SOURCES))),
    ArraySpec("contacts", ("T", 2), "ub", required=False, low=0, high=1,
              meaning="foot contacts: left, right; 1 (true) where the foot stands and is held planted "
                      "(uao_deploy.pipeline.feet)"),
    ArraySpec("root_std", ("T", 3), "f", required=False, low=0, high=MAX_METRES,
              meaning="standard deviation of the camera-frame root (x, y, z), metres, from the root "
                      "trajectory's least squares (sequence mode)"),
    ArraySpec("poses_world", ("T", J, 3), "f", required=False, low=-MAX_METRES, high=MAX_METRES,
              meaning="joints in the upright world frame (with root_world and metadata world_frame)"),
    ArraySpec("root_world", ("T", 3), "f", required=False, low=-MAX_METRES, high=MAX_METRES,
              meaning="the root in the world frame"),
)
SPECS = {spec.name: spec for spec in ARRAYS}
LIFT_ARRAYS = tuple(spec.name for spec in ARRAYS if spec.required)
WORLD_ARRAYS = ("poses_world", "root_world")  # written together, with metadata "world_frame"


def joint_sources(arrays: dict) -> np.ndarray:
    """(T, J) uint8 ``joint_source`` of a result; for older results without it, 0 where the confidence is
    above 0 and 1 (filled) elsewhere."""
    if "joint_source" in arrays:
        return np.asarray(arrays["joint_source"], np.uint8)
    return np.where(np.asarray(arrays["confidence"]) > 0, 0, 1).astype(np.uint8)


def check_fps(fps, where: str) -> float | None:
    """``fps`` as a float, None when unknown; a value no recording has (NaN, negative, 1e308, 1e-9,
    not a number) is refused: it would become BVH frame times and animation speeds."""
    if fps is None:
        return None
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise UaoError(f"{where}: fps must be a number; got {fps!r}")
    if not FPS_RANGE[0] <= float(fps) <= FPS_RANGE[1]:  # NaN fails this too
        raise UaoError(f"{where}: fps must be from {FPS_RANGE[0]:g} to {FPS_RANGE[1]:g}; got {float(fps):g}")
    return float(fps)


def check_result(arrays: dict, metadata, where: str) -> int:
    """Refuse (one UaoError naming the problem) a result that does not match the schema; return T."""
    if not isinstance(metadata, dict):
        raise UaoError(f"{where}: its metadata is not a JSON object")
    frames = check_arrays(arrays, where)
    _check_metadata(metadata, frames, any(name in arrays for name in WORLD_ARRAYS), where)
    if WORLD_ARRAYS[0] in arrays:
        _check_world_arrays(arrays, metadata["world_frame"], where)
    return frames


def check_arrays(arrays: dict, where: str) -> int:
    """Refuse (one UaoError) arrays that are no pose: missing, misshapen, not finite, out of bounds,
    or a root behind the camera; return T. :meth:`uao_deploy.pipeline.LiftResult.check` calls it
    before any metadata is made."""
    missing = [name for name in LIFT_ARRAYS if name not in arrays]
    if missing:
        raise UaoError(f"{where} is not a uao result: it lacks {', '.join(missing)}")
    world = [name for name in WORLD_ARRAYS if name in arrays]
    if world and len(world) < len(WORLD_ARRAYS):
        raise UaoError(f"{where}: it holds {world[0]} without {(set(WORLD_ARRAYS) - set(world)).pop()}")
    frames = np.shape(arrays["poses_3d"])[0] if np.ndim(arrays["poses_3d"]) else 0
    if frames == 0:
        raise UaoError(f"{where}: it holds no frames")
    for name, value in arrays.items():
        if name in SPECS:
            _check_array(SPECS[name], np.asarray(value), frames, where)
    depth = np.asarray(arrays["root"])[:, 2]
    behind = np.flatnonzero(depth <= 0)
    if len(behind):
        raise UaoError(f"{where}: frame {behind[0]} puts the root behind the camera (z = {depth[behind[0]]:.3g} m)")
    return frames


def _check_array(spec: ArraySpec, value: np.ndarray, frames: int, where: str) -> None:
    expected = tuple(frames if size == "T" else size for size in spec.shape)
    if value.shape != expected:
        shape = ", ".join(map(str, spec.shape))
        raise UaoError(f"{where}: {spec.name} has shape {value.shape}; a result of {frames} frames holds ({shape}) "
                       f"= {expected}")
    if value.dtype.kind not in spec.kind:
        kinds = {"f": "floating point", "u": "unsigned integer", "b": "boolean", "i": "integer"}
        raise UaoError(f"{where}: {spec.name} holds {value.dtype} values; expected "
                       f"{' or '.join(kinds[kind] for kind in spec.kind)} values")
    finite = np.isfinite(value) if value.dtype.kind == "f" else np.ones(value.shape, bool)
    if not finite.all():
        frame = int(np.argwhere(~finite)[0, 0])
        raise UaoError(f"{where}: {spec.name} holds NaN or infinite values (frame {frame})")
    if value.size and (value.min() < spec.low or value.max() > spec.high):
        raise UaoError(f"{where}: {spec.name} holds values outside {spec.low:g} to {spec.high:g} "
                       f"({float(value.min()):g} to {float(value.max()):g})")


def _check_metadata(metadata: dict, frames: int, world: bool, where: str) -> None:
    check_fps(metadata.get("fps"), f"{where}: metadata")
    recorded = metadata.get("frames", frames)
    if isinstance(recorded, bool) or recorded != frames:
        raise UaoError(f"{where}: its metadata says {recorded!r} frames; its arrays hold {frames}")
    camera = metadata.get("camera", {})
    if not isinstance(camera, dict):
        raise UaoError(f"{where}: its metadata's camera is not an object")
    for side in ("width", "height"):
        size = camera.get(side)
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))
                                 or not 0 < size < MAX_PIXELS):
            raise UaoError(f"{where}: its metadata's camera {side} must be a positive number of pixels; got {size!r}")
    if world:
        _check_world_frame(metadata.get("world_frame"), where)
    try:  # any other field: JSON has no NaN or infinity; such a value is broken and would pass into every output
        json.dumps(metadata, allow_nan=False, default=str)
    except ValueError:
        raise UaoError(f"{where}: its metadata holds NaN or infinite values") from None


def _check_world_frame(frame, where: str) -> None:
    problem = f"{where}: its world arrays come without a valid world_frame in the metadata"
    if not isinstance(frame, dict):
        raise UaoError(problem)
    try:
        rotation = np.asarray(frame.get("camera_to_world_rotation"), np.float64)
        origin = np.asarray(frame.get("origin_in_camera"), np.float64)
    except (TypeError, ValueError):
        raise UaoError(problem) from None
    if rotation.shape != (3, 3) or origin.shape != (3,) or not (np.isfinite(rotation).all() and
                                                               np.isfinite(origin).all()):
        raise UaoError(problem)
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or np.linalg.det(rotation) < 0:
        raise UaoError(f"{where}: its world_frame's camera_to_world_rotation is not a rotation")


def _check_world_arrays(arrays: dict, frame: dict, where: str) -> None:
    """The world arrays must be the camera-frame joints in the recorded world frame (1 mm)."""
    rotation, origin = np.asarray(frame["camera_to_world_rotation"]), np.asarray(frame["origin_in_camera"])
    root = np.asarray(arrays["root"], np.float64)
    joints = np.asarray(arrays["poses_3d"], np.float64) + root[:, None]
    for name, camera in (("root_world", root), ("poses_world", joints)):
        off = np.abs((camera - origin) @ rotation.T - arrays[name]).max()
        if not off <= 1e-3:
            raise UaoError(f"{where}: {name} is not the camera-frame result in its world_frame (off by {off:.3g} m)")
