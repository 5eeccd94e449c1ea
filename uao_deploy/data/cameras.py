"""The public Human3.6M calibration (4 cameras, 7 subjects' extrinsics), shipped with the package."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..camera import normalized_intrinsics

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
# The views evaluations look through: the Human3.6M test cameras as calibrated (all 11-16 degrees
# down from about 1.5 m, like the training cameras), or the same cameras levelled (a phone or webcam
# held level: the view the training cameras never had).
VIEWS = ("h36m", "level")


@dataclass(frozen=True)
class Camera:
    """One calibrated camera: normalized intrinsics and the world -> camera transform (metres)."""

    id: str
    width: int
    height: int
    intrinsics: np.ndarray  # (9,) normalized [fx, fy, cx, cy, k1, k2, k3, p1, p2]
    rotation: np.ndarray  # (3, 3) camera -> world rotation (the calibration's quaternion)
    translation: np.ndarray  # (3,) camera centre in world coordinates, metres

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera frame (..., 3), as VideoPose3D's ``world_to_camera``."""
        return ((points - self.translation) @ self.rotation).astype(np.float32)


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


@lru_cache(maxsize=1)
def h36m_cameras() -> dict[str, tuple[Camera, ...]]:
    """Subject -> its 4 cameras, in the calibration file's order."""
    calibration = json.loads((Path(__file__).with_name("h36m_cameras.json")).read_text())
    cameras = {}
    for subject, extrinsics in calibration["extrinsics"].items():
        views = []
        for intr, extr in zip(calibration["intrinsics"], extrinsics):
            width, height = intr["res_w"], intr["res_h"]
            views.append(Camera(
                id=intr["id"], width=width, height=height,
                intrinsics=normalized_intrinsics(intr["focal_length"], intr["center"], width, height,
                                                 intr["radial_distortion"], intr["tangential_distortion"]),
                rotation=quaternion_to_matrix(extr["orientation"]),
                translation=np.asarray(extr["translation"], dtype=np.float64) / 1000.0,
            ))
        cameras[subject] = tuple(views)
    return cameras


def cameras_of(subjects) -> list[Camera]:
    all_cameras = h36m_cameras()
    return [camera for subject in subjects for camera in all_cameras[subject]]


def levelled(camera: Camera) -> Camera:
    """``camera`` turned about a horizontal axis until its optical axis is horizontal (world z is up): same
    centre, heading and intrinsics."""
    forward = camera.rotation[:, 2]  # the optical axis in world coordinates
    level = np.array([forward[0], forward[1], 0.0]) / np.linalg.norm(forward[:2])
    axis = np.cross(forward, level)
    sine, cosine = np.linalg.norm(axis), float(np.dot(forward, level))
    if sine < 1e-12:
        return camera
    k = np.cross(np.eye(3), axis / sine)  # the cross-product matrix of the unit axis
    turn = np.eye(3) + sine * k + (1 - cosine) * k @ k  # Rodrigues: forward onto level
    return dataclasses.replace(camera, rotation=turn @ camera.rotation)


def evaluation_cameras(view: str = "h36m") -> list[Camera]:
    """The 8 test cameras of :data:`TEST_SUBJECTS` seen as ``view`` (one of :data:`VIEWS`)."""
    if view not in VIEWS:
        raise ValueError(f"unknown camera view {view!r}; known: {', '.join(VIEWS)}")
    cameras = cameras_of(TEST_SUBJECTS)
    return [levelled(camera) for camera in cameras] if view == "level" else cameras
