"""``uao eval --video --occlusion``: the truncation, occlusion and false-track models of
uao_deploy.jobs.truncation and the scores they add (issue 23)."""
import json

import numpy as np
import pytest
from cli_runner import uao
from conftest import moving_person

from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
from uao_deploy.engines import load
from uao_deploy.jobs import truncation
from uao_deploy.jobs.truncation import (LEGS, LIMB_SPANS, LIMBS, LOWER, occlude, subject_share, truncate,
                                        visibility_metrics)
from uao_deploy.jobs.video_eval import evaluate_videos
from uao_deploy.pipeline.height import leg_lengths
from uao_deploy.pipeline.missing import DETECTED, INFERRED
from uao_deploy.pipeline.world import PELVIS_OVER_LEG


def walk(frames: int):
    """A person standing and drifting sideways, through a test camera."""
    world = moving_person(frames, 0) + np.linspace(0, 1, frames)[:, None, None] * np.float32([1, 0, 0])
    clip, = video_clips({"walk": world.astype(np.float32)}, cameras_of(TEST_SUBJECTS)[:1], VideoNoiseModel(sigma=2.0),
                        seed=0)
    return clip


def spans(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))


def test_each_model_hides_what_it_says():
    clip = walk(900)
    _, lower = truncate(clip.sequence, "lower-out", np.random.default_rng(0))
    assert lower[:, LOWER].all() and not lower[:, 7:].any()
    _, legs = truncate(clip.sequence, "legs-gaps", np.random.default_rng(0))
    assert not legs[:, [0, 1, 4, *range(7, 17)]].any()
    assert all(30 <= n <= 200 for n in spans(legs[:, 2])[:-1])  # the last span may be cut by the clip's end
    limbs, hidden = truncate(clip.sequence, "limbs", np.random.default_rng(0))
    assert not hidden[:, [0, 1, 4, 7, 8, 9, 10, 11, 14]].any()
    for limb in LIMBS:
        assert (hidden[:, limb] == hidden[:, limb[:1]]).all()  # a limb is hidden whole
        lengths = spans(hidden[:, limb[0]])
        assert lengths and all(n <= LIMB_SPANS[1] for n in lengths), lengths
    lengths = [n for limb in LIMBS for n in spans(hidden[:, limb[0]])]
    assert min(lengths) <= 10 < max(lengths)  # interpolated and inferred gaps both occur
    assert np.isnan(limbs.pixels[hidden]).all() and (limbs.confidence[hidden] == 0).all()
    assert np.isfinite(limbs.pixels[~hidden & (clip.sequence.confidence > 0)]).all()


def test_a_false_track_is_never_lifted_and_the_score_would_see_it(monkeypatch):
    clip = walk(200)
    occluded, hidden, extra = occlude(clip, "false-track", np.random.default_rng(0))
    assert extra == {"outputs": 1.0} and not hidden.any()
    assert subject_share(occluded.sequence, clip.sequence.pixels) == 1.0
    # A false person seen in a fifth of the frames is a person: then it is lifted too.
    monkeypatch.setattr(truncation, "FALSE_TRACK_SHARE", 0.2)
    _, _, extra = occlude(clip, "false-track", np.random.default_rng(0))
    assert extra == {"outputs": 2.0}
    # The share counts the frames whose keypoints are someone else's.
    other = occluded.sequence.pixels.copy()
    other[:50] += 300
    assert subject_share(occluded.sequence, other) == pytest.approx(0.75)


