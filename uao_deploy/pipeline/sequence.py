"""The steps of the sequence and causal strategies: denoised keypoints, a smooth root trajectory,
sequence UAO through it on any engine, uncertainty-weighted smoothing.

0. Keypoints: each 2D keypoint track is smoothed over time, weighted by the detector confidence
   c, with ``KEYPOINT_SMOOTHNESS`` x its squared acceleration (:func:`denoise_keypoints`). The
   detector's frame-to-frame noise makes the network's poses noisier and smaller, and the pose
   look larger in 2D (so the root nearer); the steps below see the smoothed keypoints. Its noise
   variance, measured from the raw tracks (:func:`uao_deploy.trajectory.keypoint_noise_variance`),
   is carried as the share the smoothing leaves.

Then, given the flip-averaged poses of those keypoints, the network's uncertainty exp(s) and c:

1. Root trajectory: all frames' roots in one least-squares solve of the per-frame reprojection
   equations (:func:`uao_deploy.camera.estimate_root`), joints weighted by
   ``c * (UNCERTAINTY_REF / exp(s)) ** ROOT_UNCERTAINTY_POWER``, plus ``ROOT_SMOOTHNESS`` x the
   squared acceleration of the trajectory (:func:`uao_deploy.trajectory.estimate_root_trajectory`),
   solved on the reprojection error itself (Gauss-Newton steps from the linear solve), which keypoint
   noise of any kind leaves unbiased in the image (the lifter's pose still bends towards noisy
   keypoints: docs/root-depth.md). The model's own bias (its poses spread wider than the truth, so
   the root sits too far) is its calibrated depth scale (:class:`uao_deploy.contract.Calibration`),
   applied to the trajectory.
2. Sequence UAO (:mod:`uao_deploy.tto.sequence`) from that trajectory, in overlapping windows on
   any engine (:func:`refine_video`): the 2D inputs move under the reprojection (through the
   trajectory), pseudo-target, smoothness and bone-length terms.
3. Pose smoothing: each root-relative joint coordinate over time, weighted by
   ``c * UNCERTAINTY_REF / exp(s)``, with ``POSE_SMOOTHNESS`` x its squared acceleration
   (:func:`uao_deploy.trajectory.smooth_tracks`): an unsure joint follows its neighbours in time.

Causal use (:func:`lift_causal`) solves steps 0, 1 and 3 on the ``CAUSAL_WINDOW`` frames that end
at the current frame and keeps that frame's value, and runs UAO on the current frame only: each
new frame costs one frame's network work plus three small banded solves. The constants were chosen
on the validation clips; their measurements are in docs/ and benchmarks/results.
"""
from __future__ import annotations

import time

import numpy as np

from .. import skeleton
from ..camera import CAM_DIM
from ..contract import WINDOW_FRAMES
from ..errors import UaoError
from ..tto import flip_average
from ..tto.config import UNCERTAINTY_REF
from ..tto.windows import Stitcher
from ..trajectory import (estimate_root_trajectory, keypoint_noise_variance, root_trajectory_std, smooth_tracks,
                          smoothed_noise_share)

ROOT_UNCERTAINTY_POWER = 0.5
ROOT_SMOOTHNESS = 3000.0
POSE_SMOOTHNESS = 3.0
KEYPOINT_SMOOTHNESS = 3.0
CAUSAL_WINDOW = 50  # frames (1 s at 50 fps)
WINDOW = WINDOW_FRAMES
OVERLAP = 10  # frames shared with each neighbour: 11 % more work than no overlap
ROOT_GAUSS_NEWTON_STEPS = 2  # the first converges to within a millimetre; the second makes sure
# The least squares take the lifted pose as exact; its errors, alike over neighbouring frames, move the
# root more than the reprojection residual says: per axis (x, y, z), the least squares' standard deviation
# is multiplied by ROOT_STD_SCALE. And the lifter gives a subject it has not seen a size a little off,
# which moves the whole root by one factor per clip, whatever the residual: ROOT_SIZE_STD is that factor's
# relative standard deviation (the per-clip depth ratio's on the val clips at 0 px). With it, ROOT_STD_SCALE
# was chosen so that 1 and 2 root_std hold the root's error as often as a normal distribution's would on
# the train and val clips' grid cells (docs/root-depth.md).
ROOT_STD_SCALE = np.array([8.75, 7.75, 6.25], np.float32)
ROOT_SIZE_STD = 0.014

