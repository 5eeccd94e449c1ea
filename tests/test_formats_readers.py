"""Detector outputs in: the layout table on real files, each reader, people and tracks, bad files."""
import json
import shutil

import numpy as np
import pytest

from uao_deploy import UaoError
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.io import layouts
from uao_deploy.io.keypoints import people
from uao_deploy.io.keypoints.common import Person, merge_split_people
from uao_deploy.skeleton import JOINT_NAMES

J = {name: index for index, name in enumerate(JOINT_NAMES)}
# Top to bottom for a person standing upright in an image (y grows downwards).
UPRIGHT_CHAIN = ("head", "thorax", "pelvis", "r_knee", "r_ankle")


def _upright_fraction(pixels):
    """Fraction of fully detected frames whose head, thorax, pelvis, knee and ankle go downwards."""
    y = pixels[:, [J[name] for name in UPRIGHT_CHAIN], 1]
    y = y[np.isfinite(y).all(axis=1)]
    return (np.diff(y, axis=1) > 0).all(axis=1).mean()


def _arm_ratio(pixels):
    """Median left/right upper-arm length: about 1 when left and right joints are mapped right."""
    left = np.linalg.norm(pixels[:, J["l_shoulder"]] - pixels[:, J["l_elbow"]], axis=-1)
    right = np.linalg.norm(pixels[:, J["r_shoulder"]] - pixels[:, J["r_elbow"]], axis=-1)
    return np.nanmedian(left / right)


def test_layout_table_is_consistent():
    for layout in layouts.LAYOUTS.values():
        assert len(set(layout.joints)) == len(layout), layout.name
        assert set(layouts.COCO_JOINT_NAMES) <= set(layout.joints) or layout.name == "h36m"
    assert layouts.layouts_with(25) == ["body25", "body25b"]
    assert [len(layouts.LAYOUTS[n]) for n in ("coco18", "halpe26", "wholebody133", "mediapipe33")] == [18, 26, 133, 33]


def test_openpose_body25b_real_folder(formats):
    sequences = read_keypoints(formats / "openpose_body25b_pose2sim", person="all")
    assert all(s.layout == "body25b" for s in sequences)  # told apart from BODY_25 by content
    subject = sequences[0]
    assert subject.name == "openpose_body25b_pose2sim_person0" and len(subject) == 100
    assert _upright_fraction(subject.pixels) > 0.95
    assert 0.7 < _arm_ratio(subject.pixels) < 1.4
    # BODY_25B's head top is Human3.6M's head: it is the detected joint 18, not a synthesized one.
    raw = json.loads((formats / "openpose_body25b_pose2sim" / "cam01.0000.json").read_text())
    head_top = np.reshape(raw["people"][0]["pose_keypoints_2d"], (25, 3))[18, :2]
    np.testing.assert_allclose(subject.pixels[0, J["head"]], head_top, rtol=1e-6)
    # The same files read as BODY_25 give a skeleton that is not upright: the joint order matters.
    wrong = read_keypoints(formats / "openpose_body25b_pose2sim", layout="body25", person="0")[0]
    assert _upright_fraction(wrong.pixels) < 0.5


def test_openpose_body25_real_folder(formats):
    sequence, = read_keypoints(formats / "openpose_body25_slp")
    assert sequence.layout == "body25" and len(sequence) == 9
    # A signer seen from the waist up: the upper body is detected, ordered and symmetric.
    y = sequence.pixels[:, [J["head"], J["neck_nose"], J["thorax"]], 1]
    assert (np.diff(y, axis=1) > 0).all()
    assert 0.7 < _arm_ratio(sequence.pixels) < 1.4
    # Its hips were not found (confidence 0), so the lower body is missing, not made up.
    assert np.isnan(sequence.pixels[:, J["pelvis"]]).all() and (sequence.confidence[:, J["r_knee"]] == 0).all()


def test_alphapose_halpe26_real_file_links_untracked_people(formats):
    path = formats / "alphapose_halpe26" / "alphapose-results.json"
    # The one-frame second detection is a false positive: left out with a notice, even with --person all.
    for person in ("main", "all"):
        main, = read_keypoints(path, person=person)
        assert main.layout == "halpe26" and main.name == "alphapose-results" and main.person == 0
        assert (main.confidence > 0).any(axis=1).sum() == 809  # one track through every frame
        assert main.notes and "person 1 left out: seen in 1 of 809 frames" in main.notes[0]
    assert _upright_fraction(main.pixels) > 0.9
    assert 0.7 < _arm_ratio(main.pixels) < 1.4
    only, = read_keypoints(path, person="1")  # asked for by id, it is read
    assert only.person == 1 and (only.confidence > 0).any(axis=1).sum() == 1
    with pytest.raises(UaoError, match="no person 7; its people are 0, 1"):
        read_keypoints(formats / "alphapose_halpe26" / "alphapose-results.json", person="7")


