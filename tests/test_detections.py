"""Real detector output as it comes (issue 23): impossible points, wrong image sizes, frame rates,
raw Detectron2 files and garbage, on the real files of tests/data/formats and ../shared/data."""
import csv
import json
import shutil

import numpy as np
import pytest

from cli_runner import uao
from uao_deploy import UaoError
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.io.keypoints.checks import drop_implausible
from uao_deploy.pipeline.missing import (DETECTED, INFERRED, INTERPOLATE_MAX_FRAMES, INTERPOLATED, TEMPLATE,
                                        fill_and_mark)
from uao_deploy.skeleton import JOINT_NAMES

J = {name: index for index, name in enumerate(JOINT_NAMES)}


def _raw_people(folder, frames):
    """(T, 25, 3) BODY_25B keypoints of the first person of each of the first ``frames`` files."""
    files = sorted(folder.glob("*.json"))[:frames]
    return np.stack([np.reshape(json.loads(f.read_text())["people"][0]["pose_keypoints_2d"], (25, 3))
                     for f in files])


def test_a_nose_on_the_image_edge_far_from_its_track_is_missing(formats):
    """OpenPose put the Pose2Sim subject's nose at x = 0 (confidence 0.65-0.69) in frames 4-8 and 15
    while the subject stands 300 px from the edge: not a detection."""
    raw = _raw_people(formats / "openpose_body25b_pose2sim", 20)
    assert (raw[[4, 5, 6, 7, 8, 15], 0, 0] == 0).all() and (raw[[4, 5, 6, 7, 8, 15], 0, 2] > 0.6).all()
    confidence = drop_implausible(raw[..., :2], raw[..., 2], 1088, 1920)
    dropped = np.argwhere((confidence == 0) & (raw[..., 2] > 0))
    assert sorted(map(tuple, dropped)) == [(t, 0) for t in (4, 5, 6, 7, 8, 15)]
    # Read through the reader, the joints made from the nose are missing in those frames only.
    subject, = read_keypoints(formats / "openpose_body25b_pose2sim", width=1088, height=1920)
    assert (subject.confidence[[4, 15], J["neck_nose"]] == 0).all()
    assert (subject.confidence[[3, 9, 14], J["neck_nose"]] > 0).all()


def test_points_at_zero_zero_are_missing_and_edge_points_on_their_track_are_kept():
    rng = np.random.default_rng(0)
    points = np.tile(rng.uniform(300, 500, (1, 17, 2)), (10, 1, 1)) + rng.normal(0, 2, (10, 17, 2))
    confidence = np.full((10, 17), 0.9)
    points[..., 0] -= points[..., 0].min() - 20  # the person at the left edge
    points[3, 5] = 0  # (0, 0): "not found", whatever the confidence says
    points[:, 16, 0] = 0  # a wrist clamped to the edge in every frame, next to the body: kept
    points[6, 2, 1] = 1079  # the last row, 600 px from where its track is
    kept = drop_implausible(points, confidence, 1920, 1080)
    assert kept[3, 5] == 0 and kept[6, 2] == 0
    assert (kept[:, 16] > 0).all() and (kept > 0).sum() == 170 - 2


@pytest.mark.parametrize("folder, size, true_size", [
    ("openpose_body25b_pose2sim", (720, 1280), "1088x1920"),  # portrait Pose2Sim at two thirds
])
def test_a_wrong_image_size_is_refused_naming_the_likely_one(formats, folder, size, true_size):
    with pytest.raises(UaoError, match=f"outside the {size[0]}x{size[1]} image .*they fit {true_size}"):
        read_keypoints(formats / folder, width=size[0], height=size[1])
    read_keypoints(formats / folder, width=int(true_size.split("x")[0]), height=int(true_size.split("x")[1]))


