"""Sequence mode of ``uao infer``: a smooth root trajectory, UAO through it, uncertainty-weighted smoothing.

0. Keypoints: each 2D keypoint track is smoothed over time, weighted by the detector confidence
   c, with ``KEYPOINT_SMOOTHNESS`` x its squared acceleration (:func:`denoise_keypoints`). The
   detector's frame-to-frame noise makes the network's poses noisier and smaller, and the pose
   look larger in 2D (so the root nearer); smoothing removes four fifths of its variance, and the
   steps below see the smoothed keypoints. Its noise variance, measured from the raw tracks
   (:func:`uao_deploy.trajectory.keypoint_noise_variance`), is carried as the share the smoothing
   leaves.

Then, given the flip-averaged poses of those keypoints, the network's uncertainty exp(s) and c:

1. Root trajectory: all frames' roots in one least-squares solve of the per-frame reprojection
   equations (:func:`uao_deploy.camera.estimate_root`), joints weighted by
   ``c * (UNCERTAINTY_REF / exp(s)) ** ROOT_UNCERTAINTY_POWER``, plus ``ROOT_SMOOTHNESS`` x the
   squared acceleration of the trajectory (:func:`uao_deploy.trajectory.estimate_root_trajectory`).
   Two biases of that fit are taken out: the noise left in the keypoints makes a pose look larger
   and the root nearer, so its variance is subtracted from the normal equations; and the model's
   own bias (its poses spread wider than the truth, so the root sits too far) is its calibrated
   depth scale (:class:`uao_deploy.contract.Calibration`), applied to the trajectory.
2. Sequence UAO (:mod:`uao_deploy.tto.sequence`) from that trajectory, in overlapping windows on
   any engine (:func:`uao_deploy.jobs.sequence.refine_video`): the 2D inputs move under the
   reprojection (through the trajectory), pseudo-target, smoothness and bone-length terms (the
   trajectory too where ``SequenceConfig.lr_root`` > 0; by default it stays, see there).
3. Pose smoothing: each root-relative joint coordinate over time, weighted by
   ``c * UNCERTAINTY_REF / exp(s)``, with ``POSE_SMOOTHNESS`` x its squared acceleration
   (:func:`uao_deploy.trajectory.smooth_tracks`): an unsure joint follows its neighbours in time.

Causal use solves steps 0, 1 and 3 on the ``CAUSAL_WINDOW`` frames that end at the current frame
and keeps that frame's value (at the last frame the keypoint smoothing keeps about half the noise
variance, against a fifth inside a sequence), and runs UAO on the current frame only: each new
frame costs one frame's network work plus three small banded solves. The constants were chosen on
the validation clips (CMU val through the Human3.6M test cameras, 4 and 8 px video noise), see
README-video.
"""
from __future__ import annotations

import time

import numpy as np

from .. import skeleton
from ..tto import flip_average
from ..tto.config import UNCERTAINTY_REF
from ..trajectory import (estimate_focal_scale, estimate_root_trajectory, keypoint_noise_variance,
                          smooth_tracks, smoothed_noise_share)
from .sequence import OVERLAP, WINDOW, refine_video

ROOT_UNCERTAINTY_POWER = 0.5
ROOT_SMOOTHNESS = 3000.0
POSE_SMOOTHNESS = 3.0
# Chosen from 0.3, 1 and 3 on the train and val clips: 3 had the lowest root error at 4 and 8 px (val 8 px:
# 140 mm unsmoothed, 138 with 1, 136 with 3) and cost 0.6 mm at 0 px.
KEYPOINT_SMOOTHNESS = 3.0
CAUSAL_WINDOW = 50  # frames (1 s at 50 fps)
# An unknown focal length: the scale fitted to the sequence is noisy (perspective is a weak cue; on the
# val clips its log error is 9 % on average, up to 24 %), so it is combined with the default camera's
# (focal = the image's longer side, 53 degrees across it) as a log-normal prior: a weighted mean in
# log space. The weight was chosen on the val clips (4 px, rechecked with the calibrated, smoothed
# pipeline: root error 444 mm with the fitted scale alone, 620 mm with the prior alone, 312 mm with
# 0.25, 297 mm with 0.5).
FOCAL_PRIOR_WEIGHT = 0.5

SETTINGS = {"uncertainty_ref_m": UNCERTAINTY_REF, "root_uncertainty_power": ROOT_UNCERTAINTY_POWER,
            "root_smoothness": ROOT_SMOOTHNESS, "pose_smoothness": POSE_SMOOTHNESS,
            "keypoint_smoothness": KEYPOINT_SMOOTHNESS, "window": WINDOW,
            "overlap": OVERLAP, "focal_prior_weight": FOCAL_PRIOR_WEIGHT}


