"""uao_deploy.metrics: MPJPE (protocol 1) and P-MPJPE (protocol 2)."""
import numpy as np

from uao_deploy.metrics import mpjpe, p_mpjpe, procrustes_align


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
