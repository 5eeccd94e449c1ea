"""The UAO loops: pseudo-targets, K Adam steps on the variables, a final flip-averaged forward.

:func:`adam_descent` (Adam over named variables, each with its own step size), :func:`refine`
(per-frame UAO) and :func:`refine_sequence` (sequence UAO over windows) are written over plain
callables and work on numpy arrays and torch tensors alike: the PyTorch reference, the exporter's
fused graphs (traced through them) and the host-side loop of the graph engines all run these
loops. This module therefore imports no torch at module level.
"""
from __future__ import annotations

import contextlib
import functools


from .. import skeleton
from ..arrays import concat, exp
from ..camera import CAM_DIM
from ..shapes import as_joint_batch, as_vector_batch
from .config import UNCERTAINTY_REF, SequenceConfig, TTOConfig


def adam_update(param, grad, avg, avg_sq, step: int, config: TTOConfig, lr: float | None = None):
    """One Adam step (torch.optim.Adam's formula, no weight decay); returns (param, avg, avg_sq).

    ``lr`` overrides ``config.lr`` (variables in metres need other steps than normalized pixels).
    """
    avg = config.beta1 * avg + (1 - config.beta1) * grad
    avg_sq = config.beta2 * avg_sq + (1 - config.beta2) * grad * grad
    bias1 = 1 - config.beta1 ** step
    bias2_sqrt = (1 - config.beta2 ** step) ** 0.5
    denom = avg_sq ** 0.5 / bias2_sqrt + config.eps
    return param - ((config.lr if lr is None else lr) / bias1) * avg / denom, avg, avg_sq


def adam_descent(value_and_grads, variables: dict, config: TTOConfig, lrs: dict | None = None):
    """``config.iters`` Adam steps on named variables; returns (variables, per-iteration losses).

    value_and_grads(iteration, variables) -> (loss, {name: gradient}) for the variables to move
    (the others stay as they are); ``lrs`` maps a name to its own step size (default ``config.lr``).
    Adam's moments start at zero, as torch.optim.Adam's.
    """
    lrs = lrs or {}
    moments = {name: (value * 0, value * 0) for name, value in variables.items()}
    losses = []
    for iteration in range(1, config.iters + 1):
        loss, grads = value_and_grads(iteration, variables)
        variables = dict(variables)
        for name, grad in grads.items():
            variables[name], *moments[name] = adam_update(variables[name], grad, *moments[name], iteration,
                                                           config, lrs.get(name))
        losses.append(loss)
    return variables, losses


def flip_average(forward, x, x_flip, flip: bool = True):
    """Root-zeroed prediction, averaged with the un-flipped prediction of the flipped input."""
    if not flip:
        return skeleton.zero_root(forward(x))
    mu, mu_flip = _predict_pair(forward, x, x_flip)
    return skeleton.zero_root((mu + mu_flip) / 2)


def _predict_pair(forward, x, x_flip):
    """(mu of x, un-flipped mu of x_flip) from one forward of both."""
    both = forward(concat([x, x_flip]))
    half = both.shape[0] // 2
    return both[:half], skeleton.flip_pose(both[half:])


def refine(forward, step, x, cam, root, config: TTOConfig = TTOConfig(), first_step=None):
    """Run UAO; returns (pose (B, 17, 3), per-iteration per-sample losses [(B,)] * iters).

    forward(x) -> mu (N, 17, 3); step(z, z_flip, x, mu0, mu0_flip, cam, root) -> (loss, grad_z,
    grad_z_flip), e.g. :func:`value_and_grad` bound to a model. first_step(z, z_flip, x, cam, root)
    -> (loss, grad_z, grad_z_flip, mu0, mu0_flip), e.g. :func:`first_value_and_grad`, runs the first
    iteration and makes the pseudo-targets with one forward fewer; by default forward, then step.
    """
    if first_step is None:
        first_step = functools.partial(targets_then_step, forward, step, config.flip)
    targets = {}

    def value_and_grads(iteration, variables):
        z, z_flip = variables["z"], variables["z_flip"]
        if iteration == 1:
            loss, grad_z, grad_z_flip, *pseudo = first_step(z, z_flip, x, cam, root)
            targets.update(mu0=pseudo[0], mu0_flip=pseudo[1])
        else:
            loss, grad_z, grad_z_flip = step(z, z_flip, x, targets["mu0"], targets["mu0_flip"], cam, root)
        return loss, ({"z": grad_z, "z_flip": grad_z_flip} if config.flip else {"z": grad_z})

    variables, losses = adam_descent(value_and_grads, {"z": x, "z_flip": skeleton.flip_pose(x)}, config)
    return flip_average(forward, variables["z"], variables["z_flip"], config.flip), losses


