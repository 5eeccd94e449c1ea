"""An upright world frame for a camera-frame result: up direction, floor, root trajectory.

A lifted sequence lives in the camera frame (x right, y down, z forward; root-relative poses plus a
per-frame root). Animation tools want the person standing on a floor: this module estimates, over
the whole sequence, the up direction and the floor, and re-expresses every joint in a world frame
with **Y up, the floor at Y = 0, X the camera's right made horizontal, Z = X x Y (towards the
camera), and the origin on the floor under the first frame's root** (metres, right-handed).

Up direction, in this order of preference:

1. ``up`` given (a camera-frame vector), or ``camera_pitch`` (degrees the camera looks down, no
   roll): used as is.
2. The body's axis -- the mean over frames of the directions pelvis -> thorax and mid-ankles ->
   pelvis (people stand and walk upright on average) -- corrected by the floor under the feet: a
   plane through every frame's lower ankle, regularized towards the body's axis
   (:func:`floor_plane_normal`), gives the up direction. The farther the person walks, the more
   the floor counts. Only detected joints count (``joint_source`` 0, see :func:`body_axis`):
   without feet in enough frames, the path of the detected thorax, parallel to the floor, takes
   the floor's place ("thorax_plane").

Floor height: from the detected ankles where enough frames have both, the ``FLOOR_PERCENTILE``-th
percentile of each frame's lowest ankle height, less ``ANKLE_HEIGHT`` (the Human3.6M ankle joint is
above the sole). Feet never seen (a person from the waist up): ``PELVIS_OVER_LEG`` leg lengths (hip ->
knee -> ankle, the lifted bones: the subject's own scale) under the pelvis's median height, as people
stand and walk; not under the inferred ankles, which a network guessing legs it cannot see may fold
or stretch (docs/detector-formats.md). Nothing seen says where the floor is: it is a guess, and the
CLI says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import skeleton
from ..errors import UaoError
from .height import leg_lengths

PELVIS, THORAX, HEAD = 0, 8, 10
ANKLES = (3, 6)
ANKLE_HEIGHT = 0.04  # metres from the floor to the ankle joint (CMU train clips: median 0.038)
FLOOR_PERCENTILE = 10
PELVIS_OVER_LEG = 0.982  # the pelvis's height over the floor in leg lengths, median over the CMU train clips
MIN_FLOOR_FRAMES = 10  # frames
PRIOR_SPREAD = 0.3  # metres: ankle positions spread this far weigh as much as the body axis


@dataclass
class WorldFrame:
    """The camera -> world transform: world = (camera - origin) @ rotation.T, and how it was found."""

    rotation: np.ndarray  # (3, 3): rows are the world X, Y, Z axes in camera coordinates
    origin: np.ndarray  # (3,) the world origin in camera coordinates, metres
    up_method: str  # "given", "camera_pitch", "floor_plane", "thorax_plane" or "body_axis"

    @property
    def up(self) -> np.ndarray:
        return self.rotation[1]

    def apply(self, points: np.ndarray) -> np.ndarray:
        return ((np.asarray(points, np.float64) - self.origin) @ self.rotation.T).astype(np.float32)

    def place(self, poses: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(world joints (T, 17, 3), world root (T, 3)) of root-relative camera-frame ``poses`` at ``root``."""
        joints = np.asarray(poses, np.float64) + np.asarray(root, np.float64)[:, None]
        return self.apply(joints), self.apply(root)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World-frame points back in the camera frame (float64): the inverse of :meth:`apply`."""
        return np.asarray(points, np.float64) @ self.rotation + self.origin

    def scaled(self, root_factor: float, body_factor: float, root: np.ndarray) -> "WorldFrame":
        """This frame for the result whose roots (T, 3) ``root`` were scaled by ``root_factor`` about the
        camera centre and whose root-relative poses by ``body_factor`` (``--subject-height``): the floor
        stays under the feet, the root's height over it scaled by ``body_factor``."""
        height = float(np.median((np.asarray(root, np.float64) - self.origin) @ self.up))
        return WorldFrame(self.rotation, self.origin * root_factor + (root_factor - body_factor) * height * self.up,
                          self.up_method)

    def floor_raised(self, height: float) -> "WorldFrame":
        """This frame with its floor (and origin) ``height`` metres higher along its up direction."""
        return WorldFrame(self.rotation, self.origin + height * self.up, self.up_method)

    def camera_height(self) -> float:
        """Height of the camera above the floor, metres."""
        return float(self.apply(np.zeros(3))[1])

    def to_dict(self) -> dict:
        return {"frame": "world: Y up, floor at Y=0, X = camera right made horizontal, Z = X x Y (towards the "
                         "camera), origin on the floor under the first root; metres, right-handed",
                "camera_to_world_rotation": self.rotation.tolist(), "origin_in_camera": self.origin.tolist(),
                "up_in_camera": self.up.tolist(), "up_method": self.up_method,
                "camera_height_m": self.camera_height()}


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.where(norm > 0, norm, 1)


