"""A known subject height: the lifted skeleton and its root depth scaled to it (``--subject-height``).

From one camera a person's size and distance cannot be told apart: the lifter gives every subject
about the size of the people it was trained on, and the root's depth follows that size. Where the
height is known (mocap and sports work often know it), the whole camera-frame result is scaled
about the camera centre so that the skeleton has that height: every joint's projection stays where
it was, the bones and the root's depth change by the same factor.

Height here is the standing height from sole to crown: the ankle -> knee -> hip and pelvis ->
spine -> thorax -> neck -> head-top chain (:func:`skeleton_height`, the median over frames, as
bent as a standing body is) plus ``HEAD_AND_SOLE`` (the ankle joint sits above the sole and the
head-top joint below the crown).

The root's depth follows the size of the poses it was fitted to (the lifter's forward poses,
``poses_3d_initial``), not of the refined ones (sequence UAO and the smoothing change the
skeleton's size a little, and the root's depth does not follow), so its factor is measured on
those. It already carries the model's calibration (:class:`uao_deploy.contract.Calibration`),
which takes out, among others, the lifter's habit of giving people a little more size than they
have, on average; with a known height this subject's own factor replaces that average. So the
depth is scaled by the fitted poses' factor times ``SIZE_BIAS``: the median over the train and val
clips (every noise model) of the true depth over the fitted one per unit of that factor
(docs/root-depth.md).
"""
from __future__ import annotations

import numpy as np

from ..errors import UaoError

SPINE_CHAIN = ((10, 9), (9, 8), (8, 7), (7, 0))  # head top -> neck -> thorax -> spine -> pelvis
LEG_CHAINS = (((1, 2), (2, 3)), ((4, 5), (5, 6)))  # hip -> knee -> ankle, right and left
HEAD_AND_SOLE = 0.08  # metres: a standing person's height over the chain (CMU clips: statures 5-10 cm above the head top)
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.8  # metres a --subject-height may be
SIZE_BIAS = 1.016


def _length(poses: np.ndarray, bones) -> np.ndarray:
    return sum(np.linalg.norm(poses[..., a, :] - poses[..., b, :], axis=-1) for a, b in bones)


def skeleton_height(poses: np.ndarray) -> float:
    """Standing height (metres) of a skeleton given as poses (T, 17, 3): the median over frames of the
    head-top-to-pelvis chain plus the mean of the two legs' hip-to-ankle chains, plus HEAD_AND_SOLE."""
    poses = np.asarray(poses, np.float64)
    legs = np.mean([_length(poses, leg) for leg in LEG_CHAINS], axis=0)
    return float(np.median(_length(poses, SPINE_CHAIN) + legs) + HEAD_AND_SOLE)


def check_height(height: float | None) -> None:
    if height is not None and not (MIN_HEIGHT <= height <= MAX_HEIGHT):
        raise UaoError(f"the subject height must be {MIN_HEIGHT}-{MAX_HEIGHT} m (standing, sole to crown); got {height}")


def height_scales(poses: np.ndarray, height: float, fitted_poses: np.ndarray | None = None) -> tuple[float, float]:
    """(factor on the poses, factor on the root) that give root-relative ``poses`` (T, 17, 3) the
    standing ``height`` in metres, for a root fitted to ``fitted_poses`` (the same as ``poses`` if None)."""
    check_height(height)

    def factor(skeleton: np.ndarray) -> float:
        return (height - HEAD_AND_SOLE) / (skeleton_height(skeleton) - HEAD_AND_SOLE)

    return factor(poses), factor(poses if fitted_poses is None else fitted_poses) * SIZE_BIAS
