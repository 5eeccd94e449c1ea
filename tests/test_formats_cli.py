"""`uao infer` on real detector outputs into every result format, `uao view`, and bad inputs."""
import json
import shutil

import numpy as np
import pytest

from cli_runner import uao

FRAMES = 12


@pytest.fixture()
def openpose_folder(formats, tmp_path):
    """The first frames of the real Pose2Sim OpenPose BODY_25B output (a subject and false positives)."""
    source = formats / "openpose_body25b_pose2sim"
    folder = tmp_path / "cam01"
    folder.mkdir()
    for file in sorted(source.iterdir())[:FRAMES]:
        shutil.copy(file, folder / file.name)
    return folder


def _infer(capsys, checkpoint, *args):
    return uao(capsys, "infer", *args, "--width", 1088, "--height", 1920, "--backend", "torch",
               "--checkpoint", checkpoint, "--tto-iters", 1, "--no-progress")


def test_infer_openpose_folder_to_each_format(capsys, small_checkpoint, openpose_folder, tmp_path):
    out = tmp_path / "out"
    for suffix in (".npz", ".bvh", ".csv", ".json"):
        code, stdout, stderr = _infer(capsys, small_checkpoint, openpose_folder, "--person", 0,
                                      "-o", out / f"subject{suffix}")
        assert code == 0, stderr
    with np.load(out / "subject.npz") as result:
        assert result["poses_world"].shape == (FRAMES, 17, 3) and result["root_world"].shape == (FRAMES, 3)
        metadata = json.loads(str(result["metadata"]))
    assert metadata["layout"] == "body25b" and metadata["format"] == "openpose"
    assert metadata["world_frame"]["up_method"] in ("body_axis", "floor_plane")
    assert (out / "subject.bvh").read_text().startswith("HIERARCHY\nROOT Hips")
    assert json.loads((out / "subject.json").read_text())["frame_count"] == FRAMES
    code, stdout, stderr = uao(capsys, "view", out / "subject.npz", "-o", out / "levelled.json", "--camera-pitch", 0)
    assert code == 0, stderr
    assert json.loads((out / "levelled.json").read_text())["world_frame"]["up_method"] == "camera_pitch"
    # A result written before the world frame existed gets it in `uao view`.
    with np.load(out / "subject.npz") as result:
        np.savez(out / "old.npz", **{key: result[key] for key in result.files if "world" not in key})
    code, stdout, stderr = uao(capsys, "view", out / "old.npz", "-o", out / "old.csv")
    assert code == 0, stderr
    assert (out / "old.csv").read_text().startswith("frame,time_s,joint,world_x_m")


def test_infer_every_person_gets_an_output(capsys, small_checkpoint, openpose_folder, tmp_path):
    code, stdout, stderr = _infer(capsys, small_checkpoint, openpose_folder, "--person", "all", "--up", "0,-1,0",
                                  "-o", tmp_path / "people.csv")
    assert code == 0, stderr
    # The main subject at exactly -o, the bystander beside it; a summary line for each.
    assert sorted(p.name for p in tmp_path.glob("people*.csv")) == ["people.csv", "people_person1.csv"]
    assert f"#person0 (main subject): {FRAMES} of {FRAMES} frames, mean box height" in stdout
    assert f"#person1: {FRAMES} of {FRAMES} frames" in stdout


def test_infer_lifts_the_main_subject_to_exactly_the_output(capsys, small_checkpoint, shared_dir, tmp_path):
    """The default: one output, at -o itself; a one-frame false positive is left out with a notice."""
    openpose_folder = tmp_path / "cam01"
    openpose_folder.mkdir()
    for file in sorted((shared_dir / "data" / "formats" / "openpose_body25b_pose2sim").glob("*.json"))[:40]:
        shutil.copy(file, openpose_folder / file.name)
    payload = json.loads((openpose_folder / "cam01.0003.json").read_text())
    ghost = np.reshape(payload["people"][0]["pose_keypoints_2d"], (25, 3)).copy()
    ghost[:, 0] += 400  # beside the subject, in one frame
    payload["people"].append({"person_id": [-1], "pose_keypoints_2d": ghost.ravel().tolist()})
    (openpose_folder / "cam01.0003.json").write_text(json.dumps(payload))
    code, stdout, stderr = _infer(capsys, small_checkpoint, openpose_folder, "--up", "0,-1,0",
                                  "-o", tmp_path / "b25b.npz")
    assert code == 0, stderr
    assert [p.name for p in tmp_path.iterdir() if p != openpose_folder] == ["b25b.npz"]
    assert "person 2 left out: seen in 1 of 40 frames" in stdout
    with np.load(tmp_path / "b25b.npz") as result:
        assert json.loads(str(result["metadata"]))["source"].endswith("#person0")


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not valid JSON"),
    ("count", "different keypoint counts"),
])
def test_bad_detector_files_leave_nothing(capsys, small_checkpoint, openpose_folder, tmp_path, damage, message):
    last = sorted(openpose_folder.iterdir())[-1]
    if damage == "truncate":
        last.write_text(last.read_text()[:200])
    else:
        payload = json.loads(last.read_text())
        payload["people"][0]["pose_keypoints_2d"] = payload["people"][0]["pose_keypoints_2d"][:-3]
        last.write_text(json.dumps(payload))
    out = tmp_path / "out"
    code, stdout, stderr = _infer(capsys, small_checkpoint, openpose_folder, "-o", out / "x.bvh")
    assert code == 1 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_options_checked_before_work(capsys, small_checkpoint, openpose_folder, tmp_path):
    code, _, stderr = _infer(capsys, small_checkpoint, openpose_folder, "-o", tmp_path / "x.fbx")
    assert code == 1 and "suffix picks the format" in stderr
    code, _, stderr = _infer(capsys, small_checkpoint, openpose_folder, "-o", tmp_path / "x.npz", "--up", "0,1")
    assert code == 2 and "three numbers" in stderr
    code, _, stderr = _infer(capsys, small_checkpoint, openpose_folder, "-o", tmp_path / "x.npz", "--person", "9")
    assert code == 1 and "no person 9" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam01"]
