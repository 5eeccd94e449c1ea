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
    assert sorted(p.name for p in tmp_path.glob("people_*.csv")) == [
        "people_cam01_person0.csv", "people_cam01_person1.csv"]


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
