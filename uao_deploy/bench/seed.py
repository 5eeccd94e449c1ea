"""The seed's PyTorch evaluation and TTO loop, as its users run it: the baseline of every ratio."""
from __future__ import annotations

import copy

import numpy as np
import torch

from .. import skeleton
from ..contract import TTOConfig
from ..tto.objective import gaussian_term, projection_term


class SeedStyleTorch:
    """PyTorch eval as the seed's users have it; the baseline every speed-up is measured against.

    A faithful re-implementation of the seed's loop (shared/reference/METHOD.md), not
    :func:`uao_deploy.tto.refine`: the point is its cost. Eager model in eval mode with
    ``requires_grad`` left on for the weights, so every ``loss.backward()`` also computes weight
    gradients; separate forward passes for x and its flip; two initial forwards for the
    pseudo-targets; ``torch.optim.Adam`` over z and z_flip; a batch-mean loss (the seed's mean over
    batch and joints, built from the same terms as :func:`uao_deploy.tto.tto_objective`).
    """

    def __init__(self, model: torch.nn.Module, config: TTOConfig, device: str = "cpu"):
        self.model = copy.deepcopy(model).to(device).eval().requires_grad_(True)
        self.config, self.device = config, device

    def _tensors(self, *arrays):
        return [torch.from_numpy(array).to(self.device) for array in arrays]

    def _unflipped(self, x):
        return skeleton.flip_pose(self.model(skeleton.flip_pose(x))[0])

    def predict(self, x: np.ndarray, *unused) -> np.ndarray:
        x, = self._tensors(x)
        with torch.no_grad():
            pose = (self.model(x)[0] + self._unflipped(x)) / 2
        return skeleton.zero_root(pose).cpu().numpy()

    def tto(self, x: np.ndarray, cam: np.ndarray, root: np.ndarray) -> np.ndarray:
        config, model = self.config, self.model
        x, cam, root = self._tensors(x, cam, root)
        with torch.no_grad():
            mu0, mu0_flip = model(x)[0], self._unflipped(x)
        z = x.clone().requires_grad_(True)
        z_flip = skeleton.flip_pose(x).clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z, z_flip], lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)
        for _ in range(config.iters):
            optimizer.zero_grad()
            mu, s = model(z)
            mu_flip, s_flip = model(z_flip)
            mu_flip, s_flip = skeleton.flip_pose(mu_flip), skeleton.swap_lr(s_flip)
            gauss = gaussian_term(mu, s, mu0).mean() + gaussian_term(mu_flip, s_flip, mu0_flip).mean()
            proj = projection_term(mu, root, cam, x).mean() + projection_term(mu_flip, root, cam, x).mean()
            (config.w_gauss * gauss + config.w_proj * proj).backward()
            optimizer.step()
        with torch.no_grad():
            pose = (model(z)[0] + skeleton.flip_pose(model(z_flip)[0])) / 2
        return skeleton.zero_root(pose).cpu().numpy()
