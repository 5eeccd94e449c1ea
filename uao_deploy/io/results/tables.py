"""CSV and JSON results: every number with its joint, frame, unit and coordinate frame spelled out."""
from __future__ import annotations

import csv
import io

import numpy as np

from ... import skeleton
from .schema import FEET, JOINT_SOURCES, joint_sources

FRAMES = {
    "world": "Y up, floor at Y=0, X = the camera's right made horizontal, Z = X x Y (towards the camera), "
             "origin on the floor under the first frame's pelvis; metres, right-handed",
    "camera": "x right, y down, z forward (the viewing direction), origin at the camera centre; metres",
    "image": "pixels, origin at the top-left corner of the image, u right, v down",
}
CSV_COLUMNS = ("frame", "time_s", "joint", "world_x_m", "world_y_m", "world_z_m", "camera_x_m", "camera_y_m",
               "camera_z_m", "image_u_px", "image_v_px", "detector_confidence", "uncertainty_m", "joint_source",
               "foot_contact", "root_std_x_m", "root_std_y_m", "root_std_z_m")
ROOT_STD_AXES = ("x", "y", "z")
ROOT_JOINT = skeleton.PARENTS.index(-1)  # the pelvis: its rows carry the root's standard deviation
# The joint whose row carries each foot's contact (``contacts`` column order, FEET).
CONTACT_JOINTS = (skeleton.JOINT_NAMES.index("l_ankle"), skeleton.JOINT_NAMES.index("r_ankle"))


def frame_columns(arrays: dict) -> dict[str, list[str]]:
    """{column: text per frame} of what a result says per frame rather than per joint: each foot's contact
    (``left_contact``, ``right_contact``: 1 or 0) and the root's standard deviation (``root_std_x_m`` ...),
    where the result has them."""
    columns = {}
    if "contacts" in arrays:
        columns.update({f"{foot}_contact": [str(int(c)) for c in arrays["contacts"][:, side]]
                        for side, foot in enumerate(FEET)})
    if "root_std" in arrays:
        columns.update({f"root_std_{axis}_m": [f"{v:.5f}" for v in arrays["root_std"][:, index]]
                        for index, axis in enumerate(ROOT_STD_AXES)})
    return columns


def _root_std_cells(arrays: dict, frame: int, joint: int) -> list[str]:
    """The root's standard deviation (camera frame x, y, z, metres) on the pelvis's row, empty elsewhere."""
    if "root_std" not in arrays or joint != ROOT_JOINT:
        return ["", "", ""]
    return [f"{v:.5f}" for v in arrays["root_std"][frame]]


def _contact_cells(arrays: dict) -> np.ndarray:
    """(T, J) text of the foot_contact column: 1 or 0 on the ankles' rows, empty elsewhere (and without contacts)."""
    cells = np.full(arrays["poses_3d"].shape[:2], "", dtype=object)
    if "contacts" in arrays:
        cells[:, list(CONTACT_JOINTS)] = np.where(np.asarray(arrays["contacts"], bool), "1", "0")
    return cells


def _camera_joints(arrays) -> np.ndarray:
    return arrays["poses_3d"] + arrays["root"][:, None]


def csv_text(arrays: dict, fps: float) -> str:
    """One row per frame and joint (long format: pandas.read_csv, spreadsheets, R)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    camera = _camera_joints(arrays)
    sources = joint_sources(arrays)
    contacts = _contact_cells(arrays)
    for frame in range(len(camera)):
        for joint, name in enumerate(skeleton.JOINT_NAMES):
            writer.writerow([frame, f"{frame / fps:.4f}", name,
                             *(f"{v:.5f}" for v in arrays["poses_world"][frame, joint]),
                             *(f"{v:.5f}" for v in camera[frame, joint]),
                             *(f"{v:.2f}" for v in arrays["keypoints_2d"][frame, joint]),
                             f"{arrays['confidence'][frame, joint]:.4f}", f"{arrays['uncertainty'][frame, joint]:.5f}",
                             JOINT_SOURCES[sources[frame, joint]], contacts[frame, joint],
                             *_root_std_cells(arrays, frame, joint)])
    return out.getvalue()


def json_payload(arrays: dict, metadata: dict, fps: float) -> dict:
    """A self-describing document: skeleton, units, frames, then one entry per frame."""
    camera = _camera_joints(arrays)
    sources = joint_sources(arrays)

    def rounded(array, digits):
        return np.round(np.asarray(array, np.float64), digits).tolist()

    return {
        "format": "uao-deploy 3D pose result", "format_version": 1,
        "skeleton": {"name": "Human3.6M-17", "joint_names": list(skeleton.JOINT_NAMES),
                     "parents": list(skeleton.PARENTS)},
        "fps": fps, "fps_known": metadata.get("fps") is not None, "frame_count": len(camera),
        "coordinate_frames": FRAMES,
        "fields": {
            "world": "joint positions (joints x 3) in the world frame, metres",
            "camera": "joint positions (joints x 3) in the camera frame, metres",
            "root_world": "pelvis position in the world frame, metres (the root trajectory)",
            "keypoints_2d": "2D keypoints (joints x 2) in the image frame, pixels, after gap filling; inferred joints where the lifted body projects them",
            "detector_confidence": "per joint, 0 where the joint was missing and filled",
            "uncertainty_m": "per joint, the model's expected error scale exp(s), metres",
            "joint_source": "per joint, where it came from: "
                            + ", ".join(f"{i} {name}" for i, name in enumerate(JOINT_SOURCES)),
            **({"contacts": "per foot (left, right), true where the foot stands on the floor and is held planted"}
               if "contacts" in arrays else {}),
            **({"root_std_camera_m": "standard deviation of the camera-frame root (x, y, z), metres, from the "
                                     "root trajectory's least squares"} if "root_std" in arrays else {}),
        },
        "world_frame": metadata.get("world_frame"),
        "frames": [{"frame": frame, "time_s": round(frame / fps, 4),
                    "world": rounded(arrays["poses_world"][frame], 5), "camera": rounded(camera[frame], 5),
                    "root_world": rounded(arrays["root_world"][frame], 5),
                    "keypoints_2d": rounded(arrays["keypoints_2d"][frame], 2),
                    "detector_confidence": rounded(arrays["confidence"][frame], 4),
                    "uncertainty_m": rounded(arrays["uncertainty"][frame], 5),
                    "joint_source": sources[frame].tolist(),
                    **({"contacts": dict(zip(FEET, map(bool, arrays["contacts"][frame])))} if "contacts" in arrays
                       else {}),
                    **({"root_std_camera_m": rounded(arrays["root_std"][frame], 5)} if "root_std" in arrays
                       else {})} for frame in range(len(camera))],
        "metadata": metadata,
    }

