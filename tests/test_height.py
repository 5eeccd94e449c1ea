"""--subject-height: the skeleton's standing height and the scales that give a lifted result a known height."""
import numpy as np
import pytest

from conftest import STANDING_POSE
from uao_deploy import UaoError
from uao_deploy.pipeline.height import HEAD_AND_SOLE, SIZE_BIAS, height_scales, skeleton_height


def test_skeleton_height_is_the_head_to_ankle_chain_plus_head_and_sole():
    pose = STANDING_POSE - STANDING_POSE[0]
    # Hand-computed along the conftest pose: head top -> neck -> thorax -> spine -> pelvis, hip -> knee -> ankle.
    spine = (np.hypot(0.03, 0.13) + np.hypot(0.03, 0.10) + np.hypot(0.01, 0.27) + np.hypot(0.01, 0.23))
    leg = np.sqrt(0.01 ** 2 + 0.02 ** 2 + 0.43 ** 2) + np.sqrt(0.02 ** 2 + 0.42 ** 2)
    assert skeleton_height(pose[None]) == pytest.approx(spine + leg + HEAD_AND_SOLE, abs=1e-6)
    # The median over frames: a few frames of a wrong size do not move it.
    frames = np.repeat(pose[None], 9, axis=0)
    frames[:3] *= 0.5
    assert skeleton_height(frames) == pytest.approx(skeleton_height(pose[None]), abs=1e-6)


def test_height_scales_give_the_asked_height_and_refuse_impossible_ones():
    pose = np.repeat((STANDING_POSE - STANDING_POSE[0])[None], 4, axis=0)
    height = skeleton_height(pose)
    pose_scale, root_scale = height_scales(pose, height + 0.3)
    assert skeleton_height(pose * pose_scale) == pytest.approx(height + 0.3, rel=1e-6)
    assert pose_scale == pytest.approx((height + 0.3 - HEAD_AND_SOLE) / (height - HEAD_AND_SOLE))
    assert root_scale == pytest.approx(pose_scale * SIZE_BIAS)
    for bad in (0.3, 3.5, float("nan")):
        with pytest.raises(UaoError, match="subject height"):
            height_scales(pose, bad)