def test_visibility_scores_of_the_truth_and_of_a_wrong_pose():
    clip = walk(120)
    _, hidden = truncate(clip.sequence, "lower-out", np.random.default_rng(0))
    source = np.where(hidden, INFERRED, DETECTED)
    exact = visibility_metrics(clip.target, clip.root, clip, source, hidden)
    for name in ("mpjpe_detected", "mpjpe_inferred", "upper_mpjpe", "upper_mpjpe_thorax", "trunk_angle"):
        assert exact[name] == pytest.approx(0, abs=1e-3), name
    # Feet never seen: the floor is put a standing leg's length (PELVIS_OVER_LEG) under the pelvis. This
    # fixture's pelvis stands 1.12 leg lengths over its floor (ankles 8 cm up; CMU clips 0.94-1.01), so
    # even the truth's floor is off by the difference.
    legs = np.median(leg_lengths(clip.target))
    off = abs(np.median(clip.root @ clip.up + clip.camera_height) - PELVIS_OVER_LEG * legs) * 100
    assert exact["floor_error_cm"] == pytest.approx(off, abs=1.5) and exact["trunk_up_angle"] < 10
    assert "inferred_shin_variation" in exact and "seen_shin_variation" not in exact
    wrong = clip.target.copy()
    wrong[:, LEGS] *= np.linspace(0.5, 1.5, len(wrong))[:, None, None]  # shins stretching
    wrong[:, 7:] += [0.0, 0.05, 0.0]  # the upper body 5 cm off
    scores = visibility_metrics(wrong, clip.root, clip, source, hidden)
    assert scores["mpjpe_detected"] == pytest.approx(50, abs=1) and scores["mpjpe_inferred"] > 50
    assert scores["upper_mpjpe"] == pytest.approx(50, abs=1) and scores["upper_mpjpe_thorax"] == pytest.approx(0, abs=1e-3)
    assert scores["inferred_shin_variation"] > exact["inferred_shin_variation"] + 20


@pytest.mark.parametrize("model", ["lower-out", "false-track"])
def test_evaluate_videos_adds_the_occlusion_scores(small_checkpoint, model):
    clip = walk(40)
    with load(small_checkpoint, backend="torch") as engine:
        report = evaluate_videos([clip], engine, iters=1, occlusion=model, methods=("plain", "sequence-uao"))
    scores = report["methods"]["sequence-uao"]
    assert np.isfinite(scores["mpjpe"]) and scores["subject_share"] == 1.0
    assert ("mpjpe_inferred" in scores) == (model == "lower-out")
    assert (scores.get("outputs") == 1.0) == (model == "false-track")
    assert report["truth"]["trunk_up_angle"] < 20


def test_eval_video_occlusion_option(mocap_clips, tiny_export, tmp_path, capsys):
    path = tmp_path / "clips.npz"
    np.savez(path, **mocap_clips)
    code, stdout, err = uao(capsys, "eval", "--data", path, "--video", "--engine", tiny_export, "--tto-iters", "2",
                            "--occlusion", "limbs", "--json", "-")
    assert code == 0, err
    (row,) = json.loads(stdout)["settings"]
    assert row["occlusion"] == "limbs" and "mpjpe_detected" in row["methods"]["sequence-uao"]


def test_occlusion_is_a_video_option(mocap_clips, tmp_path, capsys):
    path = tmp_path / "clips.npz"
    np.savez(path, **mocap_clips)
    code, _, err = uao(capsys, "eval", "--data", path, "--occlusion", "limbs")
    assert code != 0 and "--occlusion is a --video option" in err
    code, _, err = uao(capsys, "eval", "--data", path, "--video", "--grid", "--occlusion", "limbs")
    assert code != 0 and "--occlusion is not a --grid option" in err