def test_webcam_clip_with_guessed_legs_below_the_frame_is_not_refused(shared_dir):
    """The PoseMamba webcam clip (1920x1080): HRNet puts the hips and elbows far below the image
    with confidence 0.3-0.6. Its own size is accepted; 1280x720 is refused, naming 1920x1080."""
    path = shared_dir / "data" / "real2d" / "posemamba_sample_video1.npz"
    read_keypoints(path, width=1920, height=1080)
    with pytest.raises(UaoError, match="outside the 1280x720 image .*they fit 1920x1080"):
        read_keypoints(path, width=1280, height=720)


def test_joints_guessed_far_outside_the_image_are_not_detections(shared_dir):
    """The webcam clip's hips at y = 1,760 in a 1,080-high image, scored 0.3 and more, were never
    seen: more than SEEN_MARGIN of the image outside it, a joint is missing (and inferred), whatever
    its score. Joints inside, or just over the edge, stay detected."""
    from uao_deploy.camera import SEEN_MARGIN
    from uao_deploy.pipeline import camera_of, prepare

    sequence, = read_keypoints(shared_dir / "data" / "real2d" / "posemamba_sample_video1.npz", width=1920, height=1080)
    prepared = prepare(sequence, camera_of(sequence, 1920, 1080))
    scored = sequence.confidence > 0
    beyond = scored & (sequence.pixels[..., 1] > (1 + SEEN_MARGIN) * 1080)
    assert beyond[:, J["pelvis"]].mean() > 0.9 and (sequence.confidence[beyond] >= 0.2).all()
    assert (prepared.joint_source[beyond] != DETECTED).all() and (prepared.confidence[beyond] == 0).all()
    within = scored & (sequence.pixels[..., 1] <= (1 + SEEN_MARGIN) * 1080) & (sequence.pixels[..., 1] > 1080)
    assert within.any() and (prepared.joint_source[within] == DETECTED).all()
    assert (prepared.joint_source[:, [J["head"], J["l_shoulder"], J["r_shoulder"]]] == DETECTED).all()


def test_a_leg_joint_without_its_leg_above_the_hips_is_not_a_detection(shared_dir):
    """HRNet puts the webcam clip's unseen right ankle on the right wrist (scored 0.06-0.37, inside the
    image) while the knee and hip are unseen: off the body, missing, inferred, and counted. The real
    files' other detections all stay."""
    from uao_deploy.pipeline import camera_of, prepare
    from uao_deploy.pipeline.prepare import set_aside_note

    sequence, = read_keypoints(shared_dir / "data" / "real2d" / "posemamba_sample_video1.npz", width=1920, height=1080)
    ankle = sequence.confidence[:, J["r_ankle"]] > 0
    assert ankle.sum() > 50
    near_wrist = np.linalg.norm(sequence.pixels[ankle, J["r_ankle"]] - sequence.pixels[ankle, J["r_wrist"]], axis=-1)
    assert np.median(near_wrist) < 100
    prepared = prepare(sequence, camera_of(sequence, 1920, 1080))
    assert (prepared.joint_source[:, J["r_ankle"]] == INFERRED).all()
    assert prepared.set_aside["off_body"] == ankle.sum()
    assert f"{ankle.sum()} off the body" in set_aside_note(prepared.set_aside)
    kept = sequence.confidence > 0
    kept[:, J["r_ankle"]] = False
    kept &= prepared.confidence > 0  # less those far outside the image
    assert kept[:, [J["head"], J["r_wrist"], J["l_shoulder"]]].all()
    for folder, size in (("openpose_body25_slp", (1280, 720)), ("openpose_body25b_pose2sim", (1088, 1920)),
                         ("alphapose_halpe26/alphapose-results.json", (360, 640)), ("mmpose_wholebody/SOUP.json", (320, 240))):
        for person in read_keypoints(shared_dir / "data" / "formats" / folder, width=size[0], height=size[1],
                                     person="all"):
            assert prepare(person, camera_of(person, *size)).set_aside["off_body"] == 0, person.source


