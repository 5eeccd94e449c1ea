"""The engine layout of GUMLP (uao_deploy.export.layers) and the shared first TTO step, in PyTorch."""
import pytest
import torch

from uao_deploy import GUMLP, GUMLPConfig, skeleton
from uao_deploy.export.layers import AxisLayerNorm, FoldedGraphConv, exportable_model
from uao_deploy.tto import TTOConfig, first_value_and_grad, refine, value_and_grad
from uao_deploy.tto.optimize import _model_callables

CAM = torch.tensor([[2.3, 2.3, 0.02, -0.03, 0, 0, 0, 0, 0]])
ROOT = torch.tensor([[0.1, -0.2, 4.5]])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GUMLP(GUMLPConfig(channels=48, layers=2)).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def inputs():
    torch.manual_seed(1)
    x = torch.rand(5, 17, 2) * 0.6 - 0.3
    return x, CAM.repeat(5, 1), ROOT.repeat(5, 1)


def test_engine_layout_computes_the_reference_network(model, inputs):
    x, cam, root = inputs
    engine_form = exportable_model(model)
    assert not any(isinstance(m, (torch.nn.Conv1d, torch.nn.LayerNorm)) for m in engine_form.modules())
    for want, got in zip(model(x), engine_form(x)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    with torch.no_grad():
        mu0, mu0_flip = model(x)[0], skeleton.flip_pose(model(skeleton.flip_pose(x))[0])
    point = (x + 0.01, skeleton.flip_pose(x) - 0.01, x, mu0, mu0_flip, cam, root)
    for want, got in zip(value_and_grad(model, *point), value_and_grad(engine_form, *point)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-4)


def test_graph_convolution_skips_products_that_meet_zeros_of_the_adjacency(model):
    gcn = model.GCN_MLP.blocks[0].gcn1
    folded = FoldedGraphConv(gcn, torch.float32)
    # self links at all 17 joints, then min(rows, columns) with edges for the other three partitions
    assert folded.sizes == [17, 12, 12, 12] and sum(folded.sizes) < 4 * 17
    features = torch.randn(3, 17, 48)
    torch.testing.assert_close(folded(features), gcn(features), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dim", [1, -1])
def test_layer_norm_backward_matches_autograd(dim):
    torch.manual_seed(2)
    size = 17 if dim == 1 else 32
    reference = torch.nn.LayerNorm(size, eps=1e-6)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5), reference.bias.uniform_(-0.2, 0.2)
    norm = AxisLayerNorm(reference, dim)
    x = torch.randn(4, 17, 32, dtype=torch.float64, requires_grad=True)
    norm, reference = norm.double(), reference.double()
    want = reference(x.transpose(1, 2)).transpose(1, 2) if dim == 1 else reference(x)
    got = norm(x)
    torch.testing.assert_close(got, want)
    probe = torch.randn_like(got)
    torch.testing.assert_close(torch.autograd.grad((got * probe).sum(), x)[0],
                               torch.autograd.grad((want * probe).sum(), x)[0])


@pytest.mark.parametrize("flip", [True, False])
def test_first_step_is_the_pseudo_target_forward_plus_a_step(model, inputs, flip):
    x, cam, root = inputs
    config = TTOConfig(flip=flip)
    x_flip = skeleton.flip_pose(x)
    loss, grad_z, grad_z_flip, mu0, mu0_flip = first_value_and_grad(model, x, x_flip, x, cam, root, config)
    with torch.no_grad():
        want_mu0 = model(x)[0]
        want_mu0_flip = skeleton.flip_pose(model(x_flip)[0]) if flip else want_mu0
    torch.testing.assert_close(mu0, want_mu0, atol=1e-6, rtol=0)
    torch.testing.assert_close(mu0_flip, want_mu0_flip, atol=1e-6, rtol=0)
    for want, got in zip(value_and_grad(model, x, x_flip, x, want_mu0, want_mu0_flip, cam, root, config),
                         (loss, grad_z, grad_z_flip)):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)

    forward, step, first_step = _model_callables(model, config)
    shared, shared_losses = refine(forward, step, x, cam, root, config, first_step)
    seed_order, seed_losses = refine(forward, step, x, cam, root, config)
    torch.testing.assert_close(shared, seed_order, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack(shared_losses), torch.stack(seed_losses), atol=1e-6, rtol=0)