def root_weights(confidence: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    return confidence * (UNCERTAINTY_REF / uncertainty) ** ROOT_UNCERTAINTY_POWER


def pose_weights(confidence: np.ndarray, uncertainty: np.ndarray) -> np.ndarray:
    return (confidence * UNCERTAINTY_REF / uncertainty)[..., None]


def denoise_keypoints(x: np.ndarray, confidence: np.ndarray, detected: np.ndarray,
                      last_frame: bool = False) -> tuple[np.ndarray, float, float]:
    """Step 0: (smoothed keypoints (T, 17, 2), noise variance measured in ``x``, noise variance left in them:
    inside the sequence, or at its last frame where ``last_frame``, as a causal window reads it)."""
    measured = keypoint_noise_variance(x, detected)
    smoothed = smooth_tracks(x, confidence[..., None], KEYPOINT_SMOOTHNESS)
    at = (len(x), -1) if last_frame else ()
    return smoothed, measured, measured * smoothed_noise_share(float(confidence.mean()), KEYPOINT_SMOOTHNESS, *at)


def predict_with_uncertainty(engine, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flip-averaged root-zeroed poses (T, 17, 3), exp(s) of the unflipped input (T, 17)) from one forward."""
    uncertainty = {}

    def forward(both):
        mu, s = engine.forward(both, return_uncertainty=True)
        uncertainty["exp_s"] = np.exp(s[:len(x), :, 0])
        return mu

    pose = flip_average(forward, x, skeleton.flip_pose(x), engine.tto_config.flip)
    return pose, uncertainty["exp_s"]


def focal_scale(x, cams, poses, uncertainty, confidence) -> tuple[float, float]:
    """(scale to use, scale fitted to the sequence alone) of the focal length in ``cams`` (the default camera)."""
    fitted = estimate_focal_scale(poses, x, cams, root_weights(confidence, uncertainty))
    return fitted ** (1 - FOCAL_PRIOR_WEIGHT), fitted


def root_trajectory(x, cams, poses, uncertainty, confidence, keypoint_variance: float = 0.0,
                    depth_scale: float = 1.0) -> np.ndarray:
    """Step 1 for a whole sequence: the smooth root trajectory (T, 3), corrected for the keypoints' noise
    (``keypoint_variance``, see :func:`uao_deploy.camera.root_normal_equations`) and scaled by the model's
    calibrated ``depth_scale`` (:class:`uao_deploy.contract.Calibration`)."""
    trajectory = estimate_root_trajectory(poses, x, cams, root_weights(confidence, uncertainty), ROOT_SMOOTHNESS,
                                          keypoint_variance)
    return trajectory * np.float32(depth_scale)


def refine_and_smooth(engine, x, cams, root, uncertainty, confidence, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2 and 3 for a whole sequence: (root-zeroed poses (T, 17, 3), root trajectory (T, 3))."""
    refined = refine_video(engine, x, confidence, cams[0], root, iters)
    poses = smooth_tracks(refined.poses_3d, pose_weights(confidence, uncertainty), POSE_SMOOTHNESS)
    return skeleton.zero_root(poses), refined.root


def lift_causal(engine, x, cams, confidence, detected, iters: int):
    """(poses, root, per-frame latency in ms (T,), plain poses, uncertainty exp(s) (T, 17)): frame t sees
    frames up to t only, one frame at a time."""
    frames = len(x)
    poses, refined, uncertainty = np.zeros((frames, 17, 3), np.float32), np.zeros((frames, 17, 3), np.float32), \
        np.zeros((frames, 17), np.float32)
    output, root, latency = np.zeros_like(poses), np.zeros((frames, 3), np.float32), np.zeros(frames)
    keypoints = np.zeros_like(x)
    for frame in range(frames):
        started = time.perf_counter()
        now, past = slice(frame, frame + 1), slice(max(0, frame - CAUSAL_WINDOW + 1), frame + 1)
        smoothed, _, noise_left = denoise_keypoints(x[past], confidence[past], detected[past], last_frame=True)
        keypoints[frame] = smoothed[-1]
        poses[now], uncertainty[now] = predict_with_uncertainty(engine, keypoints[now])
        root[frame] = root_trajectory(keypoints[past], cams[past], poses[past], uncertainty[past], confidence[past],
                                      noise_left, engine.calibration.root_depth_scale)[-1]
        refined[now] = engine.tto(keypoints[now], cams[now], root[now], iters=iters)
        output[frame] = smooth_tracks(refined[past], pose_weights(confidence[past], uncertainty[past]),
                                      POSE_SMOOTHNESS)[-1]
        latency[frame] = (time.perf_counter() - started) * 1000
    return skeleton.zero_root(output), root, latency, poses, uncertainty