def _frames(windows):
    """(W, T, ...) -> (W * T, ...)."""
    return windows.reshape((-1,) + tuple(windows.shape[2:]))


def smoothness_weights(uncertainty, confidence):
    """Per joint and frame weight of the sequence smoothness term: exp(s) / UNCERTAINTY_REF * (2 - confidence).

    A joint the network is unsure of, or the detector missed, leans more on its neighbours in time.
    """
    return exp(uncertainty) / UNCERTAINTY_REF * (2 - confidence)


def sequence_targets(forward, x, confidence, flip: bool = True):
    """(mu0, mu0_flip un-flipped, smooth_weight) of windows x (W, T, 17, 2) from one forward of both flips
    (without ``flip``: of x alone, whose prediction then stands for both).

    forward(x (N, 17, 2)) -> (mu (N, 17, 3), s (N, 17, 1)).
    """
    flat = _frames(x)
    if not flip:
        mu, s = forward(flat)
        return targets_of(mu, mu, s, s, confidence)
    mu, s = forward(concat([flat, skeleton.flip_pose(flat)]))
    half = flat.shape[0]
    return targets_of(mu[:half], skeleton.flip_pose(mu[half:]), s[:half], skeleton.swap_lr(s[half:]), confidence)


def targets_of(mu, mu_flip, s, s_flip, confidence):
    """(mu0, mu0_flip, smooth_weight) shaped as ``confidence`` (W, T, 17) from the frames' predictions of
    both flips (mu_flip, s_flip un-flipped; frames in window order)."""
    windows = tuple(confidence.shape[:2])
    uncertainty = ((s[..., 0] + s_flip[..., 0]) / 2).reshape(windows + (skeleton.NUM_JOINTS,))
    return (mu.reshape(windows + (skeleton.NUM_JOINTS, 3)), mu_flip.reshape(windows + (skeleton.NUM_JOINTS, 3)),
            smoothness_weights(uncertainty, confidence))


SEQUENCE_VARIABLES = ("z", "z_flip", "root")


def refine_sequence(forward, step, x, confidence, cam, root, config: SequenceConfig = SequenceConfig(),
                    first_step=None):
    """Sequence UAO on windows; returns (pose (W, T, 17, 3) root-zeroed, root trajectory (W, T, 3),
    per-iteration losses [(W,)] * iters).

    x (W, T, 17, 2) normalized keypoints, confidence (W, T, 17), cam (W, 9) normalized intrinsics, root (W, T, 3) the initial trajectory in metres. forward(x) -> (mu, s)
    of the frozen network; step(z, z_flip, root, x, confidence, smooth_weight, mu0, mu0_flip, cam)
    -> (loss (W,), gradient of each variable), e.g.
    :func:`uao_deploy.tto.sequence.sequence_value_and_grad` bound to a model. first_step(z, z_flip,
    root, x, confidence, cam) -> (loss, the 3 gradients, mu0, mu0_flip, smooth_weight)
    runs the first iteration and makes the targets with one forward fewer; by default forward, then step.
    """
    targets = []

    def value_and_grads(iteration, variables):
        values = [variables[name] for name in SEQUENCE_VARIABLES]
        if iteration == 1 and first_step is not None:
            loss, *grads = first_step(*values, x, confidence, cam)
            targets.extend(grads[len(SEQUENCE_VARIABLES):])
            grads = grads[:len(SEQUENCE_VARIABLES)]
        else:
            if not targets:
                targets.extend(sequence_targets(forward, x, confidence, config.flip_steps))
            mu0, mu0_flip, smooth_weight = targets
            loss, *grads = step(*values, x, confidence, smooth_weight, mu0, mu0_flip, cam)
        return loss, dict(zip(SEQUENCE_VARIABLES, grads))

    start = {"z": x, "z_flip": skeleton.flip_pose(x), "root": root}
    final, losses = adam_descent(value_and_grads, start, config, config.step_sizes())
    z_flip = final["z_flip"] if config.flip_steps else skeleton.flip_pose(final["z"])
    pose = flip_average(lambda v: forward(v)[0], _frames(final["z"]), _frames(z_flip))
    return pose.reshape(tuple(x.shape[:2]) + (skeleton.NUM_JOINTS, 3)), final["root"], losses