def up_from_pitch(degrees: float) -> np.ndarray:
    """Camera-frame up of a camera looking ``degrees`` below the horizon, without roll."""
    pitch = np.radians(degrees)
    return np.array([0.0, -np.cos(pitch), -np.sin(pitch)])


def body_axis(joints: np.ndarray, detected: np.ndarray | None = None) -> np.ndarray:
    """Mean direction pelvis -> thorax and mid-ankles -> pelvis over all frames (unit, camera frame).

    With ``detected`` (T, 17) the trunk counts in the frames where the thorax was detected (the
    lifted trunk, even below an inferred pelvis: 1.5-2.5 degrees from the true up on val clips
    with the lower body out of frame, where the detected neck's axis is 10-11 degrees off), the
    legs where both ankles were."""
    detected = np.ones(joints.shape[:2], bool) if detected is None else detected
    ankles = joints[:, list(ANKLES)].mean(axis=1)
    axis = (_unit(joints[:, THORAX] - joints[:, PELVIS])[detected[:, THORAX]].sum(axis=0)
            + _unit(joints[:, PELVIS] - ankles)[detected[:, list(ANKLES)].all(axis=1)].sum(axis=0))
    if not axis.any():  # neither thorax nor ankles ever detected: the axis as lifted
        return body_axis(joints)
    return _unit(axis)


def plane_normal(points: np.ndarray, up_guess: np.ndarray) -> np.ndarray | None:
    """Unit normal of a plane through ``points`` (N, 3), pulled towards ``up_guess``; None for fewer
    than ``MIN_FLOOR_FRAMES`` points (see :func:`floor_plane_normal`)."""
    if len(points) < MIN_FLOOR_FRAMES:
        return None
    centred = points - points.mean(axis=0)
    prior = len(points) * PRIOR_SPREAD ** 2
    return _unit(np.linalg.solve(centred.T @ centred + prior * np.eye(3), prior * up_guess))


def floor_plane_normal(joints: np.ndarray, up_guess: np.ndarray) -> np.ndarray | None:
    """Unit normal of the floor under the lower ankle of every frame, pulled towards ``up_guess``;
    None for fewer than ``MIN_FLOOR_FRAMES`` frames.

    Least squares over those points p_i (centred) with a prior: minimise
    sum_i (n . p_i)^2 + N * PRIOR_SPREAD^2 * |n - up_guess|^2, i.e. (C^T C + lambda I) n = lambda up_guess.
    A straight walk fixes the tilt along the walk and leaves the other to the prior. (Keeping only
    still, lowest ankles was worse on the validation clips: lifted roots jitter, and fewer points
    fit a plane less well than a foot's height above the floor while stepping spoils it.)
    """
    ankles = joints[:, list(ANKLES)]  # (T, 2, 3)
    lower = (ankles @ up_guess).argmin(axis=1)
    return plane_normal(ankles[np.arange(len(joints)), lower], up_guess)


