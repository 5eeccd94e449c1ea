"""Facts about the Human3.6M 17-joint skeleton: joint order, parents and horizontal flips."""
from __future__ import annotations

from .arrays import concat, constant_like, zeros_like

NUM_JOINTS = 17
JOINT_NAMES = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
LEFT = (4, 5, 6, 11, 12, 13)
RIGHT = (1, 2, 3, 14, 15, 16)

# The 17 joints above as indices into Human3.6M's 32-joint motion-capture skeleton.
H36M32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def _swap_permutation() -> tuple[int, ...]:
    perm = list(range(NUM_JOINTS))
    for left, right in zip(LEFT, RIGHT):
        perm[left], perm[right] = right, left
    return tuple(perm)


# Index array that exchanges left and right joints; it is its own inverse.
SWAP_LR = _swap_permutation()


def swap_lr(joints, axis: int = -2):
    """Exchange left and right joints along ``axis`` (numpy arrays or torch tensors)."""
    index = [slice(None)] * joints.ndim
    index[axis] = list(SWAP_LR)
    return joints[tuple(index)]


def flip_pose(pose, axis: int = -2):
    """Mirror a 2D or 3D pose horizontally: negate x, then exchange left and right.

    Works on numpy arrays and torch tensors without in-place writes (so it traces cleanly), and is
    its own inverse, so the same function un-flips.
    """
    sign = constant_like([-1.0] + [1.0] * (pose.shape[-1] - 1), pose)
    return swap_lr(pose * sign, axis=axis)


def zero_root(pose):
    """Set the root joint (axis -2) to exactly 0, as the seed's evaluation does."""
    return concat([zeros_like(pose[..., :1, :]), pose[..., 1:, :]], axis=-2)