def test_limb_joints_off_the_body_are_found_and_real_poses_are_not():
    """A knee or ankle seen without its parent above the hips, or a wrist farther from its shoulder
    than an arm reaches, is off the body; the same joints where a body can put them are not."""
    from uao_deploy.pipeline.missing import off_body

    scale, frames = 300.0, 6
    pixels = np.repeat((TEMPLATE * scale + [640.0, 400.0])[None], frames, axis=0)
    detected = np.ones((frames, 17), bool)
    detected[:, [J["r_knee"], J["l_knee"]]] = False  # knees unseen in every frame
    pixels[1, J["r_ankle"]] = pixels[1, J["r_shoulder"]] + [-0.2 * scale, 0.05 * scale]  # by the chest, knee unseen: off
    pixels[2, J["l_ankle"]] = pixels[2, J["pelvis"]] + [0.3 * scale, 0.1 * scale]  # a seated ankle: on
    pixels[3, J["r_wrist"]] = pixels[3, J["r_shoulder"]] + [2.0 * scale, 0.0]  # 2 m from the shoulder: off
    pixels[4, J["r_wrist"]] = pixels[4, J["r_shoulder"]] + [-0.5 * scale, -0.2 * scale]  # arm raised: on
    high_kick = pixels[5].copy()
    high_kick[J["l_knee"]] = high_kick[J["l_hip"]] + [0.3 * scale, -0.1 * scale]
    high_kick[J["l_ankle"]] = high_kick[J["l_knee"]] + [0.1 * scale, -0.4 * scale]
    pixels[5] = high_kick
    detected[5, J["l_knee"]] = True  # the kicking leg is seen whole: on
    assert sorted(map(tuple, np.argwhere(off_body(pixels, detected)))) == [(1, J["r_ankle"]), (3, J["r_wrist"])]
    mirrored = pixels * [-1.0, 1.0]  # a back view: the same joints
    assert sorted(map(tuple, np.argwhere(off_body(mirrored, detected)))) == [(1, J["r_ankle"]), (3, J["r_wrist"])]


def test_raw_detectron2_output_names_the_conversion(tmp_path):
    boxes = np.empty(3, dtype=object)
    keypoints = np.empty(3, dtype=object)
    for frame in range(3):  # what VideoPose3D's infer_video_d2.py saves: per-frame arrays, some empty
        boxes[frame] = np.ones((frame % 2, 5), np.float32)
        keypoints[frame] = np.ones((frame % 2, 4, 17), np.float32)
    np.savez_compressed(tmp_path / "clip.mp4.npz", boxes=boxes, segments=np.array([None] * 3),
                        keypoints=keypoints, metadata=np.array({"w": 1920, "h": 1080}))
    with pytest.raises(UaoError, match="raw Detectron2 output .*prepare_data_2d_custom.py"):
        read_keypoints(tmp_path / "clip.mp4.npz")


def test_garbage_gets_a_warning_and_real_files_do_not(formats, tmp_path):
    for path in (formats / "openpose_body25b_pose2sim", formats / "alphapose_halpe26" / "alphapose-results.json",
                 formats / "mmpose_wholebody" / "SOUP.json"):
        assert not [n for n in read_keypoints(path)[0].notes if "vary" in n or "confidence is" in n], path
    rng = np.random.default_rng(1)
    garbage = np.concatenate([rng.uniform(100, 900, (50, 17, 2)), rng.uniform(0.1, 0.25, (50, 17, 1))], axis=-1)
    np.savez(tmp_path / "garbage.npz", keypoints=garbage.astype(np.float32), width=1000, height=1000)
    notes = read_keypoints(tmp_path / "garbage.npz")[0].notes
    assert any("mean keypoint confidence is 0.17" in n for n in notes)
    assert any("2D lengths vary" in n for n in notes)


