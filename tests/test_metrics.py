"""uao_deploy.metrics: MPJPE (protocol 1), P-MPJPE (protocol 2) and the world-grounded metrics."""
import numpy as np
import pytest

from uao_deploy.metrics import (angle_degrees, foot_sliding, jitter, mpjpe, p_mpjpe, procrustes_align,
                                root_error_parts, rte, similarity_transform, w_mpjpe)


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_mpjpe_on_a_known_case():
    target = np.zeros((2, 17, 3))
    predicted = np.zeros((2, 17, 3))
    predicted[0] += [3.0, 4.0, 0.0]  # every joint 5 away
    predicted[1, :4] += [0.0, 0.0, 2.0]  # 4 of 17 joints 2 away
    np.testing.assert_allclose(mpjpe(predicted, target), [5.0, 8.0 / 17])


def test_p_mpjpe_ignores_rotation_scale_and_translation():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(5, 17, 3))
    predicted = target + 0.1 * rng.normal(size=target.shape)
    rotations = np.stack([random_rotation(rng) for _ in range(5)])
    moved = 2.5 * np.einsum("nij,nkj->nki", rotations, predicted) + rng.normal(size=(5, 1, 3))
    np.testing.assert_allclose(p_mpjpe(moved, target), p_mpjpe(predicted, target), rtol=1e-6)
    assert np.all(p_mpjpe(predicted, target) > 0)
    np.testing.assert_allclose(procrustes_align(moved, target), procrustes_align(predicted, target), atol=1e-9)
    # A similarity transform of the target itself aligns back exactly, while MPJPE sees it.
    similar = 0.5 * np.einsum("nij,nkj->nki", rotations, target) + 1.0
    np.testing.assert_allclose(p_mpjpe(similar, target), 0, atol=1e-9)
    assert np.all(mpjpe(similar, target) > 0.1)


def test_p_mpjpe_does_not_undo_a_mirror_image():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(3, 17, 3))
    mirrored = target * [-1.0, 1.0, 1.0]
    assert np.all(p_mpjpe(mirrored, target) > 0.1)


# --- world-grounded metrics (WHAM / GVHMR protocol), hand-computed cases ---------------------------


def test_similarity_transform_recovers_a_known_transform_and_the_rigid_fit_keeps_scale_one():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(1, 20, 3))
    rotation = random_rotation(rng)
    moved = 1.7 * points @ rotation.T + [1.0, -2.0, 3.0]
    scale, found, translation = similarity_transform(points, moved)
    np.testing.assert_allclose(scale, [1.7])
    np.testing.assert_allclose(found[0], rotation, atol=1e-9)
    np.testing.assert_allclose(translation[0], [1.0, -2.0, 3.0], atol=1e-9)
    scale, found, _ = similarity_transform(points, moved, with_scale=False)
    np.testing.assert_allclose(scale, [1.0])
    np.testing.assert_allclose(found[0], rotation, atol=1e-9)  # the rotation does not depend on the scale


def test_w_mpjpe_fits_on_each_chunks_first_two_frames_and_wa_on_the_whole_chunk():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=(150, 17, 3))
    # Frames 0-1 and 100-101 exact; every other frame of each chunk 0.2 off along x: the first-two-frame
    # fit is the identity, so W-MPJPE100 = 0.2 * (98 + 48) / 150; the whole-chunk fit takes the offset out.
    predicted = truth.copy()
    offset = np.ones(150, bool)
    offset[[0, 1, 100, 101]] = False
    predicted[offset] += [0.2, 0.0, 0.0]
    assert w_mpjpe(predicted, truth) == pytest.approx(0.2 * 146 / 150)
    # A similarity transform of the whole sequence is invisible to both.
    rotation = random_rotation(rng)
    moved = 0.8 * truth @ rotation.T + 5.0
    assert w_mpjpe(moved, truth) == pytest.approx(0, abs=1e-9)
    assert w_mpjpe(moved, truth, fit_frames=None) == pytest.approx(0, abs=1e-9)
    # WA: a constant offset over a whole chunk is taken out, a drift within it is not.
    assert w_mpjpe(truth + [0.3, 0, 0], truth, fit_frames=None) == pytest.approx(0, abs=1e-9)


def test_rte_is_rigid_and_normalised_by_the_true_path():
    # A 1 m straight walk along x in 11 frames; the prediction walks 2 m: a rigid fit cannot rescale it.
    truth = np.zeros((11, 3))
    truth[:, 0] = np.linspace(0, 1, 11)
    predicted = truth * [2.0, 1.0, 1.0]
    # Best translation centres both (rotation identity); errors |x - mean| of 2x - x = x - 0.5.
    expected = np.abs(truth[:, 0] - 0.5).mean() / 1.0 * 100
    assert rte(predicted, truth) == pytest.approx(expected)
    rotation = random_rotation(np.random.default_rng(4))
    assert rte(truth @ rotation.T + 3.0, truth) == pytest.approx(0, abs=1e-7)


def test_jitter_is_the_third_difference_in_ten_metres_per_second_cubed():
    joints = np.zeros((5, 1, 3))
    joints[2, 0, 0] = 0.001  # one 1 mm spike: third differences +1, -3, ... mm
    # Two third differences: (x3 - 3 x2 + 3 x1 - x0) = -0.003, (x4 - 3 x3 + 3 x2 - x1) = 0.003.
    assert jitter(joints, fps=50) == pytest.approx(0.003 * 50 ** 3 / 10)
    assert jitter(np.cumsum(np.ones((10, 2, 3)), axis=0) ** 2, fps=30) == pytest.approx(0)  # a parabola


def test_foot_sliding_counts_only_frames_where_the_true_foot_is_still():
    truth = np.zeros((4, 1, 3))
    truth[3, 0, 0] = 0.5  # the true foot stands for frames 0-2, then moves
    predicted = np.zeros((4, 1, 3))
    predicted[:, 0, 0] = [0.0, 0.002, 0.006, 0.9]
    # Still steps: 0->1 (2 mm) and 1->2 (4 mm); the moving step 2->3 is not counted.
    assert foot_sliding(predicted, truth, fps=50) == pytest.approx(0.003)
    # 50 fps: still means under 6 mm per frame; 7 mm per frame is not still.
    walking = np.zeros((3, 1, 3))
    walking[:, 0, 0] = [0, 0.007, 0.014]
    assert foot_sliding(predicted[:3], walking, fps=50) == 0.0
    assert foot_sliding(predicted[:3], walking, fps=30) == pytest.approx(0.003)


def test_root_error_parts_and_angles():
    truth = np.array([[0.0, 0.0, 4.0], [1.0, 0.0, 5.0]])
    predicted = np.array([[0.3, 0.4, 3.8], [1.0, 0.0, 5.1]])
    parts = root_error_parts(predicted, truth)
    assert parts["root_lateral"] == pytest.approx(0.25)
    assert parts["root_depth"] == pytest.approx(0.15)
    assert parts["depth_bias"] == pytest.approx(-0.05)
    assert angle_degrees(np.array([0.0, -1.0, 0.0]), np.array([0.0, -1.0, -1.0])) == pytest.approx(45)
