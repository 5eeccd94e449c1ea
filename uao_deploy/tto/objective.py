"""The UAO test-time objective, written once.

The PyTorch reference loop, the ONNX exporter (which traces :func:`value_and_grad`) and every
engine compute exactly this function. It is *per sample*: the loss of frame b depends on frame b
alone, so results never depend on batch neighbours (the seed's batch mean is this divided by B).
"""
from __future__ import annotations

import torch

from .. import skeleton
from ..camera import project
from .config import TTOConfig

# ||d|| is computed as sqrt(max(|d|^2, NORM_FLOOR)): finite everywhere and with gradient exactly 0
# for |d| < 1e-5 m. At TTO iteration 0 the prediction equals its own pseudo-target, so the distance
# is 0 (or float noise of ~1e-7 m when two graphs compute it); PyTorch's norm has gradient 0 there,
# a naive x/||x|| gives NaN and noise would give a random unit vector that Adam would amplify.
NORM_FLOOR = 1e-10


def safe_norm(vectors: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last axis whose gradient is 0, not NaN, at (and near) 0."""
    return torch.sqrt(torch.clamp((vectors * vectors).sum(dim=-1), min=NORM_FLOOR))


def place_in_camera(pose: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """Root-relative pose (B, 17, 3) -> camera frame: joint 0 becomes ``root`` (B, 3), others shift."""
    root = root[:, None, :]
    return torch.cat([root, pose[:, 1:] + root], dim=1)


def gaussian_term(mu: torch.Tensor, s: torch.Tensor, target: torch.Tensor, hold_s: bool = True) -> torch.Tensor:
    """Per-sample mean over joints of ||mu - target|| * exp(-s) + s: the paper's Gaussian NLL.

    TTO holds the uncertainty s constant (``hold_s``); training learns it.
    """
    s = (s.detach() if hold_s else s)[..., 0]
    return (safe_norm(mu - target) * torch.exp(-s) + s).mean(dim=-1)


def projection_term(mu: torch.Tensor, root: torch.Tensor, cam: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample mean over joints of the reprojection distance of the placed pose to the input x."""
    return safe_norm(project(place_in_camera(mu, root), cam) - x).mean(dim=-1)


def tto_objective(model, z, z_flip, x, mu0, mu0_flip, cam, root, config: TTOConfig = TTOConfig()):
    """Per-sample UAO loss (B,) of the optimized inputs z (and z_flip when ``config.flip``).

    Shapes: z, z_flip, x (B, 17, 2) normalized; mu0, mu0_flip (B, 17, 3), the pseudo-targets, with
    mu0_flip already un-flipped; cam (B, 9); root (B, 3) camera frame, metres.
    """
    return _loss_and_prediction(model, z, z_flip, x, mu0, mu0_flip, cam, root, config)[0]


def _loss_and_prediction(model, z, z_flip, x, mu0, mu0_flip, cam, root, config: TTOConfig):
    """(loss, mu, mu_flip un-flipped). mu0 None: the prediction is its own pseudo-target, as at z = x."""
    if config.flip:
        # Slice at z.shape[0], not chunk(2) or len(z): those make a traced graph fix its batch size.
        mu, s = model(torch.cat([z, z_flip]))
        batch = z.shape[0]
        mu, mu_flip = mu[:batch], mu[batch:]
        s, s_flip = s[:batch], s[batch:]
        mu_flip, s_flip = skeleton.flip_pose(mu_flip), skeleton.swap_lr(s_flip)
    else:
        mu, s = model(z)
        mu_flip = mu
    if mu0 is None:
        mu0, mu0_flip = mu.detach(), mu_flip.detach()
    gauss = gaussian_term(mu, s, mu0)
    proj = projection_term(mu, root, cam, x)
    if config.flip:
        gauss = gauss + gaussian_term(mu_flip, s_flip, mu0_flip)
        proj = proj + projection_term(mu_flip, root, cam, x)
    return config.w_gauss * gauss + config.w_proj * proj, mu, mu_flip


def value_and_grad(model, z, z_flip, x, mu0, mu0_flip, cam, root, config: TTOConfig = TTOConfig()):
    """(loss (B,), d loss_b / d z_b, d loss_b / d z_flip_b): the TTO step the exporter traces.

    Only input gradients are formed; the model's weights get none. Without flip, the z_flip
    gradient is returned as zeros so that every backend has one signature.
    """
    return _value_grad_prediction(model, z, z_flip, x, mu0, mu0_flip, cam, root, config)[:3]


def first_value_and_grad(model, z, z_flip, x, cam, root, config: TTOConfig = TTOConfig()):
    """The first TTO step, which also yields the pseudo-targets: (loss, grad_z, grad_z_flip, mu0, mu0_flip).

    At z = x (and z_flip = flip(x)) the prediction is the pseudo-target, so one forward serves both
    (the seed runs it twice); the distance term is then exactly 0 with gradient 0.
    """
    return _value_grad_prediction(model, z, z_flip, x, None, None, cam, root, config)


def _value_grad_prediction(model, z, z_flip, x, mu0, mu0_flip, cam, root, config: TTOConfig):
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        z_flip = z_flip.detach().requires_grad_(True)
        loss, mu, mu_flip = _loss_and_prediction(model, z, z_flip, x, mu0, mu0_flip, cam, root, config)
        inputs = [z, z_flip] if config.flip else [z]
        grads = torch.autograd.grad(loss.sum(), inputs)
    grad_z_flip = grads[1] if config.flip else torch.zeros_like(z_flip)
    return loss.detach(), grads[0], grad_z_flip, mu.detach(), mu_flip.detach()
