"""Sequence UAO: test-time optimization over windows of T frames that also fits the root trajectory.

Per window (W windows of T frames, optimized together but independently), the variables are
UAO's inputs z_t and z_flip_t, the camera-frame root trajectory r_t (initialised from the
per-frame least-squares root) and, when the focal length is unknown, a log focal scale. The loss
of a window is the sum over its frames of

* ``w_gauss`` x UAO's Gaussian pseudo-target term (both flips, uncertainty held constant);
* ``w_proj`` x the reprojection distance of the placed pose (joint j of frame t at r_t + m_tj,
  through the camera with the fitted focal), per joint weighted by the detector confidence;
* ``w_smooth`` x the squared acceleration of every absolute joint (r_t plus the flip-averaged
  pose), weighted per joint by ``smoothness_weights`` (more where the network is unsure and the
  detector is not confident);
* ``w_bone`` x the squared deviation of each bone's length from its mean over the window;
* ``w_root`` x the squared acceleration of the root trajectory.

Adam moves each variable with its own step size (normalized pixels, metres and a log scale are
not comparable). Summing over frames (not averaging) makes a frame's gradient independent of the
window length. The loss of window w depends on window w alone.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch

from .. import skeleton
from ..camera import project
from .config import UNCERTAINTY_REF
from .objective import gaussian_term, place_in_camera, safe_norm
from .optimize import adam_descent

BONE_CHILDREN = tuple(range(1, skeleton.NUM_JOINTS))
BONE_PARENTS = tuple(skeleton.PARENTS[1:])


@dataclass(frozen=True)
class SequenceConfig:
    """Hyper-parameters of sequence UAO; chosen on the train/val clips (see README-video)."""

    iters: int = 4
    lr: float = 1e-3  # z and z_flip, normalized image units (as UAO)
    lr_root: float = 0.02  # metres
    lr_focal: float = 0.02  # log focal scale
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    w_gauss: float = 0.005
    w_proj: float = 1.0
    w_smooth: float = 1.0
    w_bone: float = 1.0
    w_root: float = 1.0
    fit_focal: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def step_sizes(self) -> dict:
        return {"z": self.lr, "z_flip": self.lr, "root": self.lr_root, "log_focal": self.lr_focal}


def smoothness_weights(uncertainty: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """Per joint and frame weight of the smoothness term: exp(s) / UNCERTAINTY_REF * (2 - confidence).

    A joint the network is unsure of, or the detector missed, leans more on its neighbours in time.
    """
    return torch.exp(uncertainty) / UNCERTAINTY_REF * (2 - confidence)


def _acceleration(track: torch.Tensor) -> torch.Tensor:
    """Second difference over the frame axis 1."""
    return track[:, 2:] - 2 * track[:, 1:-1] + track[:, :-2]


def _scaled_cam(cam: torch.Tensor, log_focal: torch.Tensor) -> torch.Tensor:
    return torch.cat([cam[:, :2] * torch.exp(log_focal), cam[:, 2:]], dim=-1)


def sequence_objective(model, z, z_flip, root, log_focal, x, confidence, smooth_weight, mu0, mu0_flip, cam,
                       config: SequenceConfig = SequenceConfig()):
    """Loss per window (W,) of sequence UAO.

    Shapes: z, z_flip, x (W, T, 17, 2) normalized; root (W, T, 3) metres; log_focal (W, 1);
    confidence and smooth_weight (W, T, 17); mu0, mu0_flip (W, T, 17, 3), mu0_flip un-flipped;
    cam (W, 9) normalized intrinsics before the focal scale.
    """
    windows, frames = z.shape[0], z.shape[1]
    flat = functools.partial(torch.flatten, start_dim=0, end_dim=1)
    mu, s = model(torch.cat([flat(z), flat(z_flip)]))
    half = windows * frames
    mu_flip, s_flip = skeleton.flip_pose(mu[half:]), skeleton.swap_lr(s[half:])
    mu, s = mu[:half], s[:half]
    gauss = gaussian_term(mu, s, flat(mu0)) + gaussian_term(mu_flip, s_flip, flat(mu0_flip))

    cams = torch.repeat_interleave(_scaled_cam(cam, log_focal), frames, dim=0)
    roots, keypoints, weights = flat(root), flat(x), flat(confidence)
    proj = sum((safe_norm(project(place_in_camera(pose, roots), cams) - keypoints) * weights).mean(dim=-1)
               for pose in (mu, mu_flip))

    pose = skeleton.zero_root((mu + mu_flip) / 2).unflatten(0, (windows, frames))
    absolute = pose + root[:, :, None, :]
    accel = _acceleration(absolute)
    smooth = ((accel * accel).sum(dim=-1) * smooth_weight[:, 1:-1]).mean(dim=-1).sum(dim=1)
    bones = safe_norm(pose[:, :, BONE_CHILDREN] - pose[:, :, BONE_PARENTS])  # (W, T, 16)
    bone = ((bones - bones.mean(dim=1, keepdim=True)) ** 2).mean(dim=-1).sum(dim=1)
    root_accel = _acceleration(root)
    root_term = (root_accel * root_accel).sum(dim=-1).sum(dim=1)

    per_frame = (config.w_gauss * gauss + config.w_proj * proj).unflatten(0, (windows, frames)).sum(dim=1)
    return per_frame + config.w_smooth * smooth + config.w_bone * bone + config.w_root * root_term


def sequence_value_and_grad(model, z, z_flip, root, log_focal, x, confidence, smooth_weight, mu0, mu0_flip, cam,
                            config: SequenceConfig = SequenceConfig()):
    """(loss (W,), d/dz, d/dz_flip, d/droot, d/dlog_focal): the sequence step the exporter traces.

    Only variable gradients are formed; the model's weights get none.
    """
    with torch.enable_grad():
        variables = [v.detach().requires_grad_(True) for v in (z, z_flip, root, log_focal)]
        loss = sequence_objective(model, *variables, x, confidence, smooth_weight, mu0, mu0_flip, cam, config)
        grads = torch.autograd.grad(loss.sum(), variables)
    return (loss.detach(), *grads)


def sequence_targets(forward, x, confidence):
    """(mu0, mu0_flip un-flipped, smooth_weight) of windows x (W, T, 17, 2) from one forward of both flips.

    forward(x (N, 17, 2)) -> (mu (N, 17, 3), s (N, 17, 1)).
    """
    windows, frames = x.shape[0], x.shape[1]
    flat = x.flatten(0, 1)
    mu, s = forward(torch.cat([flat, skeleton.flip_pose(flat)]))
    half = windows * frames
    mu0, mu0_flip = mu[:half], skeleton.flip_pose(mu[half:])
    uncertainty = (s[:half, :, 0] + skeleton.swap_lr(s[half:])[:, :, 0]) / 2
    shape = (windows, frames)
    return mu0.unflatten(0, shape), mu0_flip.unflatten(0, shape), \
        smoothness_weights(uncertainty.unflatten(0, shape), confidence)


def refine_sequence(forward, step, x, confidence, cam, root, config: SequenceConfig = SequenceConfig()):
    """Sequence UAO on windows; returns (pose (W, T, 17, 3) root-zeroed, root (W, T, 3), focal scale (W, 1),
    per-iteration losses [(W,)] * iters).

    forward(x) -> (mu, s) of the frozen network; step(...) -> :func:`sequence_value_and_grad`'s outputs
    for the same arguments (less ``model`` and ``config``). root (W, T, 3) is the initial trajectory.
    """
    mu0, mu0_flip, smooth_weight = sequence_targets(forward, x, confidence)
    names = ("z", "z_flip", "root", "log_focal")
    moving = names if config.fit_focal else names[:3]

    def value_and_grads(iteration, variables):
        loss, *grads = step(*(variables[name] for name in names), x, confidence, smooth_weight, mu0, mu0_flip, cam)
        return loss, {name: grad for name, grad in zip(names, grads) if name in moving}

    start = {"z": x, "z_flip": skeleton.flip_pose(x), "root": root, "log_focal": cam[:, :1] * 0}
    final, losses = adam_descent(value_and_grads, start, config, config.step_sizes())
    windows, frames = x.shape[0], x.shape[1]
    mu = forward(torch.cat([final["z"].flatten(0, 1), final["z_flip"].flatten(0, 1)]))[0]
    half = windows * frames
    pose = skeleton.zero_root((mu[:half] + skeleton.flip_pose(mu[half:])) / 2).unflatten(0, (windows, frames))
    return pose, final["root"], torch.exp(final["log_focal"]), losses


def model_sequence_callables(model, config: SequenceConfig):
    """(forward, step) of a frozen torch model for :func:`refine_sequence`."""
    def forward(x):
        with torch.no_grad():
            return model(x)

    def step(*args):
        return sequence_value_and_grad(model, *args, config=config)

    return forward, step
