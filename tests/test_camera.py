"""Geometry: normalization, the H36M calibration shipped in the package, projection, root recovery."""
import numpy as np
import pytest
import torch

from uao_deploy.camera import (default_intrinsics, estimate_root, image_coordinates, normalize_screen_coordinates,
                               project)
from uao_deploy.data.cameras import h36m_cameras
from uao_deploy.tto.objective import place_in_camera


def test_normalization_round_trip_and_convention():
    pixels = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    normalized = normalize_screen_coordinates(pixels, 1000, 1002)
    np.testing.assert_allclose(normalized[0], [-1.0, -1.002], atol=1e-6)
    np.testing.assert_allclose(normalized[2], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(image_coordinates(normalized, 1000, 1002), pixels, atol=1e-3)


def test_shipped_calibration_matches_the_golden_intrinsics(golden):
    shipped = [camera.intrinsics for camera in h36m_cameras()["S9"]]
    # Every golden row uses one of the four Human3.6M intrinsic sets.
    for row in golden["cam"][:8]:
        assert min(np.abs(row - cam).max() for cam in shipped) < 1e-6


def test_projection_reproduces_the_seed_input(golden):
    placed = place_in_camera(torch.from_numpy(golden["gt3d"][:, 0]), torch.from_numpy(golden["root"]).reshape(-1, 3))
    projected = project(placed, torch.from_numpy(golden["cam"]))
    np.testing.assert_allclose(projected.numpy(), golden["x"][:, 0], atol=1e-6)


def _synthetic_scene(batch=32, seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=0.3, size=(batch, 17, 3)).astype(np.float32)
    pose[:, 0] = 0
    root = np.stack([rng.uniform(-1, 1, batch), rng.uniform(-0.5, 0.5, batch), rng.uniform(3, 7, batch)], axis=1)
    cam = np.repeat(default_intrinsics(1280, 720, focal=1100)[None], batch, axis=0)
    keypoints = project(place_in_camera(torch.from_numpy(pose), torch.from_numpy(root).float()), torch.from_numpy(cam)).numpy()
    return pose, root, cam, keypoints


def test_root_is_recovered_from_exact_projections():
    pose, root, cam, keypoints = _synthetic_scene()
    estimate = estimate_root(pose, keypoints, cam)
    assert np.abs(estimate - root).max() < 1e-3  # metres: under 1 mm


def test_root_estimate_degrades_gracefully_with_noise():
    pose, root, cam, keypoints = _synthetic_scene(batch=256)
    errors = []
    for sigma_px in (1.0, 3.0, 6.0):
        noisy = keypoints + np.random.default_rng(1).normal(scale=sigma_px / 1280 * 2, size=keypoints.shape)
        errors.append(np.linalg.norm(estimate_root(pose, noisy, cam) - root, axis=1).mean())
    assert errors[0] < errors[1] < errors[2] < 0.5
    assert errors[0] < 0.05


def test_confidence_weights_discount_a_bad_joint():
    pose, root, cam, keypoints = _synthetic_scene(batch=16)
    corrupted = keypoints.copy()
    corrupted[:, 3] += 0.3  # a grossly wrong ankle
    weights = np.ones(keypoints.shape[:2])
    weights[:, 3] = 0.0
    unweighted = np.abs(estimate_root(pose, corrupted, cam) - root).max()
    weighted = np.abs(estimate_root(pose, corrupted, cam, weights) - root).max()
    assert weighted < 1e-3 < unweighted


@pytest.mark.parametrize("width,height", [(1000, 1002), (1920, 1080)])
def test_default_intrinsics_centre_is_the_image_centre(width, height):
    cam = default_intrinsics(width, height)
    np.testing.assert_allclose(cam[2:4], [0.0, 0.0], atol=1e-6)


def test_default_focal_is_the_longer_side_in_either_orientation():
    # The same camera held in landscape or portrait keeps its focal length in pixels.
    for width, height in [(1920, 1080), (1080, 1920)]:
        cam = default_intrinsics(width, height)
        np.testing.assert_allclose(image_focal_px(cam, width), [1920, 1920], rtol=1e-6)
    np.testing.assert_allclose(image_focal_px(default_intrinsics(1080, 1920, focal=700), 1080), [700, 700], rtol=1e-6)


def image_focal_px(cam, width):
    return cam[0:2] * width / 2