def test_settling_moves_only_inferred_joints_to_where_the_body_projects():
    from uao_deploy.camera import project
    from uao_deploy.pipeline.missing import settle_inferred

    clip = walk(10)
    cams = np.repeat(clip.cam[None], 10, axis=0)
    x = np.zeros((10, 17, 2), np.float32)
    inferred = np.zeros((10, 17), bool)
    inferred[:, LEGS] = True
    settled = settle_inferred(x, inferred, clip.target, clip.root, cams)
    placed = clip.target + clip.root[:, None]
    assert np.allclose(settled[:, LEGS], project(placed, cams)[:, LEGS], atol=1e-5)
    assert (settled[~inferred] == 0).all()
    # Legs far below a close camera (beyond where project() clamps) go where the pinhole puts them;
    # a joint behind the camera keeps its place.
    near = clip.target.copy()
    near[:, LEGS[1], :] = [0.0, 2.0, 1.0] - clip.root  # 63 degrees below the axis, 1 m ahead
    near[:, LEGS[3], 2] = -10.0 - clip.root[:, 2]
    settled = settle_inferred(x, inferred, near, clip.root, cams)
    assert np.allclose(settled[:, LEGS[1]], cams[:, 0:2] * [0.0, 2.0] + cams[:, 2:4], atol=1e-5)
    assert (np.abs(settled[:, LEGS[1], 1] - cams[:, 3]) > cams[:, 1]).all()  # past the clamp's edge
    assert (settled[:, LEGS[3]] == 0).all()


@pytest.mark.parametrize("runs", ["sequence", "frame"])
def test_a_lift_with_inferred_joints_settles_them_and_draws_them_where_the_body_is(small_checkpoint, runs):
    from uao_deploy.camera import image_coordinates, project
    from uao_deploy.pipeline import LiftSettings, lift

    clip = walk(30)
    hidden_sequence, hidden = truncate(clip.sequence, "lower-out", np.random.default_rng(0))
    with load(small_checkpoint, backend="torch") as engine:
        settled = lift(hidden_sequence, engine, settings=LiftSettings(1, runs))
        full = lift(clip.sequence, engine, settings=LiftSettings(1, runs))
    assert settled.metadata["root"]["inferred_settle_rounds"] > 0
    assert full.metadata["root"]["inferred_settle_rounds"] == 0  # nothing inferred: the lift is as it was
    assert (settled.joint_source[hidden] == INFERRED).all()
    # The 2D drawn for an inferred joint is where the lifted body puts it, not its starting guess.
    cams = np.repeat(settled.camera.normalized()[None], len(clip.root), axis=0)
    body = image_coordinates(project((settled.poses_3d + settled.root[:, None]).astype(np.float64), cams),
                             clip.sequence.width, clip.sequence.height)
    assert np.allclose(settled.keypoints_2d[hidden], body[hidden], atol=0.05)
    for result, sequence in ((settled, hidden_sequence), (full, clip.sequence)):  # the rest as the detector gave it
        detected = result.joint_source == DETECTED
        assert np.array_equal(result.keypoints_2d[detected], sequence.pixels[detected])


def test_inferred_bones_keep_the_length_seen_and_nothing_else_moves():
    from uao_deploy.pipeline.missing import steady_inferred_bones

    poses = np.random.default_rng(0).normal(size=(60, 17, 3))
    poses[:, 0] = 0
    source = np.zeros((60, 17), np.uint8)
    source[20:, [2, 3]] = INFERRED  # right knee and ankle out after frame 20
    steady = steady_inferred_bones(poses, source)
    seen_shin = np.linalg.norm(poses[:20, 3] - poses[:20, 2], axis=-1)
    shin = np.linalg.norm(steady[:, 3] - steady[:, 2], axis=-1)
    thigh = np.linalg.norm(steady[:, 2] - steady[:, 1], axis=-1)
    assert np.allclose(shin[20:], np.median(seen_shin), atol=1e-5)
    assert np.allclose(thigh[20:], np.median(np.linalg.norm(poses[:20, 2] - poses[:20, 1], axis=-1)), atol=1e-5)
    assert np.allclose(steady[:20], poses[:20], atol=1e-6) and np.allclose(steady[:, 4:], poses[:, 4:], atol=1e-6)
    # The knee's bone points where the network put it.
    before, after = poses[20:, 2] - poses[20:, 1], steady[20:, 2] - steady[20:, 1]
    cosine = (before * after).sum(-1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(after, axis=-1)
    assert np.allclose(cosine, 1, atol=1e-6)
