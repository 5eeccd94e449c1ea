"""The one estimate of an unknown focal length: from the perspective of a whole sequence, with its
interval, or the default camera where the fit cannot be trusted.

Perspective makes a pose of known depth extent reproject best at the true focal length: for each
factor on the default focal length (0.5-2, ``FOCAL_SCALES``) every frame's least-squares root is
found and the weighted RMS reprojection residual of the whole sequence taken; the minimum, refined
by a parabola through its neighbours, is the fitted factor. The minimum is shallow (a 10 % wrong
focal costs ~1 % of residual) and the fit noisy, so the factor used is a weighted mean in log space
with the default camera's (``FOCAL_PRIOR_WEIGHT``, a log-normal prior). Its uncertainty is that of
a block bootstrap over frames (blocks of ``BLOCK_FRAMES``: neighbouring frames share their errors)
combined with ``ESTIMATE_LOG_STD``, the per-clip error no resampling of one clip shows: mostly the
lifter's pull towards the camera it was trained with, whatever the video's; the camera carries it as the
standard deviation of log(focal length) and its 90 % interval. A fit at or next to the end of the
range, without a minimum, on fewer than ``MIN_FRAMES`` frames, or whose bootstrap resamples reach
the end of the range, is rejected: the default camera is used, with the default's own spread
(``DEFAULT_LOG_STD``), and the camera says why (``FocalSource.FALLBACK``). docs/focal-length.md has
the measurements behind the constants.
"""
from __future__ import annotations

import numpy as np

from ..camera import estimate_root
from .camera import DEFAULT_LOG_STD, Camera, FocalSource

FOCAL_SCALES = np.exp(np.linspace(np.log(0.5), np.log(2.0), 57))  # 2.5 % apart
_LOG_SCALES = np.log(FOCAL_SCALES)
# Weight of the default focal length in the log-space mean; chosen on the val clips (docs/pipeline.md).
FOCAL_PRIOR_WEIGHT = 0.5
# Log-space standard deviation of the factor used, per clip, beyond its bootstrap's. The fit is drawn to the
# camera the lifter was trained with (Human3.6M's): on the val clips through cameras of 0.8, 1.15 and 1.6 x
# the image width the factor used is off by +0.24, -0.06 and -0.36 in log; this is their RMS, so that the
# 90 % interval holds the truth for the cameras users have, not only for the training camera
# (docs/focal-length.md).
ESTIMATE_LOG_STD = 0.26
Z90 = 1.6449  # the 95th percentile of a standard normal: a 90 % interval is +-Z90 standard deviations
MAX_FRAMES = 2000  # frames the fit uses, evenly taken: more add time, not information
MIN_FRAMES = 20  # fewer frames show too little depth change to tell the focal length
BLOCK_FRAMES = 25  # bootstrap block: about a second of video
RESAMPLES = 200


def frame_residuals(pose: np.ndarray, keypoints: np.ndarray, cam: np.ndarray,
                    weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weighted squared reprojection residual (S, T) of each frame at each of the S ``FOCAL_SCALES``,
    weight of each frame (T,)): poses (T, 17, 3) placed at their per-frame least-squares roots."""
    pose = np.asarray(pose, np.float64)
    weights = np.asarray(weights, np.float64)
    residuals = np.empty((len(FOCAL_SCALES), len(pose)))
    for index, scale in enumerate(FOCAL_SCALES):
        scaled = np.array(cam, np.float64)
        scaled[:, :2] *= scale
        placed = pose + estimate_root(pose, keypoints, scaled, weights).astype(np.float64)[:, None]
        projected = scaled[:, None, :2] * placed[..., :2] / placed[..., 2:3] + scaled[:, None, 2:4]
        residuals[index] = (((projected - keypoints) ** 2).sum(axis=-1) * weights).sum(axis=1)
    return residuals, weights.sum(axis=1)


def curve_minima(rms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale at the minimum (N,), grid index of the minimum (N,), whether it is a true minimum (N,))
    of N residual curves (N, S) over ``FOCAL_SCALES``: the grid minimum refined by a parabola."""
    rows = np.arange(len(rms))
    best = rms.argmin(axis=1)
    inner = np.clip(best, 1, len(FOCAL_SCALES) - 2)
    left, centre, right = rms[rows, inner - 1], rms[rows, inner], rms[rows, inner + 1]
    curvature = left - 2 * centre + right
    minimum = (best == inner) & (curvature > 0)
    offset = np.where(minimum, 0.5 * (left - right) / np.where(curvature > 0, curvature, 1), 0.0)
    return np.exp(_LOG_SCALES[best] + offset * (_LOG_SCALES[1] - _LOG_SCALES[0])), best, minimum