def estimate_world_frame(poses: np.ndarray, root: np.ndarray, up=None, camera_pitch: float | None = None,
                         detected: np.ndarray | None = None) -> WorldFrame:
    """The world frame of root-relative camera-frame ``poses`` (T, 17, 3) and ``root`` (T, 3), metres.

    ``detected`` (T, 17): which joints the detector saw; the up direction and the floor's tilt are
    fitted to those only (the floor's height to the detected ankles where enough frames have both,
    else under the pelvis by the legs' length: a person seen from the waist up still stands on a floor)."""
    poses, root = np.asarray(poses, np.float64), np.asarray(root, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (skeleton.NUM_JOINTS, 3) or root.shape != (len(poses), 3):
        raise UaoError(f"world frame: poses {poses.shape} and root {root.shape} are not (T, 17, 3) and (T, 3)")
    if len(poses) == 0 or not (np.isfinite(poses).all() and np.isfinite(root).all()):
        raise UaoError("world frame: the poses are empty or hold NaN/infinite values")
    if up is not None and camera_pitch is not None:
        raise UaoError("give either an up vector or a camera pitch, not both")
    joints = poses + root[:, None]
    if up is not None:
        given = np.asarray(up, np.float64)
        if given.shape != (3,) or not np.isfinite(given).all() or not np.abs(given).max() > 0:
            raise UaoError(f"the up vector must be three finite numbers, not all zero; got {given.tolist()}")
        up = given / np.abs(given).max()  # scaled first: the norm of (1e308, -1e308, 0) overflows to inf
        up, method = _unit(up), "given"
    elif camera_pitch is not None:
        if not -90 < camera_pitch < 90:
            raise UaoError(f"the camera pitch must be between -90 and 90 degrees; got {camera_pitch}")
        up, method = up_from_pitch(camera_pitch), "camera_pitch"
    else:
        up, method = body_axis(joints, detected), "body_axis"
        normal = floor_plane_normal(joints[_ankles_seen(detected, len(joints))], up)
        if normal is not None:
            up, method = normal, "floor_plane"
        elif detected is not None:  # feet not seen: the thorax moves parallel to the floor
            normal = plane_normal(joints[detected[:, THORAX], THORAX], up)
            if normal is not None:
                up, method = normal, "thorax_plane"
    feet = _ankles_seen(detected, len(joints))
    lowest = (joints[:, list(ANKLES)] @ up).min(axis=1)
    if floor_under_feet(detected, len(joints)):
        floor = np.percentile(lowest[feet], FLOOR_PERCENTILE) - ANKLE_HEIGHT
    else:
        floor = np.median(joints[:, PELVIS] @ up) - guessed_pelvis_height(poses)
    x_axis = np.array([1.0, 0.0, 0.0]) - up[0] * up  # the camera's right, made horizontal
    if np.linalg.norm(x_axis) < 1e-6:
        raise UaoError("the up direction is the camera's x axis; the camera would be rolled 90 degrees")
    x_axis = _unit(x_axis)
    rotation = np.stack([x_axis, up, np.cross(x_axis, up)])
    origin = root[0] + (floor - root[0] @ up) * up  # on the floor, under the first root
    return WorldFrame(rotation, origin, method)


def floor_under_feet(detected: np.ndarray | None, frames: int) -> bool:
    """Whether the floor is fitted to detected ankles (enough frames with both), not guessed under the pelvis."""
    return _ankles_seen(detected, frames).sum() >= MIN_FLOOR_FRAMES


def guessed_pelvis_height(poses: np.ndarray) -> float:
    """Metres from the floor to the pelvis where the feet were not seen: ``PELVIS_OVER_LEG`` of the lifted
    legs' length (poses (T, 17, 3))."""
    return PELVIS_OVER_LEG * np.median(leg_lengths(poses))


def _ankles_seen(detected: np.ndarray | None, frames: int) -> np.ndarray:
    """(T,) frames where both ankles were detected (every frame without ``detected``)."""
    return np.ones(frames, bool) if detected is None else detected[:, list(ANKLES)].all(axis=1)


def to_world(poses: np.ndarray, root: np.ndarray, up=None, camera_pitch: float | None = None,
             detected: np.ndarray | None = None):
    """(world joints (T, 17, 3), world root (T, 3), :class:`WorldFrame`) of a camera-frame result."""
    frame = estimate_world_frame(poses, root, up, camera_pitch, detected)
    return *frame.place(poses, root), frame


def add_world_frame(arrays: dict, metadata: dict, up=None, camera_pitch: float | None = None,
                    frame: WorldFrame | None = None) -> tuple[dict, dict]:
    """Result arrays (``poses_3d``, ``root``, ...) with ``poses_world`` and ``root_world`` added (or
    remade), and the metadata with ``world_frame``: ``frame`` where given (the one the feet were
    planted on), else fitted to the detected joints: ``joint_source`` 0, else (older results) a
    confidence above 0."""
    if frame is None:
        detected = arrays["joint_source"] == 0 if "joint_source" in arrays else \
            arrays["confidence"] > 0 if "confidence" in arrays else None
        frame = estimate_world_frame(arrays["poses_3d"], arrays["root"], up, camera_pitch, detected)
    world, root = frame.place(arrays["poses_3d"], arrays["root"])
    return {**arrays, "poses_world": world, "root_world": root}, {**metadata, "world_frame": frame.to_dict()}
