"""UAO in PyTorch against the seed's golden outputs, and the properties the engines rely on."""
import numpy as np
import pytest
import torch

from uao_deploy import GUMLP, GUMLPConfig, UaoError, load_checkpoint, skeleton
from uao_deploy.tto import TTOConfig, optimize, predict, value_and_grad


@pytest.fixture(scope="module")
def seed_model(shared_dir):
    return load_checkpoint(shared_dir / "reference" / "gumlp_seed_format.pth")


@pytest.fixture(scope="module")
def tensors(golden):
    return {k: torch.from_numpy(v) for k, v in golden.items()}


def _targets(model, x):
    with torch.no_grad():
        return model(x)[0], skeleton.flip_pose(model(skeleton.flip_pose(x))[0])


def test_eval_matches_golden(seed_model, tensors, golden):
    out = predict(seed_model, tensors["x"])
    assert out.shape == (64, 1, 17, 3)
    np.testing.assert_allclose(out.numpy(), golden["eval_out"], atol=1e-5, rtol=0)
    assert (out[..., 0, :] == 0).all()


@pytest.mark.parametrize("point", ["it0", "it1"])
def test_gradient_matches_golden(seed_model, tensors, golden, point):
    x = tensors["x"][:, 0]
    batch = len(x)
    mu0, mu0_flip = _targets(seed_model, x)
    z, z_flip = (x, skeleton.flip_pose(x)) if point == "it0" else (tensors["z_it1"][:, 0], tensors["zf_it1"][:, 0])
    loss, grad_z, grad_z_flip = value_and_grad(seed_model, z, z_flip, x, mu0, mu0_flip, tensors["cam"], tensors["root"].reshape(-1, 3))
    assert loss.shape == (batch,)
    # The seed's loss is the batch mean: its gradient is the per-sample gradient divided by B.
    np.testing.assert_allclose(grad_z.numpy() / batch, golden[f"grad_z_{point}"][:, 0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(grad_z_flip.numpy() / batch, golden[f"grad_zf_{point}"][:, 0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("iters", [1, 4])
def test_tto_matches_golden(seed_model, tensors, golden, iters):
    out, losses = optimize(seed_model, tensors["x"], tensors["cam"], tensors["root"], iters=iters, return_losses=True)
    assert out.shape == (64, 1, 17, 3)
    np.testing.assert_allclose(out.numpy(), golden[f"tto{iters}_out"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(losses, golden["tto4_losses"][:iters], atol=1e-4, rtol=0)


def test_tto_changes_the_prediction(seed_model, tensors, golden):
    out = optimize(seed_model, tensors["x"], tensors["cam"], tensors["root"], iters=4)
    assert (out - torch.from_numpy(golden["eval_out"])).abs().max() > 1e-4


def test_gradient_is_zero_not_nan_at_iteration_zero():
    torch.manual_seed(0)
    model = GUMLP(GUMLPConfig(channels=32, layers=1)).eval().requires_grad_(False)
    x = torch.rand(4, 17, 2) * 0.5
    mu0, mu0_flip = _targets(model, x)
    cam = torch.tensor([[2.3, 2.3, 0.0, 0.0, 0, 0, 0, 0, 0]]).repeat(4, 1)
    root = torch.tensor([[0.0, 0.0, 5.0]]).repeat(4, 1)
    # Only the Gaussian term: the distance is exactly 0 at iteration 0, so the gradient must be 0.
    _, grad_z, grad_z_flip = value_and_grad(model, x, skeleton.flip_pose(x), x, mu0, mu0_flip, cam, root,
                                            TTOConfig(w_proj=0.0))
    assert torch.isfinite(grad_z).all() and torch.isfinite(grad_z_flip).all()
    assert grad_z.abs().max() == 0 and grad_z_flip.abs().max() == 0


def test_results_do_not_depend_on_batch_neighbours(seed_model, tensors):
    alone = optimize(seed_model, tensors["x"][:1], tensors["cam"][:1], tensors["root"][:1], iters=4)
    together = optimize(seed_model, tensors["x"][:8], tensors["cam"][:8], tensors["root"][:8], iters=4)
    torch.testing.assert_close(alone[0], together[0], atol=1e-5, rtol=0)


def test_weights_get_no_gradient_and_keep_their_flags():
    model = GUMLP(GUMLPConfig(channels=32, layers=1))
    model.train()
    x = torch.rand(3, 17, 2) * 0.5
    cam = torch.tensor([[2.3, 2.3, 0.0, 0.0, 0, 0, 0, 0, 0]]).repeat(3, 1)
    optimize(model, x, cam, torch.tensor([[0.0, 0.0, 5.0]]).repeat(3, 1), iters=2)
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters()) and model.training


def test_without_flip_only_z_moves():
    torch.manual_seed(0)
    model = GUMLP(GUMLPConfig(channels=32, layers=1)).eval()
    x = torch.rand(3, 17, 2) * 0.5
    cam = torch.tensor([[2.3, 2.3, 0.0, 0.0, 0, 0, 0, 0, 0]]).repeat(3, 1)
    root = torch.tensor([[0.0, 0.0, 5.0]]).repeat(3, 1)
    plain = predict(model, x, flip=False)
    refined = optimize(model, x, cam, root, iters=3, flip=False)
    assert refined.shape == (3, 17, 3) and (refined - plain).abs().max() > 0


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(4, 16, 2), "16 joints"),
    (torch.zeros(4, 17, 3), r"shape \(B, 17, 2\)"),
    (torch.full((4, 17, 2), float("nan")), "NaN"),
])
def test_bad_keypoints_are_refused(bad, message):
    model = GUMLP(GUMLPConfig(channels=16, layers=1))
    with pytest.raises(UaoError, match=message):
        predict(model, bad)


def test_mismatched_camera_batch_is_refused():
    model = GUMLP(GUMLPConfig(channels=16, layers=1))
    with pytest.raises(UaoError, match="cam holds 2 rows"):
        optimize(model, torch.zeros(4, 17, 2), torch.zeros(2, 9), torch.zeros(4, 3))