SETTINGS = {"uncertainty_ref_m": UNCERTAINTY_REF, "root_uncertainty_power": ROOT_UNCERTAINTY_POWER,
            "root_smoothness": ROOT_SMOOTHNESS, "pose_smoothness": POSE_SMOOTHNESS,
            "keypoint_smoothness": KEYPOINT_SMOOTHNESS, "window": WINDOW, "overlap": OVERLAP}


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


def root_trajectory(x, cams, poses, uncertainty, confidence, keypoint_variance: float = 0.0,
                    depth_scale: float = 1.0) -> np.ndarray:
    """Step 1 for a whole sequence: the smooth root trajectory (T, 3) on the reprojection error
    (``ROOT_GAUSS_NEWTON_STEPS`` from the linear solve corrected for ``keypoint_variance``, see
    :func:`uao_deploy.camera.root_normal_equations`), scaled by the model's calibrated ``depth_scale``
    (:class:`uao_deploy.contract.Calibration`)."""
    trajectory = estimate_root_trajectory(poses, x, cams, root_weights(confidence, uncertainty), ROOT_SMOOTHNESS,
                                          keypoint_variance, ROOT_GAUSS_NEWTON_STEPS)
    return trajectory * np.float32(depth_scale)


def root_std(x, cams, poses, uncertainty, confidence, root, keypoint_variance: float = 0.0,
             depth_scale: float = 1.0, focal_log_std: float = 0.0) -> np.ndarray:
    """Step 1's uncertainty: the standard deviation (T, 3) of each frame's root, metres: its least
    squares' (:func:`uao_deploy.trajectory.root_trajectory_std`, for ``root`` as :func:`root_trajectory`
    gave it) times ``ROOT_STD_SCALE``, combined with the subject's size error, ``ROOT_SIZE_STD`` x the root,
    and the focal length's: the depth, which scales with it, times ``focal_log_std``, the standard deviation
    of its log (:attr:`uao_deploy.pipeline.camera.Camera.focal_log_std`; the lateral position, which scales
    with depth over focal length, keeps none of it)."""
    least_squares = root_trajectory_std(poses, x, cams, root_weights(confidence, uncertainty), ROOT_SMOOTHNESS,
                                        root / np.float32(depth_scale), keypoint_variance)
    relative = np.hypot(ROOT_SIZE_STD, [0.0, 0.0, focal_log_std])
    return np.hypot(least_squares * np.float32(depth_scale) * ROOT_STD_SCALE, relative * root).astype(np.float32)


def refine_video(engine, x: np.ndarray, confidence: np.ndarray, cam: np.ndarray, root: np.ndarray,
                 iters: int | None = None, window: int = WINDOW, overlap: int = OVERLAP,
                 windows_per_call: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: sequence UAO of one video in overlapping windows, ``windows_per_call`` windows per
    engine call, cross-faded (:mod:`uao_deploy.tto.windows`), so memory stays bounded however long
    the video is. x (T, 17, 2) normalized, confidence (T, 17), cam (9,), root (T, 3) initial ->
    (root-zeroed poses (T, 17, 3), root trajectory (T, 3))."""
    frames = len(x)
    shapes = (x.shape[1:], confidence.shape, root.shape, cam.shape)
    if shapes != ((17, 2), x.shape[:2], (frames, 3), (CAM_DIM,)):
        raise UaoError(f"sequence UAO needs x (T, 17, 2), confidence (T, 17), cam ({CAM_DIM},) and root (T, 3); got "
                       f"{x.shape}, {confidence.shape}, {cam.shape} and {root.shape}")
    stitcher = Stitcher(frames, window, overlap)
    for first in range(0, len(stitcher.starts), windows_per_call):
        indices = range(first, min(first + windows_per_call, len(stitcher.starts)))
        spans = [slice(stitcher.starts[i], stitcher.starts[i] + stitcher.length) for i in indices]

        def gather(array):
            return np.stack([array[span] for span in spans])

        cams = np.repeat(cam[None], len(spans), axis=0)
        pose, trajectory, _ = engine.sequence_tto(gather(x), gather(confidence), cams, gather(root), iters)
        for row, index in enumerate(indices):
            stitcher.add(index, {"pose": pose[row], "root": trajectory[row]})
    return stitcher.result("pose"), stitcher.result("root")


def refine_and_smooth(engine, x, cam, root, uncertainty, confidence, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2 and 3 for a whole sequence: (root-zeroed poses (T, 17, 3), root trajectory (T, 3))."""
    refined, root = refine_video(engine, x, confidence, cam, root, iters)
    poses = smooth_tracks(refined, pose_weights(confidence, uncertainty), POSE_SMOOTHNESS)
    return skeleton.zero_root(poses), root


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
