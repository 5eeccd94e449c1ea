"""BVH (Biovision hierarchy) for Blender, Maya, MotionBuilder, Unity: the Human3.6M skeleton animated.

The skeleton: the 17 Human3.6M joints as a hierarchy rooted at the pelvis (``Hips``), in a T-pose
rest skeleton (facing +Z, Y up, arms along +-X) whose bone lengths are each bone's median length
over the sequence. Units: metres (Blender's importer at scale 1 gives metres; use the importer's
scale for centimetre rigs). The root has position channels (the world-frame pelvis); every joint
has ``Zrotation Xrotation Yrotation`` channels, degrees, unwrapped over time.

Where a joint has several children (pelvis: hips and spine; thorax: neck and shoulders) each child
hangs from its own zero-length branch joint (``RHipJoint``, ``LowerBack``, ``LeftCollar`` ...,
as in the CMU BVH files), so every bone gets its own rotation and the animated joints land where
the lifted ones are (with the fixed bone lengths).

Rotations are solved from positions: a bone's rotation is the smallest one, relative to its
parent's, that turns its rest direction into its direction in the frame. **What 17 joints cannot
give**: the twist of each limb about its own axis (upper arm, forearm, thigh, shin: no hand or
foot orientation is detected), the orientation of the hands, feet and head (they are end joints),
and the pelvis's tilt only from the hips and spine. A rig driven by this file has no forearm or
shin roll and keeps hands, feet and head at their rest orientation relative to their bones.
"""
from __future__ import annotations

import numpy as np

from ... import skeleton
from ...errors import UaoError

ROOT = skeleton.PARENTS.index(-1)  # the pelvis
# BVH name of each Human3.6M joint (a name Blender's and MotionBuilder's retargeting recognise).
BVH_NAMES = ("Hips", "RightUpLeg", "RightLeg", "RightFoot", "LeftUpLeg", "LeftLeg", "LeftFoot", "Spine",
             "Thorax", "Neck", "Head", "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm",
             "RightHand")
# Zero-length joints between a parent with several children and each child (child -> name).
BRANCHES = {1: "RHipJoint", 4: "LHipJoint", 7: "LowerBack", 9: "LowerNeck", 11: "LeftCollar", 14: "RightCollar"}
_RIGHT, _UP = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
# Rest direction of the bone ending at each joint (T-pose facing +Z: the person's left is +X).
REST_DIRECTIONS = {1: -_RIGHT, 2: -_UP, 3: -_UP, 4: _RIGHT, 5: -_UP, 6: -_UP, 7: _UP, 8: _UP, 9: _UP, 10: _UP,
                   11: _RIGHT, 12: _RIGHT, 13: _RIGHT, 14: -_RIGHT, 15: -_RIGHT, 16: -_RIGHT}
END_SITE = 0.05  # metres: the end joints' bone tails, along their bone
CHANNEL_ORDER = "Zrotation Xrotation Yrotation"


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(17,) median length over frames of the bone ending at each joint (0 for the root)."""
    parents = np.array(skeleton.PARENTS)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    return np.concatenate([[0.0], np.median(lengths, axis=0)])


def with_bone_lengths(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Joints (T, 17, 3) rebuilt from the root outwards with each bone's direction and ``lengths``."""
    joints = np.asarray(joints, np.float64)
    fixed = joints.copy()
    for joint, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            direction = joints[:, joint] - joints[:, parent]
            norm = np.linalg.norm(direction, axis=-1, keepdims=True)
            fixed[:, joint] = fixed[:, parent] + direction / np.where(norm > 0, norm, 1) * lengths[joint]
    return fixed


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3, 3) smallest rotations taking unit vectors a (3,) to b (T, 3); none where b is zero."""
    norm = np.linalg.norm(b, axis=-1, keepdims=True)
    b = np.where(norm > 0, b / np.where(norm > 0, norm, 1), a)
    axis = np.cross(a, b)
    cos = b @ a
    skew = np.zeros((len(b), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    skew -= skew.transpose(0, 2, 1)
    # Rodrigues with 1 / (1 + cos); opposite vectors (cos = -1) turn half a turn about a perpendicular.
    rotation = np.eye(3) + skew + skew @ skew / np.maximum(1 + cos, 1e-9)[:, None, None]
    opposite = cos < -1 + 1e-9
    if opposite.any():
        perpendicular = np.cross(a, [0.0, 0, 1]) if abs(a[2]) < 0.9 else np.cross(a, [1.0, 0, 0])
        perpendicular /= np.linalg.norm(perpendicular)
        rotation[opposite] = 2 * np.outer(perpendicular, perpendicular) - np.eye(3)
    return rotation


def _root_rotation(joints: np.ndarray) -> np.ndarray:
    """(T, 3, 3) pelvis orientation: X from the right hip to the left, Y up the spine, Z forward."""
    across = joints[:, 4] - joints[:, 1]
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    up = joints[:, 7] - joints[:, 0]
    up -= (up * across).sum(-1, keepdims=True) * across
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    return np.stack([across, up, np.cross(across, up)], axis=-1)


def _euler_zxy(matrices: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations R = Rz Rx Ry -> (T, 3) angles (z, x, y), degrees, unwrapped over time."""
    x = np.arcsin(np.clip(matrices[:, 2, 1], -1, 1))
    y = np.arctan2(-matrices[:, 2, 0], matrices[:, 2, 2])
    z = np.arctan2(-matrices[:, 0, 1], matrices[:, 1, 1])
    return np.degrees(np.unwrap(np.stack([z, x, y], axis=-1), axis=0))


