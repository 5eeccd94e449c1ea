"""A smooth root trajectory for a whole video, by one linear least-squares solve.

Per frame, :func:`uao_deploy.camera.estimate_root` finds the root that best reprojects the pose;
alone it jumps by decimetres from frame to frame (mostly in depth). Here all frames are solved
together with a penalty ``smoothness`` x sum_t ||r_{t+1} - 2 r_t + r_{t-1}||^2 on the trajectory's
acceleration: the normal equations are banded (each frame couples to two neighbours on each side),
so an hour of video is one banded solve of O(T) time and memory.
"""
from __future__ import annotations

import importlib
import sys
import threading
from functools import lru_cache

import numpy as np

from .camera import root_normal_equations
from .errors import UaoError

# Half bandwidth of the normal matrix, unknowns ordered frame by frame (x, y, z): the acceleration
# couples frames t-2..t+2 (offset 6) and a frame's own 3x3 block adds 2 more.
_BAND = 8
STD_CHUNK, STD_MARGIN = 64, 48  # frames: root_trajectory_std's pieces and the context each sees


def import_solver_ahead() -> None:
    """Start importing SciPy's banded solver (every lift's smoothing solves) on a thread, unless it is
    imported. Its import is most of a short clip's fixed cost; on a thread it overlaps the caller's work
    outside the GIL (ONNX Runtime opening its sessions). A failed import is left to the first solve,
    which imports again and reports it."""
    def load():
        try:
            importlib.import_module("scipy.linalg")
        except ImportError:
            pass

    if "scipy.linalg" not in sys.modules:
        threading.Thread(target=load, name="uao-import-scipy").start()


def _second_difference_gram(frames: int) -> np.ndarray:
    """D^T D (T, T) of the second-difference operator D ((T-2) x T), returned as its 5 diagonals."""
    diagonals = np.zeros((5, frames))  # offsets -2..2
    for start in range(frames - 2):
        stencil = np.array([1.0, -2.0, 1.0])
        for i in range(3):
            for j in range(3):
                diagonals[2 + (j - i), start + i] += stencil[i] * stencil[j]
    return diagonals


def keypoint_noise_variance(keypoints: np.ndarray, detected: np.ndarray) -> float:
    """Variance (per axis, units of ``keypoints``) of the frame-to-frame noise of keypoint tracks (T, J, 2).

    From the second differences of the tracks over three detected frames: motion is smooth at video
    rates, white noise of variance v gives second differences of variance 6 v. The median absolute
    deviation keeps fast motion and gross detector errors out. A detector's slow drift passes unseen.
    """
    keypoints = np.asarray(keypoints, np.float64)
    usable = detected[2:] & detected[1:-1] & detected[:-2]
    if usable.sum() < 10:
        return 0.0
    second = (keypoints[2:] - 2 * keypoints[1:-1] + keypoints[:-2])[usable]
    deviation = np.median(np.abs(second - np.median(second, axis=0)))
    return float((1.4826 * deviation) ** 2 / 6)


