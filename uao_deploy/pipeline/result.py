"""What lifting one sequence gives: arrays and metadata, checked to be a pose before anything is written.

Written by :meth:`LiftResult.write`: the world frame added, then :func:`uao_deploy.io.results.write_result`
(npz, csv, json, bvh, html), the one writer of results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..io.results.schema import LIFT_ARRAYS, check_arrays
from .camera import Camera
from .world import WorldFrame

OPTIONAL = ("joint_source", "contacts", "root_std")  # arrays only some results have
# exp(s): the scale of the expected per-joint error the network reports for each joint.
UNCERTAINTY_NOTE = "exp(s) of the forward pass on the keypoints; s is GUMLP's log-scale uncertainty, in metres"


@dataclass
class LiftResult:
    """One lifted sequence, float32, camera frame (x right, y down, z forward), metres.

    ``poses_3d`` (T, 17, 3) refined, root-relative (root joint 0); ``poses_3d_initial`` the
    flip-averaged prediction before UAO; ``root`` (T, 3) the camera-frame root; ``uncertainty``
    (T, 17) exp(s) of the forward pass; ``keypoints_2d`` (T, 17, 2) the pixels used, after filling
    (inferred joints where the lifted body projects them); ``confidence`` (T, 17) detector confidence,
    0 where a joint was missing and filled; ``metadata`` the camera, settings, engine and timings
    (JSON-able); ``camera`` the :class:`Camera` used.
    """

    poses_3d: np.ndarray
    poses_3d_initial: np.ndarray
    root: np.ndarray
    uncertainty: np.ndarray
    keypoints_2d: np.ndarray
    confidence: np.ndarray
    metadata: dict
    camera: Camera | None = None  # the camera used (also in ``metadata["camera"]``)
    joint_source: np.ndarray | None = None  # (T, 17) uint8: detected, interpolated or inferred
    contacts: np.ndarray | None = None  # (T, 2) bool: left, right foot planted (pipeline.feet)
    root_std: np.ndarray | None = None  # (T, 3) standard deviation of the root, metres (sequence strategy)
    world_frame: WorldFrame | None = None  # the world frame the feet were found (and planted) in

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in LIFT_ARRAYS}
        return {**arrays, **{name: getattr(self, name) for name in OPTIONAL
                             if getattr(self, name) is not None}}

    def write(self, path, up=None, camera_pitch: float | None = None):
        """Write the result with its world frame, atomically, in the format of ``path``'s suffix: the
        frame the feet were placed in, or where ``up``/``camera_pitch`` is given, the frame
        :func:`uao_deploy.pipeline.world.estimate_world_frame` fits with it."""
        from ..io.results import write_result
        from .world import add_world_frame

        given = up is not None or camera_pitch is not None
        return write_result(path, *add_world_frame(self.arrays(), self.metadata, up, camera_pitch,
                                                   None if given else self.world_frame))

    def metadata_json(self) -> str:
        return json.dumps(self.metadata, default=str)

    def check(self, source: str) -> "LiftResult":
        """Refuse a result that is no pose (the results schema's check of its arrays): non-finite
        values (e.g. a broken engine), values out of bounds or a root behind the camera."""
        check_arrays(self.arrays(), f"{source}: nothing written")
        return self
