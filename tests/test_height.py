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


def test_skeleton_height_takes_each_bone_at_its_median_so_frames_stretched_in_turn_do_not_add_up():
    """Noise that stretches the upper body in some frames and the legs in others lengthens the chain of
    most frames; each bone's median over the frames is still the pose's own."""
    pose = STANDING_POSE - STANDING_POSE[0]
    frames = np.repeat(pose[None], 5, axis=0)
    frames[:2, 7:] *= 1.3  # pelvis -> spine -> thorax -> neck -> head top (and the arms) 30 % longer
    frames[2:4, 1:7] *= 1.3  # hips, knees, ankles 30 % farther from the pelvis
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


def test_infer_subject_height_scales_the_skeleton_and_the_root(small_checkpoint, tmp_path, capsys):
    """``uao infer --subject-height``: the output skeleton has that height, the root moves by the recorded
    factor, and the refusals are one line each."""
    import json

    from cli_runner import uao
    from conftest import moving_person
    from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
    from uao_deploy.data.video_noise import VideoNoiseModel, video_clips

    clip, = video_clips({"walk": moving_person(30, 0)}, cameras_of(TEST_SUBJECTS)[:1], VideoNoiseModel(sigma=2), seed=0)
    sequence = clip.sequence
    path = tmp_path / "walk.npz"
    np.savez(path, keypoints=np.concatenate([sequence.pixels, sequence.confidence[..., None]], axis=-1),
             width=sequence.width, height=sequence.height, focal=sequence.focal[0])
    lifted = {}
    for name, extra in (("plain", []), ("tall", ["--subject-height", "2.1"])):
        out = tmp_path / f"{name}.npz"
        code, _, err = uao(capsys, "infer", path, "-o", out, "--backend", "torch", "--engine", small_checkpoint,
                           "--tto-iters", "1", "--no-progress", *extra)
        assert code == 0, err
        with np.load(out) as saved:
            lifted[name] = {key: saved[key] for key in ("poses_3d", "root")}
            lifted[name]["metadata"] = json.loads(str(saved["metadata"]))
    assert skeleton_height(lifted["tall"]["poses_3d"]) == pytest.approx(2.1, rel=1e-4)
    recorded = lifted["tall"]["metadata"]["subject_height"]
    assert recorded["metres"] == 2.1 and recorded["root_scale"] == pytest.approx(recorded["pose_scale"] * SIZE_BIAS)
    np.testing.assert_allclose(lifted["tall"]["root"], lifted["plain"]["root"] * recorded["root_scale"], rtol=1e-4)
    for bad, message in ((["--subject-height", "4"], "subject height must be"),
                         (["--subject-height", "1.7", "--causal"], "cannot see it")):
        code, _, err = uao(capsys, "infer", path, "-o", tmp_path / "bad.npz", "--backend", "torch", "--engine",
                           small_checkpoint, "--tto-iters", "1", "--no-progress", *bad)
        assert code != 0 and message in err and "Traceback" not in err and not (tmp_path / "bad.npz").exists()
