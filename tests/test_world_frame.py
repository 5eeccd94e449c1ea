"""The upright world frame: up vector and floor from camera-frame poses, and the overrides."""
import numpy as np
import pytest

from uao_deploy import UaoError
from uao_deploy.data.cameras import h36m_cameras
from uao_deploy.data.mocap import load_mocap
from uao_deploy.pipeline.world import ANKLES, estimate_world_frame, to_world, up_from_pitch


@pytest.fixture(scope="module")
def walk(shared_dir):
    """A CMU walk (test split) seen by a Human3.6M camera: camera-frame poses, root and the truth."""
    clip = load_mocap(shared_dir / "data" / "cmu_h36m17" / "test.npz")["02_01"]
    camera = h36m_cameras()["S9"][1]
    joints = camera.world_to_camera(clip)
    return joints - joints[:, :1], joints[:, 0], camera, clip


def test_up_and_floor_found_on_a_mocap_walk(walk):
    poses, root, camera, clip = walk
    world, world_root, frame = to_world(poses, root)
    true_up = camera.rotation[2]  # world Z (up) in camera coordinates
    assert frame.up_method == "floor_plane"
    assert np.degrees(np.arccos(frame.up @ true_up)) < 1  # a straight walk on a level floor
    # Y up, floor at 0: the feet touch it (the ankle joint is a few centimetres above the sole).
    lowest = world[:, list(ANKLES), 1].min(axis=1)
    assert abs(np.percentile(lowest, 10) - np.percentile(clip[:, list(ANKLES), 2].min(axis=1), 10)) < 0.05
    # Distances and the root trajectory are kept in metres (a rigid transform), starting at the origin.
    np.testing.assert_allclose(np.linalg.norm(np.diff(world_root, axis=0), axis=1),
                               np.linalg.norm(np.diff(clip[:, 0], axis=0), axis=1), atol=1e-4)
    np.testing.assert_allclose(world_root[0, [0, 2]], 0, atol=1e-5)
    np.testing.assert_allclose(frame.rotation @ frame.rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(frame.rotation) == pytest.approx(1.0)
    assert frame.camera_height() == pytest.approx(camera.translation[2], abs=0.3)


def test_overrides(walk):
    poses, root, camera, _ = walk
    frame = estimate_world_frame(poses, root, up=camera.rotation[2] * 3)
    assert frame.up_method == "given"
    np.testing.assert_allclose(frame.up, camera.rotation[2], atol=1e-9)
    level = estimate_world_frame(poses, root, camera_pitch=0.0)
    np.testing.assert_allclose(level.up, [0, -1, 0], atol=1e-12)
    # A camera looking 30 degrees down sees the world's up tilted towards itself (negative z).
    np.testing.assert_allclose(up_from_pitch(30), [0, -np.cos(np.pi / 6), -0.5], atol=1e-12)
    with pytest.raises(UaoError, match="not both"):
        estimate_world_frame(poses, root, up=[0, -1, 0], camera_pitch=10)
    with pytest.raises(UaoError, match="three finite numbers"):
        estimate_world_frame(poses, root, up=[0, 0, 0])
    with pytest.raises(UaoError, match="between -90 and 90"):
        estimate_world_frame(poses, root, camera_pitch=95)
    with pytest.raises(UaoError, match="NaN"):
        estimate_world_frame(np.full_like(poses, np.nan), root)