def _children(joint: int) -> list[int]:
    return [child for child, parent in enumerate(skeleton.PARENTS) if parent == joint]


def solve(joints: np.ndarray):
    """Rest offsets and per-frame local rotations of the BVH joints, in file order.

    Returns (hierarchy, offsets, rotations, fixed): hierarchy a list of (name, depth, is_end) in
    the order the file lists them, offsets (N, 3) rest offsets, rotations (T, N, 3, 3) local, and
    fixed the joints (T, 17, 3) with the rest skeleton's bone lengths (where the file puts them).
    """
    lengths = bone_lengths(joints)
    fixed = with_bone_lengths(joints, lengths)
    frames = len(joints)
    hierarchy, offsets, rotations = [], [], []

    def add(name, depth, offset, local, is_end=False):
        hierarchy.append((name, depth, is_end))
        offsets.append(offset)
        rotations.append(local)

    def visit(joint, depth, parent_global, offset):
        """Add ``joint`` and its subtree; ``parent_global`` is the global rotation it hangs from."""
        children = _children(joint)
        identity = np.broadcast_to(np.eye(3), (frames, 3, 3))
        if joint == ROOT:
            local = own = _root_rotation(fixed)
        elif len(children) == 1:
            local = _bone_rotation(parent_global, joint, children[0])
            own = parent_global @ local
        else:  # an end joint, or the thorax whose children hang from branch joints
            local, own = identity, parent_global
        add(BVH_NAMES[joint], depth, offset, local, is_end=not children)
        if len(children) == 1 and joint != ROOT:
            visit(children[0], depth + 1, own, REST_DIRECTIONS[children[0]] * lengths[children[0]])
        elif len(children) > 1:
            for child in children:
                branch = _bone_rotation(own, joint, child)
                add(BRANCHES[child], depth + 1, np.zeros(3), branch)
                visit(child, depth + 2, own @ branch, REST_DIRECTIONS[child] * lengths[child])

    def _bone_rotation(frame, joint, child):
        """Smallest rotation, relative to ``frame``, taking the bone's rest direction to its direction now."""
        now = np.einsum("tji,tj->ti", frame, fixed[:, child] - fixed[:, joint])
        return _swing(REST_DIRECTIONS[child], now)

    visit(ROOT, 0, None, np.zeros(3))
    return hierarchy, np.array(offsets), np.stack([np.asarray(r) for r in rotations], axis=1), fixed


def bvh_text(joints: np.ndarray, fps: float) -> str:
    """The BVH file of world-frame joints (T, 17, 3), metres, Y up."""
    joints = np.asarray(joints, np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.NUM_JOINTS, 3) or len(joints) == 0:
        raise UaoError(f"BVH: joints have shape {joints.shape}; expected (T, {skeleton.NUM_JOINTS}, 3)")
    if not np.isfinite(joints).all():
        raise UaoError("BVH: the joints hold NaN or infinite values")
    hierarchy, offsets, rotations, fixed = solve(joints)
    lines = ["HIERARCHY"]
    depths = []
    for (name, depth, is_end), offset in zip(hierarchy, offsets):
        while depths and depths[-1] >= depth:
            lines.append("  " * depths.pop() + "}")
        pad = "  " * depth
        lines += [f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", pad + "{", f"{pad}  OFFSET {_numbers(offset)}"]
        position = "Xposition Yposition Zposition " if depth == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if depth == 0 else 3} {position}{CHANNEL_ORDER}")
        if is_end:
            tail = REST_DIRECTIONS[BVH_NAMES.index(name)] * END_SITE
            lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {_numbers(tail)}", f"{pad}  }}"]
        depths.append(depth)
    while depths:
        lines.append("  " * depths.pop() + "}")
    angles = np.stack([_euler_zxy(rotations[:, n]) for n in range(len(hierarchy))], axis=1)  # (T, N, 3)
    motion = np.concatenate([fixed[:, ROOT], angles.reshape(len(joints), -1)], axis=1)
    lines += ["MOTION", f"Frames: {len(joints)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [_numbers(row) for row in motion]
    return "\n".join(lines) + "\n"


def _numbers(values) -> str:
    return " ".join(f"{value:.6f}" for value in np.round(values, 6) + 0.0)  # no "-0.000000"

