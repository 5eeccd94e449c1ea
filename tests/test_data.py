"""uao_deploy.data.h36m: VideoPose3D's Human3.6M files, pairs and training data (on tiny files in the exact format)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from uao_deploy import skeleton
from uao_deploy.camera import image_coordinates, project
from uao_deploy.cli import cli
from uao_deploy.data.cameras import TEST_SUBJECTS, TRAIN_SUBJECTS, h36m_cameras
from uao_deploy.data.h36m import H36MTrainingData, h36m_pairs, load_h36m_2d, load_h36m_3d
from uao_deploy.errors import UaoError
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

ACTIONS = {"Walking 1": 12, "Walking": 10, "Eating": 8}  # action -> 3D frame count
# Frames of each camera's 2D sequence relative to the 3D: longer and shorter videos both occur.
EXTRA_2D_FRAMES = (2, 0, -2, 1)
SYMMETRY = [list(skeleton.LEFT), list(skeleton.RIGHT)]


def to_32_joints(poses17: np.ndarray) -> np.ndarray:
    """Embed 17-joint poses in the 32-joint layout; the 15 unused joints hold far-away decoys."""
    poses = np.full(poses17.shape[:1] + (32, 3), 99.0, dtype=np.float32)
    poses[:, list(skeleton.H36M32_TO_17)] = poses17
    return poses


def ground_truth_pixels(world17: np.ndarray, camera) -> np.ndarray:
    """Project world poses through a calibrated camera into pixels (how data_2d_h36m_gt.npz was made)."""
    points = torch.from_numpy(camera.world_to_camera(world17))
    cam = torch.from_numpy(np.repeat(camera.intrinsics[None], len(points), axis=0))
    return image_coordinates(project(points, cam).numpy(), camera.width, camera.height)


def write_h36m(folder, person_motion, subjects=TRAIN_SUBJECTS + TEST_SUBJECTS):
    """data_3d_h36m.npz and data_2d_h36m_gt.npz for ``subjects``; returns (paths, world 17-joint poses)."""
    positions_3d, positions_2d, world = {}, {}, {}
    for s, subject in enumerate(subjects):
        positions_3d[subject], positions_2d[subject], world[subject] = {}, {}, {}
        for a, (action, frames) in enumerate(ACTIONS.items()):
            longest = frames + max(EXTRA_2D_FRAMES)
            poses = person_motion(longest, seed=10 * s + a)
            world[subject][action] = poses[:frames]
            positions_3d[subject][action] = to_32_joints(poses[:frames])
            positions_2d[subject][action] = [ground_truth_pixels(poses[:frames + extra], camera)
                                             for camera, extra in zip(h36m_cameras()[subject], EXTRA_2D_FRAMES)]
    path_3d, path_2d = folder / "data_3d_h36m.npz", folder / "data_2d_h36m_gt.npz"
    np.savez_compressed(path_3d, positions_3d=positions_3d)
    np.savez_compressed(path_2d, positions_2d=positions_2d,
                        metadata={"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": SYMMETRY})
    return (path_3d, path_2d), world


@pytest.fixture
def h36m_files(tmp_path, person_motion):
    return write_h36m(tmp_path, person_motion)


def test_3d_loader_reduces_32_to_17_joints(h36m_files):
    (path_3d, _), world = h36m_files
    poses = load_h36m_3d(path_3d)
    assert set(poses) == set(TRAIN_SUBJECTS + TEST_SUBJECTS)
    for subject in poses:
        assert set(poses[subject]) == set(ACTIONS)
        for action, expected in world[subject].items():
            assert poses[subject][action].shape == (ACTIONS[action], 17, 3)
            np.testing.assert_array_equal(poses[subject][action], expected)


def test_2d_loader_keeps_camera_lists(h36m_files):
    (_, path_2d), _ = h36m_files
    keypoints = load_h36m_2d(path_2d)
    views = keypoints["S9"]["Walking 1"]
    assert [len(v) for v in views] == [12 + extra for extra in EXTRA_2D_FRAMES]
    assert all(v.shape[1:] == (17, 2) and v.dtype == np.float32 for v in views)


def test_pairs_trim_frames_group_actions_and_match_the_cameras(h36m_files):
    (path_3d, path_2d), _ = h36m_files
    pairs = h36m_pairs(load_h36m_3d(path_3d), load_h36m_2d(path_2d), TEST_SUBJECTS)
    # Each camera keeps min(2D, 3D) frames; the takes "Walking 1" and "Walking" form one action.
    per_action = {action: sum(min(frames, frames + extra) for extra in EXTRA_2D_FRAMES) for action, frames in ACTIONS.items()}
    assert pairs["names"] == ["Walking", "Eating"]
    assert len(pairs["x"]) == len(TEST_SUBJECTS) * sum(per_action.values())
    counts = np.bincount(pairs["clip"])
    assert counts.tolist() == [len(TEST_SUBJECTS) * (per_action["Walking 1"] + per_action["Walking"]),
                               len(TEST_SUBJECTS) * per_action["Eating"]]
    assert np.all(pairs["target"][:, 0] == 0)
    # Normalized 2D must be the projection of the camera-frame 3D with that camera's intrinsics.
    placed = torch.from_numpy(pairs["target"] + pairs["root"][:, None])
    reprojected = project(placed, torch.from_numpy(pairs["cam"])).numpy()
    np.testing.assert_allclose(reprojected, pairs["x"], atol=2e-5)
    assert pairs["x"].dtype == np.float32 and pairs["clip"].dtype == np.int64


def test_pairs_stride_takes_every_nth_frame(h36m_files):
    (path_3d, path_2d), _ = h36m_files
    poses, keypoints = load_h36m_3d(path_3d), load_h36m_2d(path_2d)
    full = h36m_pairs(poses, keypoints, ["S9"])
    strided = h36m_pairs(poses, keypoints, ["S9"], stride=3)
    first_view = slice(0, 12)  # S9 "Walking 1", first camera
    np.testing.assert_array_equal(strided["x"][:4], full["x"][first_view][::3])


def test_training_data_covers_every_pair_once_per_epoch(h36m_files):
    (path_3d, path_2d), _ = h36m_files
    data = H36MTrainingData(path_3d, path_2d, stride=1, val_stride=2)
    batches = list(data.epoch(16, torch.Generator().manual_seed(0)))
    x = torch.cat([b[0] for b in batches])
    assert len(x) == len(data.x) == len(TRAIN_SUBJECTS) * sum(min(f, f + e) for f in ACTIONS.values() for e in EXTRA_2D_FRAMES)
    assert torch.equal(torch.sort(x.flatten())[0], torch.sort(data.x.flatten())[0])
    assert all(torch.all(target[:, 0] == 0) for _, target in batches)
    assert data.validation()["names"] == ["Walking", "Eating"]
    assert data.description["kind"] == "h36m"


def test_uao_train_accepts_h36m(h36m_files, tmp_path):
    (path_3d, path_2d), _ = h36m_files
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--h36m-3d", str(path_3d), "--h36m-2d", str(path_2d), "--out", str(out),
                                      "--channels", "16", "--layers", "1", "--epochs", "1", "--batch-size", "32"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "best.pth.json").read_text())["data"]["kind"] == "h36m"


def test_uao_eval_reports_per_action(h36m_files, tmp_path):
    (path_3d, path_2d), _ = h36m_files
    checkpoint = save_checkpoint(GUMLP(GUMLPConfig(channels=16, layers=1)), tmp_path / "tiny.pth")
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint), "--h36m-3d", str(path_3d),
                                      "--h36m-2d", str(path_2d), "--tto-iters", "1", "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["group_kind"] == "action" and report["groups"] == ["Walking", "Eating"]
    assert report["data"]["subjects"] == list(TEST_SUBJECTS) and set(report["methods"]) == {"plain", "tto"}
    assert result.stderr.splitlines()[-1].split()[0] == "mean"


def test_uao_train_wants_exactly_one_source(h36m_files, tmp_path):
    (path_3d, path_2d), _ = h36m_files
    neither = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "a")])
    half = CliRunner().invoke(cli, ["train", "--h36m-3d", str(path_3d), "--out", str(tmp_path / "b")])
    mocap_options = CliRunner().invoke(cli, ["train", "--h36m-3d", str(path_3d), "--h36m-2d", str(path_2d),
                                             "--noise", "1", "2", "--views", "2", "--out", str(tmp_path / "c")])
    assert neither.exit_code == half.exit_code == mocap_options.exit_code == 2
    assert "--h36m-3d and --h36m-2d" in neither.output
    assert "--views, --noise: mocap-only" in mocap_options.output
    assert not (tmp_path / "c").exists()


# --- refusals ----------------------------------------------------------------------------------
def test_refuses_files_that_are_not_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    array = tmp_path / "array.npy"
    np.save(array, np.zeros(3))
    for path in (text, array, tmp_path / "missing.npz"):
        with pytest.raises(UaoError, match="npz|does not exist"):
            load_h36m_3d(path)


def test_refuses_files_without_the_key(tmp_path, h36m_files):
    (path_3d, path_2d), _ = h36m_files
    with pytest.raises(UaoError, match="no 'positions_2d' entry"):
        load_h36m_2d(path_3d)
    with pytest.raises(UaoError, match="no 'positions_3d' entry"):
        load_h36m_3d(path_2d)
    plain = tmp_path / "plain.npz"
    np.savez(plain, positions_3d=np.zeros((4, 32, 3)))
    with pytest.raises(UaoError, match="pickled dict"):
        load_h36m_3d(plain)


def test_refuses_wrong_joint_counts(tmp_path):
    path_3d = tmp_path / "3d.npz"
    np.savez(path_3d, positions_3d={"S9": {"Walking": np.zeros((5, 17, 3))}})
    with pytest.raises(UaoError, match=r"S9/Walking has shape \(5, 17, 3\); expected \(T, 32, 3\)"):
        load_h36m_3d(path_3d)
    path_2d = tmp_path / "2d.npz"
    np.savez(path_2d, positions_2d={"S9": {"Walking": [np.zeros((5, 16, 2))] * 4}})
    with pytest.raises(UaoError, match="camera 0 has shape"):
        load_h36m_2d(path_2d)
    np.savez(path_2d, positions_2d={"S9": {"Walking": [np.zeros((5, 17, 2))] * 4}},
             metadata={"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1, 3, 5], [2, 4, 6]]})
    with pytest.raises(UaoError, match="not Human3.6M's joint order"):
        load_h36m_2d(path_2d)


def test_refuses_non_finite_values(tmp_path):
    path_3d = tmp_path / "3d.npz"
    poses = np.zeros((5, 32, 3))
    poses[2, 3, 1] = np.nan
    np.savez(path_3d, positions_3d={"S9": {"Walking": poses}})
    with pytest.raises(UaoError, match="NaN"):
        load_h36m_3d(path_3d)


def test_pairs_refuse_missing_subjects_actions_and_cameras(h36m_files):
    (path_3d, path_2d), _ = h36m_files
    poses, keypoints = load_h36m_3d(path_3d), load_h36m_2d(path_2d)
    with pytest.raises(UaoError, match="S2 is not a Human3.6M subject"):
        h36m_pairs(poses, keypoints, ["S2"])
    del keypoints["S11"]["Eating"]
    with pytest.raises(UaoError, match="'Eating' of S11 is missing from the 2D file"):
        h36m_pairs(poses, keypoints, ["S11"])
    keypoints["S9"]["Walking"] = keypoints["S9"]["Walking"][:3]
    with pytest.raises(UaoError, match="3 cameras"):
        h36m_pairs(poses, keypoints, ["S9"])
    del keypoints["S9"]
    with pytest.raises(UaoError, match="S9 is missing from the 2D file"):
        h36m_pairs(poses, keypoints, ["S9"])