def test_mmpose_wholebody_real_file(formats):
    sequence, = read_keypoints(formats / "mmpose_wholebody" / "SOUP.json")
    assert sequence.layout == "wholebody133" and len(sequence) == 41
    payload = json.loads((formats / "mmpose_wholebody" / "SOUP.json").read_text())
    first = payload[0]["instances"][0]
    coco = np.asarray(first["keypoints"], np.float32)[None, :17]
    expected, _ = layouts.coco_to_h36m(coco, np.asarray(first["keypoint_scores"], np.float32)[None, :17])
    np.testing.assert_allclose(sequence.pixels[:1], expected, rtol=1e-6)
    assert 0.7 < _arm_ratio(sequence.pixels) < 1.4


def test_mediapipe_world_landmarks_refused_but_the_layout_maps_them(formats):
    path = formats / "mediapipe_world" / "landmarks.csv"
    with pytest.raises(UaoError, match="world landmarks"):
        read_keypoints(path)
    # The MediaPipe-33 -> Human3.6M mapping on the same real landmarks, seen from the front (x, y).
    names = layouts.LAYOUTS["mediapipe33"].joints
    rows = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=None, encoding="utf-8")
    frames = max(int(r[0]) for r in rows) + 1
    xy = np.zeros((frames, 33, 2), np.float32)
    for frame, landmark, x, y, _ in rows:
        name = landmark.lower().replace("left_", "l_").replace("right_", "r_")
        xy[int(frame), names.index(name)] = (x, y)
    h36m, _ = layouts.to_h36m(xy, np.ones((frames, 33)), "mediapipe33")
    assert _upright_fraction(h36m) > 0.9 and 0.7 < _arm_ratio(h36m) < 1.4


def _alphapose_coco(formats, frames=40):
    """The real AlphaPose track's first frames as COCO-17 pixels (T, 17, 3) in a 360x640 image."""
    payload = json.loads((formats / "alphapose_halpe26" / "alphapose-results.json").read_text())
    by_image = {}
    for entry in payload:
        by_image.setdefault(entry["image_id"], np.reshape(entry["keypoints"], (26, 3))[:17])
    return np.stack([by_image[f"{i}.jpg"] for i in range(frames)])


def test_yolo_txt_folder_with_gaps_and_tracks(formats, tmp_path):
    coco = _alphapose_coco(formats)
    width, height = 360, 640
    folder = tmp_path / "labels"
    folder.mkdir()
    for frame, person in enumerate(coco):
        if frame in (5, 6):
            continue  # Ultralytics writes no file for a frame with nobody in it
        xy = person[:, :2] / [width, height]
        values = [0, 0.5, 0.5, 0.2, 0.6, *np.column_stack([xy, person[:, 2]]).ravel(), 0.9, 3]  # conf, track 3
        (folder / f"clip_{frame + 1}.txt").write_text(" ".join(f"{v:.6f}" for v in values) + "\n")
    with pytest.raises(UaoError, match="--width and --height"):
        read_keypoints(folder)
    sequence, = read_keypoints(folder, width=width, height=height)
    assert sequence.format == "yolo" and sequence.layout == "coco" and len(sequence) == 40
    assert (sequence.confidence[[5, 6]] == 0).all() and np.isnan(sequence.pixels[[5, 6]]).all()
    expected, _ = layouts.coco_to_h36m(coco[:, :, :2], coco[:, :, 2])
    keep = [f for f in range(40) if f not in (5, 6)]
    np.testing.assert_allclose(sequence.pixels[keep], expected[keep], atol=1e-3)
    assert read_keypoints(folder, width=width, height=height, person="3")[0].name == "labels"


def test_mediapipe_image_landmarks_csv(tmp_path):
    rng = np.random.default_rng(0)
    names = [n.upper().replace("L_", "LEFT_", 1) if n.startswith("l_") else
             n.upper().replace("R_", "RIGHT_", 1) if n.startswith("r_") else n.upper()
             for n in layouts.LAYOUTS["mediapipe33"].joints]
    xy = rng.uniform(0.2, 0.8, (3, 33, 2))
    lines = ["frame_number,landmark,x,y,z,visibility"]
    lines += [f"{f},{names[j]},{xy[f, j, 0]},{xy[f, j, 1]},0.1,0.9" for f in range(3) for j in range(33)]
    (tmp_path / "pose.csv").write_text("\n".join(lines) + "\n")
    sequence, = read_keypoints(tmp_path / "pose.csv", width=640, height=480)
    expected, _ = layouts.to_h36m(xy * [640, 480], np.full((3, 33), 0.9), "mediapipe33")
    np.testing.assert_allclose(sequence.pixels, expected, rtol=1e-5)


