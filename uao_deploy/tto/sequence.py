"""Sequence UAO's objective and its graphs as PyTorch functions: what the exporter traces and checks.

Per window (W windows of T frames, optimized together but independently), the variables are
UAO's inputs z_t and z_flip_t, the camera-frame root trajectory r_t (initialised from the smooth
least-squares trajectory). The camera is given: its focal length is estimated once, on the host
(:mod:`uao_deploy.pipeline.focal`). The loss of a window is the sum over its frames of

* ``w_gauss`` x UAO's Gaussian pseudo-target term (both flips, uncertainty held constant);
* ``w_proj`` x the reprojection distance of the placed pose (joint j of frame t at r_t + m_tj,
  through the camera), per joint weighted by the detector confidence;
* ``w_smooth`` x the squared acceleration of every absolute joint (r_t plus the flip-averaged
  pose), weighted per joint by :func:`~uao_deploy.tto.optimize.smoothness_weights` (more where the
  network is unsure and the detector is not confident);
* ``w_bone`` x the squared deviation of each bone's length from its mean over the window;
* ``w_root`` x the squared acceleration of the root trajectory.

Without ``flip_steps`` the steps move z alone and the flipped copy's terms are z's (counted twice,
so the weights keep their balance); the final pose still averages z's prediction with its mirror
image's. Adam moves each variable with its own step size (normalized pixels and metres are not comparable). Summing over frames (not averaging) makes a frame's gradient independent of the
window length. The loss of window w depends on window w alone.

Registered in :data:`uao_deploy.contract.SEQUENCE`: ``reference_functions`` gives the step graph's
function, ``fused_loop`` the fused graph's, :func:`~uao_deploy.tto.optimize.refine_sequence` over
any callables standing for the forward and step graphs; ``sample_inputs`` plausible windows.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .. import skeleton
from ..camera import project
from ..inputs import moved, sample_keypoints
from .config import SequenceConfig
from .objective import gaussian_term, place_in_camera, safe_norm
from .optimize import refine_sequence, sequence_targets, targets_of

SAMPLE_FRAMES = 9  # frames per window of the sample inputs (the trace used another size)

BONE_CHILDREN = tuple(range(1, skeleton.NUM_JOINTS))
BONE_PARENTS = tuple(skeleton.PARENTS[1:])


def _acceleration(track: torch.Tensor) -> torch.Tensor:
    """Second difference over the frame axis 1."""
    return track[:, 2:] - 2 * track[:, 1:-1] + track[:, :-2]


def _loss_and_targets(model, z, z_flip, root, x, confidence, cam, config: SequenceConfig, targets=None):
    """(loss (W,), (mu0, mu0_flip, smooth_weight)): the targets given, or (None) made from this forward,
    as at z = x, where the prediction is its own pseudo-target."""
    windows, frames = z.shape[0], z.shape[1]
    flat = functools.partial(torch.flatten, start_dim=0, end_dim=1)
    if config.flip_steps:
        mu, s = model(torch.cat([flat(z), flat(z_flip)]))
        half = windows * frames
        mu_flip, s_flip = skeleton.flip_pose(mu[half:]), skeleton.swap_lr(s[half:])
        mu, s = mu[:half], s[:half]
    else:  # z_flip stands still; the flipped copy's terms are the unflipped one's, so the weights keep their balance
        mu, s = model(flat(z))
        mu_flip, s_flip = mu, s
    if targets is None:
        targets = targets_of(mu.detach(), mu_flip.detach(), s.detach(), s_flip.detach(), confidence)
    mu0, mu0_flip, smooth_weight = targets
    gauss = gaussian_term(mu, s, flat(mu0)) + gaussian_term(mu_flip, s_flip, flat(mu0_flip))

    cams = torch.repeat_interleave(cam, frames, dim=0)
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
    return per_frame + config.w_smooth * smooth + config.w_bone * bone + config.w_root * root_term, targets


def sequence_value_and_grad(model, z, z_flip, root, x, confidence, smooth_weight, mu0, mu0_flip, cam,
                            config: SequenceConfig = SequenceConfig()):
    """(loss (W,), d/dz, d/dz_flip, d/droot): the sequence step graph's function.

    Only variable gradients are formed; the model's weights get none.
    """
    return _value_and_grads(model, z, z_flip, root, x, confidence, cam, config,
                            (mu0, mu0_flip, smooth_weight))[:4]


def first_sequence_value_and_grad(model, z, z_flip, root, x, confidence, cam,
                                  config: SequenceConfig = SequenceConfig()):
    """The first step, which also yields the targets: (loss, the 3 gradients, mu0, mu0_flip, smooth_weight).

    At z = x (and z_flip = flip(x)) the prediction is the pseudo-target, so one forward serves both;
    the distance term is then exactly 0 with gradient 0.
    """
    return _value_and_grads(model, z, z_flip, root, x, confidence, cam, config)


def _value_and_grads(model, z, z_flip, root, x, confidence, cam, config, targets=None):
    with torch.enable_grad():
        variables = [v.detach().requires_grad_(True) for v in (z, z_flip, root)]
        loss, targets = _loss_and_targets(model, *variables, x, confidence, cam, config, targets)
        moving = variables if config.flip_steps else variables[::2]  # without flip_steps z_flip stands still
        grads = list(torch.autograd.grad(loss.sum(), moving))
        if not config.flip_steps:
            grads.insert(1, torch.zeros_like(z_flip))
    return (loss.detach(), *grads, *targets)


def fused_loop(graphs: dict, config: SequenceConfig):
    """``refine_sequence`` as one function of (x, confidence, cam, root) -> (pose, trajectory,
    losses (K, W)) over the given forward and seq_step callables."""
    forward, step, first_step = graphs["forward"], graphs["seq_step"], graphs["seq_first_step"]

    def run(x, confidence, cam, root):
        pose, trajectory, losses = refine_sequence(forward, step, x, confidence, cam, root, config, first_step)
        return pose, trajectory, torch.stack(losses)
    return run


def reference_functions(model: torch.nn.Module, config: SequenceConfig) -> dict:
    """The PyTorch function each graph must compute, by graph name (model frozen by the caller)."""
    graphs = {"forward": model, "seq_step": functools.partial(sequence_value_and_grad, model, config=config),
              "seq_first_step": functools.partial(first_sequence_value_and_grad, model, config=config)}
    return {**graphs, "seq_fused": fused_loop(graphs, config)}


def model_sequence_callables(model, config: SequenceConfig):
    """(forward, step, first_step) of a frozen torch model for :func:`~uao_deploy.tto.optimize.refine_sequence`."""
    def forward(x):
        with torch.no_grad():
            return model(x)

    def step(*args):
        return sequence_value_and_grad(model, *args, config=config)

    def first_step(*args):
        return first_sequence_value_and_grad(model, *args, config=config)

    return forward, step, first_step


def sample_inputs(graph: str, forward, windows: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Inputs of ``graph`` in its input order: windows of SAMPLE_FRAMES frames of
    :func:`~uao_deploy.inputs.sample_keypoints` (each frame its own pose and root) with random
    confidences; the step's point sits one small step away, its targets from ``forward``."""
    rng = np.random.default_rng(seed + 2)
    x, cam, root = sample_keypoints(windows * SAMPLE_FRAMES, seed)
    x, root = x.reshape(windows, SAMPLE_FRAMES, *x.shape[1:]), root.reshape(windows, SAMPLE_FRAMES, 3)
    cam = cam[::SAMPLE_FRAMES]
    confidence = rng.uniform(0.2, 1.0, x.shape[:3]).astype(np.float32)
    tensors = [torch.from_numpy(array) for array in (x, confidence, cam, root)]
    if graph == "seq_fused":
        return tuple(tensors)
    with torch.no_grad():
        mu0, mu0_flip, smooth_weight = sequence_targets(forward, tensors[0], tensors[1])
    z, z_flip = moved(x, 1e-3, rng), moved(skeleton.flip_pose(x), 1e-3, rng)
    root_moved = moved(root, 0.01, rng)
    return (*(torch.from_numpy(array) for array in (z, z_flip, root_moved)), tensors[0], tensors[1],
            smooth_weight, mu0, mu0_flip, tensors[2])