def targets_then_step(forward, step, flip: bool, z, z_flip, x, cam, root):
    """The first iteration as the seed runs it: pseudo-targets from a forward of (x, flip(x)), then a step.

    ``forward`` must be the network that ``step`` differentiates: at z = x the distance term is
    then exactly 0 (a float32 target for a bf16 step would give it a random direction).
    """
    if flip:
        mu0, mu0_flip = _predict_pair(forward, z, z_flip)
    else:
        mu0 = mu0_flip = forward(z)
    return (*step(z, z_flip, x, mu0, mu0_flip, cam, root), mu0, mu0_flip)


@contextlib.contextmanager
def frozen(model):
    """Eval mode with weights excluded from autograd; restores the model's previous state."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval().requires_grad_(False)
    try:
        yield model
    finally:
        for param, flag in zip(model.parameters(), flags):
            param.requires_grad_(flag)
        model.train(was_training)


def _model_callables(model, config: TTOConfig):
    import torch

    from .objective import first_value_and_grad, value_and_grad

    def forward(x):
        with torch.no_grad():
            return model(x)[0]

    def step(*args):
        return value_and_grad(model, *args, config=config)

    def first_step(*args):
        return first_value_and_grad(model, *args, config=config)

    return forward, step, first_step


def _restore_shape(pose, like):
    return pose[:, None] if like.ndim == 4 else pose


def predict(model, x, flip: bool = True):
    """Flip-averaged, root-zeroed prediction for x (B, 17, 2) or (B, 1, 17, 2); same leading shape."""
    joints = as_joint_batch(x, 2, "x")
    with frozen(model):
        forward = _model_callables(model, TTOConfig(flip=flip))[0]
        pose = flip_average(forward, joints, skeleton.flip_pose(joints), flip)
    return _restore_shape(pose, x)


def optimize(model, x, cam, root, iters: int = 4,
             lr: float = 1e-3, w_gauss: float = 0.005, w_proj: float = 1.0, flip: bool = True,
             return_losses: bool = False, **adam):
    """UAO in PyTorch with frozen weights: x (B, [1,] 17, 2), cam (B, 9), root (B, [1, 1,] 3).

    Returns the refined root-zeroed pose with x's leading shape (and the per-iteration batch-mean
    losses when ``return_losses``).
    """
    config = TTOConfig(iters=iters, lr=lr, w_gauss=w_gauss, w_proj=w_proj, flip=flip, **adam)
    joints = as_joint_batch(x, 2, "x")
    cam = as_vector_batch(cam, CAM_DIM, "cam", len(joints))
    root = as_vector_batch(root, 3, "root", len(joints))
    with frozen(model):
        forward, step, first_step = _model_callables(model, config)
        pose, losses = refine(forward, step, joints, cam, root, config, first_step)
    pose = _restore_shape(pose, x)
    return (pose, [float(loss.mean()) for loss in losses]) if return_losses else pose