def test_fps_sets_the_frame_times_of_every_output(capsys, small_checkpoint, formats, tmp_path):
    folder = tmp_path / "cam01"
    folder.mkdir()
    for file in sorted((formats / "openpose_body25b_pose2sim").glob("*.json"))[:12]:
        shutil.copy(file, folder / file.name)
    common = ("--width", 1088, "--height", 1920, "--backend", "torch", "--checkpoint", small_checkpoint,
              "--tto-iters", 1, "--no-progress", "--up", "0,-1,0")
    for suffix in (".bvh", ".csv", ".npz"):
        code, _, stderr = uao(capsys, "infer", folder, "--fps", 60, "-o", tmp_path / f"walk{suffix}", *common)
        assert code == 0, stderr
    assert "Frame Time: 0.01666667" in (tmp_path / "walk.bvh").read_text()
    rows = (tmp_path / "walk.csv").read_text().splitlines()
    last = rows[-1].split(",")
    assert float(last[1]) == pytest.approx(11 / 60, abs=1e-4)
    with np.load(tmp_path / "walk.npz") as result:
        assert json.loads(str(result["metadata"]))["fps"] == 60
    # The file's own rate (a plain npz's fps) is used without --fps, and --fps replaces it.
    assert read_keypoints(_plain(tmp_path, fps=50.0))[0].fps == 50.0
    assert read_keypoints(_plain(tmp_path, fps=50.0), fps=30.0)[0].fps == 30.0


def _plain(tmp_path, fps):
    rng = np.random.default_rng(2)
    keypoints = np.tile(rng.uniform(400, 600, (1, 17, 2)), (6, 1, 1)).astype(np.float32)
    np.savez(tmp_path / "plain.npz", keypoints=keypoints, width=1000, height=1000, fps=fps)
    return tmp_path / "plain.npz"