def estimate_focal_scale(pose, keypoints, cam, weights, max_frames: int = MAX_FRAMES) -> float:
    """The factor on the focal length in ``cam`` (T, 9) whose per-frame roots reproject ``pose`` best."""
    step = max(1, len(pose) // max_frames)
    residuals, frame_weights = frame_residuals(pose[::step], keypoints[::step], np.asarray(cam)[::step],
                                               weights[::step])
    return float(curve_minima(np.sqrt(residuals.sum(axis=1) / frame_weights.sum())[None])[0][0])


def estimate_focal(camera: Camera, x: np.ndarray, poses: np.ndarray, weights: np.ndarray, seed: int = 0) -> Camera:
    """``camera`` (the default one) with the focal length estimated from normalized keypoints ``x``
    (T, 17, 2), root-relative ``poses`` (T, 17, 3) and root-fit ``weights`` (T, 17); or, where the fit
    is rejected, ``camera`` marked ``FocalSource.FALLBACK`` with the reason."""
    step = max(1, len(x) // MAX_FRAMES)
    x, poses, weights = x[::step], poses[::step], weights[::step]
    if len(x) < MIN_FRAMES:
        return _fallback(camera, f"{len(x)} frames are too few to estimate it from (at least {MIN_FRAMES})")
    cams = np.repeat(camera.normalized()[None], len(x), axis=0)
    residuals, frame_weights = frame_residuals(poses, x, cams, weights)
    fitted, best, minimum = (value[0] for value in curve_minima(
        np.sqrt(residuals.sum(axis=1) / frame_weights.sum())[None]))
    edge = min(best, len(FOCAL_SCALES) - 1 - best) <= 1
    if edge or not minimum:
        return _fallback(camera, f"the fit lies at the end of the range searched ({FOCAL_SCALES[0]:g}-"
                                 f"{FOCAL_SCALES[-1]:g} x the default)" if edge else "the fit has no minimum")
    samples, sample_edge = _bootstrap(residuals, frame_weights, seed)
    if sample_edge > 0.05:
        return _fallback(camera, f"the fit is ill-conditioned: {100 * sample_edge:.0f} % of bootstrap resamples "
                                 "end at the range searched")
    shrink = 1 - FOCAL_PRIOR_WEIGHT
    log_used = shrink * np.log(fitted)
    log_std = float(np.hypot(shrink * np.log(samples).std(), ESTIMATE_LOG_STD))
    interval = np.exp(log_used + np.array([-Z90, Z90]) * log_std) * camera.fx
    return camera.scaled_focal(
        float(np.exp(log_used)), FocalSource.ESTIMATED, interval,
        f"fitted to the sequence: {fitted:.3f} x the default, weighed with the default (1.0) by "
        f"{FOCAL_PRIOR_WEIGHT:g} in log space: {np.exp(log_used):.3f} x; 90 % interval from a block bootstrap "
        f"over frames and the estimate's error over cameras on the val clips", log_std)


def _bootstrap(residuals: np.ndarray, frame_weights: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """(fitted scales of ``RESAMPLES`` block-bootstrap resamples, share of them at the range's ends)."""
    frames = residuals.shape[1]
    block = max(1, min(BLOCK_FRAMES, frames // 8))
    edges = np.arange(0, frames, block)
    block_residuals = np.add.reduceat(residuals, edges, axis=1)  # (S, blocks)
    block_weights = np.add.reduceat(frame_weights, edges)
    picks = np.random.default_rng(seed).integers(0, len(edges), (RESAMPLES, len(edges)))
    rms = np.sqrt(block_residuals[:, picks].sum(axis=2).T / block_weights[picks].sum(axis=1)[:, None])
    scales, best, _ = curve_minima(rms)
    return scales, float(np.mean(np.minimum(best, len(FOCAL_SCALES) - 1 - best) <= 1))


def _fallback(camera: Camera, reason: str) -> Camera:
    return camera.scaled_focal(1.0, FocalSource.FALLBACK, note=f"estimate rejected: {reason}; {camera.focal_note}",
                               log_std=DEFAULT_LOG_STD)
