"""A known subject height: the lifted skeleton and its root depth scaled to it (``--subject-height``).

From one camera a person's size and distance cannot be told apart: the lifter gives every subject
about the size of the people it was trained on, and the root's depth follows that size. Where the
height is known (mocap and sports work often know it), the whole camera-frame result is scaled
about the camera centre so that the skeleton has that height: every joint's projection stays where
it was, the bones and the root's depth change by the same factor.

Height here is the standing height from sole to crown: the ankle -> knee -> hip and pelvis ->
spine -> thorax -> neck -> head-top chain (:func:`skeleton_height`: each bone's median length over
the frames, summed, so that frames where the noise stretched one bone and shrank another do not
decide it together; as bent as a standing body is) plus ``HEAD_AND_SOLE`` (the ankle joint sits
above the sole and the head-top joint below the crown).

The root's depth already carries the model's calibration (:class:`uao_deploy.contract.Calibration`),
which takes out, among others, the lifter's habit of giving people a little more size than they
have, on average. With a known height this subject's own factor replaces that average, so the
depth is scaled by the poses' factor times ``SIZE_BIAS`` (the lifter's chain over the true one at
0 px on the train clips; about what the train clips' roots ask for too). The subjects it has not
seen scatter around it by a per cent or two either way, as much as without a height, so a known
height takes out only part of the root's error (docs/root-depth.md).
"""
from __future__ import annotations

import numpy as np

from ..errors import UaoError

SPINE_CHAIN = ((10, 9), (9, 8), (8, 7), (7, 0))  # head top -> neck -> thorax -> spine -> pelvis
LEG_CHAINS = (((1, 2), (2, 3)), ((4, 5), (5, 6)))  # hip -> knee -> ankle, right and left
HEAD_AND_SOLE = 0.08  # metres: a standing person's height over the chain (CMU clips: statures 5-10 cm above the head top)
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.8  # metres a --subject-height may be
SIZE_BIAS = 1.02


def _length(poses: np.ndarray, bones) -> np.ndarray:
    return sum(np.linalg.norm(poses[..., a, :] - poses[..., b, :], axis=-1) for a, b in bones)


def leg_length(poses: np.ndarray, hip: int, knee: int, ankle: int) -> np.ndarray:
    """(...) thigh + shin of one leg of poses (..., 17, 3), metres."""
    return _length(poses, ((hip, knee), (knee, ankle)))


def leg_lengths(poses: np.ndarray) -> np.ndarray:
    """(T,) the mean of the two legs' hip -> knee -> ankle chains of poses (T, 17, 3), metres."""
    return np.mean([_length(np.asarray(poses, np.float64), leg) for leg in LEG_CHAINS], axis=0)


def _median_length(poses: np.ndarray, bones) -> float:
    return sum(float(np.median(np.linalg.norm(poses[:, a] - poses[:, b], axis=-1))) for a, b in bones)


def skeleton_height(poses: np.ndarray) -> float:
    """Standing height (metres) of a skeleton given as poses (T, 17, 3): the head-top-to-pelvis chain
    plus the mean of the two legs' hip-to-ankle chains, each bone at its median length over the frames,
    plus HEAD_AND_SOLE."""
    poses = np.asarray(poses, np.float64)
    legs = np.mean([_median_length(poses, leg) for leg in LEG_CHAINS])
    return _median_length(poses, SPINE_CHAIN) + float(legs) + HEAD_AND_SOLE


def check_height(height: float | None) -> None:
    if height is not None and not (MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise UaoError(f"the subject height must be {MIN_HEIGHT}-{MAX_HEIGHT} m (standing, sole to crown); got {height}")


def height_scales(poses: np.ndarray, height: float) -> tuple[float, float]:
    """(factor on the poses, factor on the root) that give root-relative ``poses`` (T, 17, 3) the
    standing ``height`` in metres."""
    check_height(height)
    scale = (height - HEAD_AND_SOLE) / (skeleton_height(poses) - HEAD_AND_SOLE)
    return scale, scale * SIZE_BIAS