def _openpose_frame(path, people):
    path.write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": list(map(float, p))} for p in people]}))


def test_bad_detector_files_are_one_clear_error(formats, tmp_path):
    real = (formats / "alphapose_halpe26" / "alphapose-results.json").read_text()
    (tmp_path / "truncated.json").write_text(real[: len(real) // 2])
    with pytest.raises(UaoError, match="not valid JSON"):
        read_keypoints(tmp_path / "truncated.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UaoError, match="empty folder"):
        read_keypoints(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    shutil.copytree(formats / "openpose_body25_slp", mixed)
    _openpose_frame(mixed / "video_000000000009_keypoints.json", [np.ones(18 * 3)])
    with pytest.raises(UaoError, match="different keypoint counts"):
        read_keypoints(mixed)
    shutil.copy(formats / "openpose_body25b_pose2sim" / "cam01.0000.json", mixed / "cam02.0000.json")
    with pytest.raises(UaoError, match="mixes the frames of several videos"):
        read_keypoints(mixed)
    (tmp_path / "odd").mkdir()
    _openpose_frame(tmp_path / "odd" / "v_0_keypoints.json", [np.ones(20 * 3)])
    with pytest.raises(UaoError, match="20 keypoints per person fit no single known layout"):
        read_keypoints(tmp_path / "odd")
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    for frame in range(3):
        _openpose_frame(nobody / f"v_{frame}_keypoints.json", [] if frame else [np.zeros(25 * 3)])
    with pytest.raises(UaoError, match="no person detected in any of its 3 frames"):
        read_keypoints(nobody, layout="body25")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(UaoError, match="not a keypoint file"):
        read_keypoints(tmp_path / "notes.txt")
    with pytest.raises(UaoError, match="has 17 joints"):
        read_keypoints(formats / "mmpose_wholebody" / "SOUP.json", layout="coco")


def test_keypoints_far_outside_the_image_are_refused(formats, tmp_path):
    # The real MMPose file's own image is 320x240; some legs fall a little outside, which is fine.
    read_keypoints(formats / "mmpose_wholebody" / "SOUP.json", width=320, height=240)
    with pytest.raises(UaoError, match="outside the 160x120 image"):
        read_keypoints(formats / "mmpose_wholebody" / "SOUP.json", width=160, height=120)
    # A folder whose later frames come from a video of twice the resolution.
    mixed = tmp_path / "mixed"
    shutil.copytree(formats / "openpose_body25b_pose2sim", mixed)
    for file in sorted(mixed.iterdir())[50:]:
        payload = json.loads(file.read_text())
        for person in payload["people"]:
            person["pose_keypoints_2d"] = [v * 2 if i % 3 != 2 else v for i, v in enumerate(person["pose_keypoints_2d"])]
        file.write_text(json.dumps(payload))
    read_keypoints(formats / "openpose_body25b_pose2sim", width=1088, height=1920)
    with pytest.raises(UaoError, match="different resolutions"):
        read_keypoints(mixed, width=1088, height=1920)


def test_missing_path_and_forced_format(formats, tmp_path):
    with pytest.raises(UaoError, match="does not exist"):
        read_keypoints(tmp_path / "absent.json", format="openpose")
    with pytest.raises(UaoError, match="not an OpenPose keypoint file"):
        read_keypoints(formats / "mmpose_wholebody" / "SOUP.json", format="openpose")
    with pytest.raises(UaoError, match="unknown keypoint format"):
        read_keypoints(tmp_path, format="fbx")


def test_tracked_alphapose_and_mmpose_keep_the_detector_ids(formats, tmp_path):
    payload = json.loads((formats / "alphapose_halpe26" / "alphapose-results.json").read_text())[:30]
    for number, entry in enumerate(payload):
        entry["idx"] = 7 if number % 2 else 4  # PoseFlow ids, alternating: not what position linking would do
    (tmp_path / "tracked.json").write_text(json.dumps(payload))
    names = [s.name for s in read_keypoints(tmp_path / "tracked.json", person="all")]
    assert sorted(names) == ["tracked_person4", "tracked_person7"]

    frames = json.loads((formats / "mmpose_wholebody" / "SOUP.json").read_text())[:5]
    for frame in frames:
        frame["instances"][0]["track_id"] = 3
    (tmp_path / "video.json").write_text(json.dumps(frames))
    sequence, = read_keypoints(tmp_path / "video.json", person="3")
    assert len(sequence) == 5
    (tmp_path / "image.json").write_text(json.dumps(frames[0]["instances"]))  # one image: a list of instances
    image, = read_keypoints(tmp_path / "image.json")
    np.testing.assert_array_equal(image.pixels[0], sequence.pixels[0])
    demo = {"meta_info": {"dataset_name": "coco_wholebody"}, "instance_info": frames}  # demo --save-predictions
    (tmp_path / "demo.json").write_text(json.dumps(demo))
    np.testing.assert_array_equal(read_keypoints(tmp_path / "demo.json")[0].pixels, sequence.pixels)
    for frame in frames:  # MMPose 0.x: the score as each keypoint's third number
        for instance in frame["instances"]:
            scores = instance.pop("keypoint_scores")
            instance["keypoints"] = [[x, y, c] for (x, y), c in zip(instance["keypoints"], scores)]
    (tmp_path / "old.json").write_text(json.dumps(frames))
    old, = read_keypoints(tmp_path / "old.json")
    np.testing.assert_array_equal(old.pixels, sequence.pixels)
    np.testing.assert_array_equal(old.confidence, sequence.confidence)


def test_openpose_before_1_3_pose_keypoints(formats, tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    for file in sorted((formats / "openpose_body25b_pose2sim").iterdir())[:5]:
        payload = json.loads(file.read_text())
        for person in payload["people"]:
            person["pose_keypoints"] = person.pop("pose_keypoints_2d")
        (folder / file.name).write_text(json.dumps(payload))
    old = read_keypoints(folder, person="0")[0]
    new = read_keypoints(formats / "openpose_body25b_pose2sim", person="0")[0]
    np.testing.assert_array_equal(old.pixels, new.pixels[:5])


def test_person_picks_from_a_multi_person_npz(tmp_path):
    tracks = np.random.default_rng(0).uniform(100, 900, (2, 4, 17, 3)).astype(np.float32)
    np.savez(tmp_path / "two.npz", reconstruction=tracks)
    second, = read_keypoints(tmp_path / "two.npz", person="1")
    np.testing.assert_array_equal(second.pixels, tracks[1, ..., :2])
    with pytest.raises(UaoError, match="no person 2; its people are 0, 1"):
        read_keypoints(tmp_path / "two.npz", person="2")
    tracks[0, ..., 1] *= 0.1  # person 0 much smaller: person 1 is the main subject, first
    np.savez(tmp_path / "two.npz", reconstruction=tracks)
    assert [s.person for s in read_keypoints(tmp_path / "two.npz", person="all")] == [1, 0]
    main, = read_keypoints(tmp_path / "two.npz")
    assert main.person == 1 and main.name == "two"


def test_main_subject_and_false_positives_of_the_real_pose2sim_folder(formats):
    """A subject, a bystander at the image's edge through every frame, and OpenPose splitting the
    subject into an upper- and a lower-body detection at frame 37: the split is merged, so no
    one-frame third person exists, and the main subject is the larger of the two long tracks."""
    folder = formats / "openpose_body25b_pose2sim"
    subject, = read_keypoints(folder)
    assert subject.name == "openpose_body25b_pose2sim" and subject.person == 0 and not subject.notes
    everyone = read_keypoints(folder, person="all")
    assert [s.person for s in everyone] == [0, 1]
    assert people.box_heights(everyone[0]).mean() > 1.5 * people.box_heights(everyone[1]).mean()
    # Frame 37 holds every joint of the subject, the lower body from the second detection.
    assert (subject.confidence[37] > 0).all()
    np.testing.assert_allclose(subject.pixels[37, J["r_ankle"]], subject.pixels[36, J["r_ankle"]], atol=15)
    np.testing.assert_allclose(subject.pixels[37, J["head"]], subject.pixels[36, J["head"]], atol=15)
    assert "100 of 100 frames, mean box height" in people.describe(subject)


def test_split_detections_merge_only_when_they_complement_each_other(formats):
    raw = json.loads((formats / "openpose_body25b_pose2sim" / "cam01.0036.json").read_text())
    whole = np.reshape(raw["people"][0]["pose_keypoints_2d"], (25, 3))
    upper, lower = whole.copy(), whole.copy()
    upper[9:17, 2] = 0
    upper[19:, 2] = 0
    lower[:9, 2] = 0
    lower[17:19, 2] = 0
    merged = merge_split_people([Person(0, upper), Person(0, lower)])
    assert len(merged) == 1 and (merged[0].keypoints[:, 2] > 0).sum() == (whole[:, 2] >= layouts.GUESS_CONFIDENCE).sum()
    # Two whole people side by side are two people.
    beside = whole.copy()
    beside[:, 0] += 600
    assert len(merge_split_people([Person(0, whole), Person(0, beside)])) == 2
    # An upper body far from a lower body are two people too.
    far = lower.copy()
    far[:, 0] += 900
    assert len(merge_split_people([Person(0, upper), Person(0, far)])) == 2