def test_never_seen_legs_stand_under_the_hips_and_are_marked_inferred(formats):
    """The signer of openpose_body25_slp is seen from the waist up: hips, knees and ankles are never
    detected. They are inferred (never put at the hip pixels): straight down from the trunk."""
    sequence, = read_keypoints(formats / "openpose_body25_slp")
    pixels, sources = fill_and_mark(sequence.pixels, sequence.confidence)
    lower = [J[name] for name in ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle")]
    assert (sources[:, lower] == INFERRED).all() and (sources[:, J["head"]] == DETECTED).all()
    thorax, pelvis = pixels[:, J["thorax"]], pixels[:, J["pelvis"]]
    trunk = pelvis - thorax
    assert (np.degrees(np.arctan2(np.abs(trunk[:, 0]), trunk[:, 1])) < 10).all()  # pelvis below the thorax
    for hip, knee, ankle in (("r_hip", "r_knee", "r_ankle"), ("l_hip", "l_knee", "l_ankle")):
        y = pixels[:, [J[hip], J[knee], J[ankle]], 1]
        assert (np.diff(y, axis=1) > 0.5 * np.abs(trunk[:, 1:2])).all()  # each a shin's length lower


def test_short_gaps_are_interpolated_long_ones_inferred_relative_to_the_body(formats):
    """On the real Pose2Sim subject: the right knee and ankle hidden for 3 frames are interpolated;
    for 60 frames, inferred in the body's frame, with shin lengths as steady as the seen ones."""
    sequence, = read_keypoints(formats / "openpose_body25b_pose2sim")
    pixels, confidence = sequence.pixels.copy(), sequence.confidence.copy()
    legs = [J["r_knee"], J["r_ankle"]]
    confidence[10:13, legs] = 0
    confidence[30:90, legs] = 0
    filled, sources = fill_and_mark(pixels, confidence)
    assert (sources[10:13, legs] == INTERPOLATED).all() and (sources[30:90, legs] == INFERRED).all()
    assert (sources[13:30, legs] == DETECTED).all() and INTERPOLATE_MAX_FRAMES < 60
    shin = np.linalg.norm(filled[:, J["r_knee"]] - filled[:, J["r_ankle"]], axis=-1)
    seen = np.linalg.norm(sequence.pixels[:, J["r_knee"]] - sequence.pixels[:, J["r_ankle"]], axis=-1)
    inferred_variation = shin[30:90].std() / shin[30:90].mean()
    assert inferred_variation < 1.5 * seen.std() / seen.mean() + 0.02
    # Inferred joints stay with the body as it moves: near the detected hip of each frame.
    thigh = np.linalg.norm(filled[30:90, J["r_knee"]] - filled[30:90, J["r_hip"]], axis=-1)
    assert thigh.max() < 2 * np.median(np.linalg.norm(sequence.pixels[:, J["r_knee"]] - sequence.pixels[:, J["r_hip"]],
                                                      axis=-1))


def test_world_up_comes_from_detected_joints():
    """A standing person whose legs were never seen and were lifted bent forward: the up direction
    follows the detected trunk, not the inferred legs."""
    from uao_deploy.pipeline.world import estimate_world_frame

    frames = 40
    pose = np.zeros((frames, 17, 3))
    pose[:, J["thorax"]] = [0, -0.5, 0]
    pose[:, J["head"]] = [0, -0.7, 0]
    for ankle, knee, side in ((J["r_ankle"], J["r_knee"], -0.1), (J["l_ankle"], J["l_knee"], 0.1)):
        pose[:, knee] = [side, 0.3, -0.3]  # legs folded towards the camera
        pose[:, ankle] = [side, 0.5, -0.6]
    root = np.tile([0.0, 0.0, 4.0], (frames, 1)) + np.linspace(0, 1, frames)[:, None] * [1, 0, 0]
    detected = np.ones((frames, 17), bool)
    detected[:, [0, 1, 2, 3, 4, 5, 6]] = False
    up = estimate_world_frame(pose, root, detected=detected).up
    assert np.degrees(np.arccos(-up[1])) < 3
    assert np.degrees(np.arccos(-estimate_world_frame(pose, root).up[1])) > 10  # every joint: tilted


def test_the_floor_under_feet_never_seen_is_a_standing_legs_length_under_the_pelvis():
    """Inferred legs are the network's guess, which may fold or scatter: the floor under feet never
    seen lies PELVIS_OVER_LEG of the lifted legs' length under the pelvis's median height, wherever the
    inferred ankles are; under detected feet it is the low tail of the lower ankle, as steps lift it."""
    from uao_deploy.pipeline.height import leg_lengths
    from uao_deploy.pipeline.world import ANKLE_HEIGHT, FLOOR_PERCENTILE, PELVIS_OVER_LEG, to_world

    frames = 60
    pose = np.tile(TEMPLATE_3D, (frames, 1, 1))
    pose[:, [J["r_ankle"], J["l_ankle"]], 1] += np.random.default_rng(4).normal(0, 0.05, (frames, 2))
    root = np.tile([0.0, 0.0, 4.0], (frames, 1)) + np.linspace(0, 1, frames)[:, None] * [1, 0, 0]
    up = [0, -1, 0]
    lowest = lambda world: world[:, [J["r_ankle"], J["l_ankle"]], 1].min(axis=1)  # noqa: E731
    detected = np.ones((frames, 17), bool)
    seen, _, _ = to_world(pose, root, up=up, detected=detected)
    assert np.percentile(lowest(seen), FLOOR_PERCENTILE) == pytest.approx(ANKLE_HEIGHT, abs=1e-4)
    detected[:, :7] = False
    pelvis_height = PELVIS_OVER_LEG * np.median(leg_lengths(pose))
    unseen, _, _ = to_world(pose, root, up=up, detected=detected)
    np.testing.assert_allclose(unseen[:, J["pelvis"], 1], pelvis_height, atol=1e-5)
    folded = pose.copy()  # knees forwards, ankles back under the knees: the same bones, kneeling
    folded[:, [J["r_knee"], J["l_knee"]]] = pose[:, [J["r_hip"], J["l_hip"]]] + [0, 0.3, -0.233]
    folded[:, [J["r_ankle"], J["l_ankle"]]] = folded[:, [J["r_knee"], J["l_knee"]]] + [0, 0.05, 0.451]
    kneeling, _, _ = to_world(folded, root, up=up, detected=detected)
    np.testing.assert_allclose(kneeling[:, J["pelvis"], 1], PELVIS_OVER_LEG * np.median(leg_lengths(folded)), atol=1e-5)
    assert (lowest(kneeling) > 0.3).all()  # the floor is not under the folded ankles


def test_every_output_says_where_each_joint_came_from(tmp_path):
    """joint_source: an npz array, a CSV column, a JSON field, a BVH side file, viewer markers."""
    from uao_deploy.io.results import joint_source_path, load_result, write_result
    from uao_deploy.io.results.html import viewer_figure
    from uao_deploy.pipeline.world import add_world_frame

    frames = 12
    rng = np.random.default_rng(3)
    pose = np.tile(TEMPLATE_3D, (frames, 1, 1)) + rng.normal(0, 0.005, (frames, 17, 3))
    pose -= pose[:, :1]
    root = np.tile([0.0, 0.0, 4.0], (frames, 1))
    sources = np.zeros((frames, 17), np.uint8)
    sources[:, [2, 3, 5, 6]] = INFERRED
    sources[4, 13] = INTERPOLATED
    arrays = {"poses_3d": pose.astype(np.float32), "poses_3d_initial": pose.astype(np.float32),
              "root": root.astype(np.float32), "uncertainty": np.full((frames, 17), 0.05, np.float32),
              "keypoints_2d": rng.uniform(100, 900, (frames, 17, 2)).astype(np.float32),
              "confidence": np.where(sources == 0, 0.9, 0).astype(np.float32), "joint_source": sources}
    arrays, metadata = add_world_frame(arrays, {"fps": 25.0, "camera": {"width": 1000, "height": 1000}})
    for suffix in (".npz", ".csv", ".json", ".bvh", ".html"):
        write_result(tmp_path / f"r{suffix}", arrays, metadata)
    np.testing.assert_array_equal(load_result(tmp_path / "r.npz")[0]["joint_source"], sources)
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows[4 * 17 + 13]["joint_source"] == "interpolated" and rows[2]["joint_source"] == "inferred"
    assert rows[0]["joint_source"] == "detected"
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["frames"][4]["joint_source"][13] == 1 and "2 inferred" in payload["fields"]["joint_source"]
    side = joint_source_path(tmp_path / "r.bvh").read_text().splitlines()
    assert side[0].startswith("frame,pelvis,r_hip,r_knee") and side[1].split(",")[3] == "inferred"
    markers = viewer_figure(arrays, metadata, 25.0).data[-1].marker.symbol  # the 3D joints of frame 0
    assert markers[3] == "x" and markers[0] == "circle"


# A standing pose in the camera frame (metres, y down), from the 2D template and a small depth.
TEMPLATE_3D = np.column_stack([TEMPLATE, np.zeros(17)])


def test_the_real_signer_stands_upright_with_legs_marked_inferred(capsys, formats, tmp_path):
    """Issue 23's target on openpose_body25_slp (a level camera, legs never detected), lifted with
    the default model: the trunk (pelvis to thorax, camera frame) within 15 degrees of the camera's
    vertical in at least 90 % of frames, the legs marked inferred, the CLI saying so, and the
    signer standing (head well above the floor), not lying on it."""
    code, stdout, stderr = uao(capsys, "infer", formats / "openpose_body25_slp", "--width", 1280, "--height", 720,
                               "--backend", "torch", "--no-progress", "-o", tmp_path / "signer.npz")
    assert code == 0, stderr
    assert "legs inferred in 100 % of frames" in stdout
    with np.load(tmp_path / "signer.npz") as result:
        pose, sources, world = result["poses_3d"], result["joint_source"], result["poses_world"]
    trunk = pose[:, J["thorax"]] - pose[:, J["pelvis"]]
    tilt = np.degrees(np.arccos(-trunk[:, 1] / np.linalg.norm(trunk, axis=-1)))
    assert (tilt <= 15).mean() >= 0.9, tilt
    legs = [J[name] for name in ("r_knee", "r_ankle", "l_knee", "l_ankle")]
    assert (sources[:, legs] == INFERRED).all() and (sources[:, J["head"]] == DETECTED).all()
    assert (world[:, J["head"], 1] > 1.5).all()  # metres above the floor: standing (1.53 with her legs folded)
    assert "the floor is a guess: the feet were not seen" in stdout


def test_the_real_webcam_person_stands_on_legs_never_seen(capsys, shared_dir, tmp_path):
    """The real2d webcam close-up (HRNet; hips, knees and ankles never seen): the lift folded the legs
    (kneeling, knees on the floor, head 1.2 m up although the bones give 1.73 m). Now they stand under
    the hips, the head is at a standing height, and the CLI says the floor is a guess."""
    code, stdout, stderr = uao(capsys, "infer", shared_dir / "data" / "real2d" / "posemamba_sample_video1.npz",
                               "--width", 1920, "--height", 1080, "--backend", "torch", "--no-progress",
                               "-o", tmp_path / "webcam.npz")
    assert code == 0, stderr
    assert "the floor is a guess: the feet were not seen" in stdout and "lifted folded, are drawn standing" in stdout
    with np.load(tmp_path / "webcam.npz") as result:
        world, metadata = result["poses_world"], json.loads(str(result["metadata"]))
    assert metadata["feet"]["floor_guess"].startswith("the floor is a guess")
    knees = world[:, [J["r_knee"], J["l_knee"]], 1]
    assert (knees > 0.35).all() and (world[:, J["head"], 1] > 1.5).all(), (knees.min(), world[:, J["head"], 1].min())


@pytest.mark.parametrize("model", ["lower-out", "legs-gaps"])
def test_truncated_val_clip_meets_the_issue_targets(shared_dir, model):
    """Issue 23's synthetic targets on val clip 10_04 (227 frames, 4 px video noise, focal length known,
    default model): with the lower body out of frame the whole clip, the trunk within 10 degrees
    (median), the floor within 10 cm and the upper body nearly as accurate as with the whole body
    seen (within 20 % on this clip; the target, 15 %, is over the val clips: benchmarks/truncation.py;
    41 % before the inferred joints settled); with the legs out for long spans, inferred shins
    steady (<= 5 %). (Not met on every clip: benchmarks/results/truncation.json.)"""
    from uao_deploy.data.cameras import cameras_of
    from uao_deploy.data.h36m import TEST_SUBJECTS
    from uao_deploy.data.mocap import load_mocap
    from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
    from uao_deploy.jobs.infer import open_engine
    from uao_deploy.jobs.video_eval import evaluate_videos

    motion = load_mocap(shared_dir / "data" / "cmu_h36m17" / "val.npz")
    camera = cameras_of(TEST_SUBJECTS)[0]
    clip, = video_clips({"10_04": motion["10_04"]}, [camera], VideoNoiseModel(sigma=4.0), seed=0)
    with open_engine("torch") as engine:
        def scores_of(occlusion):
            return evaluate_videos([clip], engine, occlusion=occlusion, methods=("sequence-uao",))["methods"][
                "sequence-uao"]

        scores = scores_of(model)
        if model == "lower-out":
            full = scores_of("full")
            assert scores["trunk_angle"] <= 10 and scores["floor_error_cm"] <= 10, scores
            assert scores["upper_mpjpe"] <= 1.2 * full["upper_mpjpe"], (scores, full)
        else:
            assert scores["inferred_shin_variation"] <= 5, scores


def test_batch_runs_say_what_the_readers_decided(capsys, small_checkpoint, formats, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(formats / "alphapose_halpe26" / "alphapose-results.json", inputs / "dance.json")
    # The untrained test checkpoint may fail the lift itself; the reader's notice comes before it.
    _, stdout, _ = uao(capsys, "infer", inputs, "-o", tmp_path / "out", "--width", 360, "--height", 640,
                       "--backend", "torch", "--checkpoint", small_checkpoint, "--tto-iters", 0)
    assert "Note: " in stdout and "person 1 left out: seen in 1 of 809 frames" in stdout


def test_the_nearest_training_bodies_find_the_legs_of_an_upper_body():
    """Training bodies seen from the waist up (their own pixels, turned, scaled and moved): the mean of
    the prior's bodies nearest their upper body puts their hidden hips and legs far nearer where they
    are than the upright template fitted on the same joints does."""
    from uao_deploy.pipeline.missing import _body_fits, _from_template, nearest_poses, training_poses

    rng = np.random.default_rng(0)
    poses = training_poses()[rng.choice(len(training_poses()), 40, replace=False)]
    placed = poses * 400 * np.exp(1j * rng.uniform(-0.3, 0.3, (40, 1))) + (640 + 360j)
    pixels = np.stack([placed.real, placed.imag], axis=-1)
    detected = np.ones((40, 17), bool)
    detected[:, :7] = False
    found = nearest_poses(pixels, detected, smooth_frames=1)  # 40 bodies, not 40 frames of one
    assert np.isfinite(found).all()
    lower = list(range(7))
    error = np.linalg.norm(found[:, lower] - pixels[:, lower], axis=-1).mean()
    fits = _body_fits(np.where(detected[..., None], pixels, 0), detected)
    template = np.stack([_from_template(np.repeat(TEMPLATE[None, joint], 40, axis=0), *fits) for joint in lower], axis=1)
    assert error < 0.5 * np.linalg.norm(template - pixels[:, lower], axis=-1).mean()
    few = detected.copy()
    few[5:, 7:15] = False  # two joints left: too few to compare, no start from the prior
    assert np.isnan(nearest_poses(pixels, few, smooth_frames=1)[5:]).all()
    assert np.isfinite(nearest_poses(pixels, few, smooth_frames=1)[:5]).all()


@pytest.mark.slow
def test_an_upper_body_lifts_nearer_the_truth_from_the_priors_start_than_from_the_template():
    """The shipped sample's walk (a test clip, a test camera) with pelvis, hips and legs hidden, lifted
    with the default model: the upper body comes out nearer its truth when the hidden joints start
    from the nearest training bodies than from the upright template."""
    from dataclasses import replace

    from uao_deploy.data.sample import SAMPLE_PATH
    from uao_deploy.jobs.infer import open_engine
    from uao_deploy.pipeline import camera_of, lift
    from uao_deploy.pipeline import missing

    sequence, = read_keypoints(SAMPLE_PATH)
    with np.load(SAMPLE_PATH) as sample:
        truth = sample["poses_3d_gt"]
    pixels, confidence = sequence.pixels.copy(), sequence.confidence.copy()
    pixels[:, :7], confidence[:, :7] = np.nan, 0
    hidden = replace(sequence, pixels=pixels, confidence=confidence)
    engine = open_engine("torch")

    def upper_error():
        poses = lift(hidden, engine, camera_of(hidden)).poses_3d
        return np.linalg.norm(poses[:, 7:] - truth[:, 7:], axis=-1).mean()

    from_prior = upper_error()
    saved = missing.PRIOR_MIN_JOINTS
    missing.PRIOR_MIN_JOINTS = 18  # no frame has that many joints: every start is the template's
    try:
        from_template = upper_error()
    finally:
        missing.PRIOR_MIN_JOINTS = saved
    assert from_prior < 0.97 * from_template, (from_prior, from_template)


def test_the_pose_prior_is_made_by_the_project_code(shared_dir):
    from uao_deploy.data.mocap import load_mocap
    from uao_deploy.jobs.pose_prior import make_pose_prior
    from uao_deploy.pipeline.missing import PRIOR_PATH

    made = make_pose_prior(load_mocap(shared_dir / "data" / "cmu_h36m17" / "train.npz").values())
    with np.load(PRIOR_PATH) as shipped:
        np.testing.assert_array_equal(shipped["poses_2d"], made)
    assert made.shape[1:] == (17, 2) and 5000 < len(made) < 20000
