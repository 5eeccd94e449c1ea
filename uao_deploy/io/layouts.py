"""Skeleton layouts of 2D detectors and the one conversion of each to Human3.6M-17.

Every layout names its joints in one vocabulary, so the conversion works by name: the 17 COCO body
joints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles), which every layout below
has, go through :func:`coco_to_h36m` -- the MHFormer/PoseMamba rule the demo inputs were made
with. A layout that detects the top of the head (BODY_25B, Halpe-26) gives Human3.6M's head joint
directly instead of synthesizing it. Joints that Human3.6M has no use for (feet, face, hands,
OpenPose's neck and mid-hip) are dropped.

Synthesized Human3.6M joints (see :func:`coco_to_h36m` for the formulas): pelvis (mid-hips), spine
(between pelvis and thorax), thorax (above the shoulders' midpoint, toward the nose), neck/nose
(between nose and shoulders) and head (above the eyes; detected where the layout has a head top).

Left and right are the person's own sides in every layout, as in Human3.6M.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import skeleton
from ..errors import UaoError

COCO_JOINT_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
# Human3.6M joints that COCO detects directly: H36M index -> COCO index (neck/nose starts at the nose).
COCO_FOR_H36M = {9: 0, 11: 5, 14: 6, 12: 7, 15: 8, 13: 9, 16: 10, 4: 11, 1: 12, 5: 13, 2: 14, 6: 15, 3: 16}
H36M_HEAD = skeleton.JOINT_NAMES.index("head")
# A coordinate beyond this many pixels is in no image, and no detector scores a joint this high:
# a detector's way of writing "not found", or damage (see mark_missing).
ABSURD_PIXELS = 1e6
ABSURD_CONFIDENCE = 1e6
# Below this a detector is guessing, not seeing: HRNet and MMPose put a webcam signer's unseen knees at
# 0.03-0.13 (inside the image, at chest height), detected joints of the same clips score 0.3 and up.
GUESS_CONFIDENCE = 0.1
_FEET = ("l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel")


@dataclass(frozen=True)
class Layout:
    name: str  # the --layout value
    title: str
    joints: tuple[str, ...]
    used_by: str
    head_top: str | None = None  # a detected joint that is Human3.6M's head (top of the head)

    def __len__(self) -> int:
        return len(self.joints)


LAYOUTS = {layout.name: layout for layout in (
    Layout("h36m", "Human3.6M-17", skeleton.JOINT_NAMES, "MHFormer/PoseMamba demos, VideoPose3D (h36m)"),
    Layout("coco", "COCO-17", COCO_JOINT_NAMES, "AlphaPose, MMPose/RTMPose, Ultralytics YOLO-pose, Detectron2"),
    Layout("coco18", "OpenPose COCO-18", (
        "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
        "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear"), "OpenPose --model_pose COCO"),
    Layout("body25", "OpenPose BODY_25", (
        "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "mid_hip", "r_hip",
        "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear") + _FEET[:3] + _FEET[3:],
        "OpenPose default model"),
    Layout("body25b", "OpenPose BODY_25B", COCO_JOINT_NAMES + ("upper_neck", "head_top") + _FEET,
           "OpenPose experimental BODY_25B model (Pose2Sim)", head_top="head_top"),
    Layout("halpe26", "Halpe-26", COCO_JOINT_NAMES + ("head_top", "neck", "mid_hip") + (
        "l_big_toe", "r_big_toe", "l_small_toe", "r_small_toe", "l_heel", "r_heel"),
        "AlphaPose halpe26 models", head_top="head_top"),
    Layout("wholebody133", "COCO-WholeBody-133", COCO_JOINT_NAMES + _FEET
           + tuple(f"face_{i}" for i in range(68)) + tuple(f"l_hand_{i}" for i in range(21))
           + tuple(f"r_hand_{i}" for i in range(21)), "MMPose/RTMPose wholebody, AlphaPose coco_wholebody"),
    Layout("mediapipe33", "MediaPipe/BlazePose-33", (
        "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear", "r_ear",
        "mouth_left", "mouth_right", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
        "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip", "l_knee", "r_knee",
        "l_ankle", "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index"), "MediaPipe Pose (BlazePose)"),
)}


def layouts_with(joint_count: int) -> list[str]:
    """Names of the layouts with ``joint_count`` joints (BODY_25 and BODY_25B share 25)."""
    return [name for name, layout in LAYOUTS.items() if len(layout) == joint_count]


def mark_missing(points: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (..., 2) and confidence (...) as float32, every spelling of a missing joint made NaN
    with confidence 0: NaN (JSON's null), inf or beyond ``ABSURD_PIXELS`` coordinates, and a
    confidence that is NaN, below ``GUESS_CONFIDENCE`` or beyond ``ABSURD_CONFIDENCE``. One bad joint
    is one missing joint, never a dead file."""
    points, confidence = np.asarray(points), np.asarray(confidence)
    with np.errstate(invalid="ignore"):
        missing = ~(np.abs(points) <= ABSURD_PIXELS).all(axis=-1) \
            | ~((confidence >= GUESS_CONFIDENCE) & (confidence <= ABSURD_CONFIDENCE))
    points = np.where(missing[..., None], np.nan, points).astype(np.float32)
    return points, np.where(missing, 0.0, confidence).astype(np.float32)


def to_h36m(pixels: np.ndarray, confidence: np.ndarray, layout: str,
            source: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 2) pixels and (T, J) confidence in ``layout`` -> Human3.6M-17, missing joints NaN."""
    table = LAYOUTS[layout]
    if pixels.shape[1] != len(table):
        fits = layouts_with(pixels.shape[1])
        hint = f" ({' or '.join(fits)} has {pixels.shape[1]})" if fits else ""
        raise UaoError(f"{source} has {pixels.shape[1]} joints per person but the {table.title} layout has "
                       f"{len(table)}{hint}")
    pixels, confidence = mark_missing(np.asarray(pixels, np.float32), confidence)
    if layout == "h36m":
        return pixels, confidence
    coco = [table.joints.index(name) for name in COCO_JOINT_NAMES]
    h36m, h36m_conf = coco_to_h36m(pixels[:, coco], confidence[:, coco])
    if table.head_top is not None:
        top = table.joints.index(table.head_top)
        h36m[:, H36M_HEAD], h36m_conf[:, H36M_HEAD] = pixels[:, top], confidence[:, top]
    return h36m, h36m_conf


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