def _trajectory_system(pose, keypoints, cam, weights, smoothness: float, keypoint_variance: float,
                       around: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The banded normal matrix ((2 * _BAND + 1, 3T), solve_banded layout) and right-hand side (3T,) of
    :func:`estimate_root_trajectory` (one Gauss-Newton step from the trajectory ``around``, if given)."""
    if smoothness < 0:
        raise UaoError(f"the root smoothness must be >= 0; got {smoothness}")
    normal, rhs = root_normal_equations(pose, keypoints, cam, weights, keypoint_variance, around)
    frames = len(normal)
    banded = np.zeros((2 * _BAND + 1, 3 * frames))  # solve_banded layout: banded[u + i - j, j] = A[i, j]
    for i in range(3):
        for j in range(3):
            banded[_BAND + i - j, np.arange(frames) * 3 + j] += normal[:, i, j]
    banded[_BAND] += 1e-12
    gram = _second_difference_gram(frames)
    for offset in range(-2, 3):
        for axis in range(3):
            # A[3t + axis, 3(t + offset) + axis] += smoothness * gram(t, t + offset)
            columns = np.arange(max(0, -offset), min(frames, frames - offset)) + offset
            banded[_BAND - 3 * offset, columns * 3 + axis] += smoothness * gram[2 + offset, columns - offset]
    return banded, rhs.reshape(-1)


def estimate_root_trajectory(pose: np.ndarray, keypoints: np.ndarray, cam: np.ndarray, weights: np.ndarray,
                             smoothness: float, keypoint_variance: float = 0.0, steps: int = 0) -> np.ndarray:
    """Camera-frame roots (T, 3) minimising the per-frame reprojection residuals plus the acceleration penalty.

    Arguments as :func:`uao_deploy.camera.estimate_root` (frames in order); ``smoothness`` 0 gives its
    result; ``keypoint_variance`` as :func:`uao_deploy.camera.root_normal_equations`. ``steps``
    Gauss-Newton steps on the reprojection error itself follow that linear solve (its ``around``):
    unbiased under any keypoint noise, without a noise estimate.
    """
    from scipy.linalg import solve_banded

    banded, rhs = _trajectory_system(pose, keypoints, cam, weights, smoothness, keypoint_variance)
    trajectory = solve_banded((_BAND, _BAND), banded, rhs).reshape(-1, 3)
    for _ in range(steps):
        if not (np.isfinite(trajectory).all() and (trajectory[:, 2] > 0).all()):
            break  # a root behind the camera has no reprojection to linearize: the linear solve stands
        banded, rhs = _trajectory_system(pose, keypoints, cam, weights, smoothness, 0.0, trajectory)
        trajectory = solve_banded((_BAND, _BAND), banded, rhs).reshape(-1, 3)
    return trajectory.astype(np.float32)


def root_trajectory_std(pose: np.ndarray, keypoints: np.ndarray, cam: np.ndarray, weights: np.ndarray,
                        smoothness: float, trajectory: np.ndarray, keypoint_variance: float = 0.0,
                        chunk: int = STD_CHUNK, margin: int = STD_MARGIN) -> np.ndarray:
    """Standard deviation (T, 3) of each frame's root in :func:`estimate_root_trajectory`'s least squares:
    the diagonal of its posterior covariance, sigma^2 A^-1 (A the normal matrix with the smoothness
    prior), sigma^2 the weighted reprojection residual of ``trajectory`` per degree of freedom.

    A^-1's diagonal is found ``chunk`` frames at a time from the system cut to ``margin`` frames either
    side (the prior couples frames over a few frames only: the cut adds a little at a video's ends)."""
    from scipy.linalg import solve_banded

    pose, keypoints = np.asarray(pose, np.float64), np.asarray(keypoints, np.float64)
    cam, root = np.asarray(cam, np.float64), np.asarray(trajectory, np.float64)
    banded, _ = _trajectory_system(pose, keypoints, cam, weights, smoothness, keypoint_variance)
    frames, joints = pose.shape[:2]
    # Residual of each joint's reprojection equation, f (P + r)_axis - (u - c) (P + r)_z, weighted.
    points = pose + root[:, None]
    focal, centre = cam[:, None, :2], cam[:, None, 2:4]
    residual = (focal * points[..., :2] - (keypoints - centre) * points[..., 2:]) * np.sqrt(weights)[..., None]
    variance = float(np.square(residual).sum()) / max(2 * joints * frames - 3 * frames, 1)
    diagonal = np.empty(3 * frames)
    for start in range(0, frames, chunk):
        low, stop, high = max(0, start - margin), min(frames, start + chunk), min(frames, start + chunk + margin)
        unknowns = np.arange(3 * start, 3 * stop)
        identity = np.zeros((3 * (high - low), len(unknowns)))
        identity[unknowns - 3 * low, np.arange(len(unknowns))] = 1
        inverse = solve_banded((_BAND, _BAND), banded[:, 3 * low:3 * high], identity)
        diagonal[unknowns] = inverse[unknowns - 3 * low, np.arange(len(unknowns))]
    return np.sqrt(variance * np.maximum(diagonal, 0)).reshape(frames, 3).astype(np.float32)


def smooth_tracks(values: np.ndarray, weights: np.ndarray, smoothness: float) -> np.ndarray:
    """Per-track weighted smoothing: minimise sum_t w_t (y_t - v_t)^2 + smoothness sum_t ||accel y||^2.

    values (T, ...) with weights broadcastable to them (e.g. per joint, from the network's
    uncertainty and the detector's confidence); each trailing element is its own track. A
    confident frame stays close to its value, an unsure one follows its neighbours.
    """
    from scipy.linalg import solve_banded

    values = np.asarray(values, dtype=np.float64)
    frames = len(values)
    if frames < 3 or smoothness == 0:
        return values.astype(np.float32)
    flat = values.reshape(frames, -1)
    weights = np.broadcast_to(np.asarray(weights, dtype=np.float64), values.shape).reshape(frames, -1)
    gram = smoothness * _second_difference_gram(frames)
    smoothed = np.empty_like(flat)
    for track in range(flat.shape[1]):
        banded = np.zeros((5, frames))
        for offset in range(-2, 3):  # banded[2 - offset, t + offset] = A[t, t + offset]
            rows = np.arange(max(0, -offset), min(frames, frames - offset))
            banded[2 - offset, rows + offset] = gram[2 + offset, rows]
        banded[2] += weights[:, track] + 1e-12
        smoothed[:, track] = solve_banded((2, 2), banded, weights[:, track] * flat[:, track])
    return smoothed.reshape(values.shape).astype(np.float32)


def moving_median(track: np.ndarray, window: int, ends: str = "shorter", chunk: int = 4096) -> np.ndarray:
    """Centred moving median (float64) of ``track`` (T, ...) over ``window`` frames (rounded up to odd).

    At the ends the window is ``"shorter"``, or the end frame repeats (``"nearest"``: as
    ``scipy.ndimage.median_filter``'s mode, without importing scipy.ndimage, a tenth of a short clip's
    time). Computed ``chunk`` frames at a time: the median copies each frame's window."""
    half = window // 2
    padding = ((half, half),) + ((0, 0),) * (np.ndim(track) - 1)
    track = np.asarray(track, np.float64)
    padded = np.pad(track, padding, mode="edge") if ends == "nearest" else np.pad(track, padding,
                                                                                  constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (T, ..., window)
    median = np.median if ends == "nearest" else np.nanmedian
    return np.concatenate([median(windows[start:start + chunk], axis=-1) for start in range(0, len(track), chunk)])


def smoothed_noise_share(weight: float, smoothness: float, frames: int = 101, frame: int | None = None) -> float:
    """The share of white noise's variance that :func:`smooth_tracks` leaves at ``frame`` (default: the
    middle) of a track of ``frames`` frames of constant ``weight``.

    The smoother is linear: that frame's value is a weighted sum of the track's values, and white
    noise passes as the sum of the squared weights (the frame's row of the smoother, found by
    smoothing impulses). The last frame, where a causal smoother reads, keeps more than the middle.
    """
    return _smoothed_noise_share(round(float(weight), 2), float(smoothness), frames, frames // 2 if frame is None
                                 else frame % frames)


@lru_cache(maxsize=256)
def _smoothed_noise_share(weight: float, smoothness: float, frames: int, frame: int) -> float:
    row = smooth_tracks(np.eye(frames), np.full((frames, frames), weight), smoothness)[frame]
    return float(np.square(row, dtype=np.float64).sum())
