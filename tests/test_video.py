"""Video mode: root trajectory and smoothing solves, focal estimate, windows, sequence UAO, infer modes."""
import json

import numpy as np
import pytest
import torch

from cli_runner import uao
from conftest import moving_person
from uao_deploy import UaoError, skeleton
from uao_deploy.camera import estimate_root, normalized_intrinsics, root_normal_equations
from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
from uao_deploy.engines import load
from uao_deploy.engines.torch import TorchEngine
from uao_deploy.pipeline import FocalSource, LiftSettings, camera_of, lift, prepare
from uao_deploy.pipeline import sequence as steps
from uao_deploy.pipeline.camera import DEFAULT_LOG_STD
from uao_deploy.pipeline.focal import (ESTIMATE_LOG_STD, FOCAL_PRIOR_WEIGHT, Z90, estimate_focal,
                                      estimate_focal_scale)
from uao_deploy.pipeline.sequence import refine_video
from uao_deploy.jobs.video_eval import video_metrics
from uao_deploy.model import GUMLP, GUMLPConfig
from uao_deploy.trajectory import (estimate_root_trajectory, keypoint_noise_variance, moving_median,
                                   root_trajectory_std, smooth_tracks, smoothed_noise_share)
from uao_deploy.contract import SequenceConfig
from uao_deploy.tto.optimize import adam_update, refine_sequence
from uao_deploy.tto.sequence import model_sequence_callables, sequence_value_and_grad
from uao_deploy.tto.windows import Stitcher, blend_weights, window_layout

WIDTH, HEIGHT, FOCAL = 1000.0, 1002.0, 1145.0


@pytest.fixture(scope="module")
def motion():
    """The embedded sample's ground truth: root-relative poses (T, 17, 3) and camera-frame roots (T, 3)."""
    with np.load(SAMPLE_PATH) as sample:
        return sample["poses_3d_gt"][:60].astype(np.float64), sample["root_gt"][:60].astype(np.float64)


def exact_keypoints(poses, roots, focal=FOCAL):
    """Normalized pinhole projections (T, 17, 2) and the intrinsics (T, 9)."""
    cam = normalized_intrinsics((focal, focal), (WIDTH / 2, HEIGHT / 2), WIDTH, HEIGHT)
    placed = poses + roots[:, None]
    x = cam[:2] * placed[..., :2] / placed[..., 2:3] + cam[2:4]
    return x, np.repeat(cam[None].astype(np.float64), len(poses), axis=0)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return GUMLP(GUMLPConfig(channels=32, layers=1)).eval().requires_grad_(False)


# --- root trajectory, smoothing, focal ------------------------------------------------------------
def test_clip_means_pool_foot_sliding_over_still_frames():
    from uao_deploy.jobs.video_eval import _clip_means

    # A walk with 100 still foot-frames sliding 1 mm, a run with 2 still foot-frames sliding 20 mm.
    per_clip = {"walk": {"foot_sliding": [1.0, 1.0], "still_foot_frames": [60.0, 40.0], "mpjpe": [50.0, 52.0]},
                "run": {"foot_sliding": [20.0], "still_foot_frames": [2.0], "mpjpe": [60.0]}}
    means = _clip_means(per_clip)
    assert means["foot_sliding"] == pytest.approx((100 * 1.0 + 2 * 20.0) / 102)  # pooled over the frames
    assert means["foot_sliding_clip_mean"] == pytest.approx(10.5)  # each clip weighs the same
    assert means["mpjpe"] == pytest.approx(55.5) and "still_foot_frames" not in means


def test_trajectory_without_smoothness_is_the_per_frame_root(motion):
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    weights = np.random.default_rng(0).uniform(0.5, 1, poses.shape[:2])
    np.testing.assert_allclose(estimate_root_trajectory(poses, x, cam, weights, 0.0),
                               estimate_root(poses, x, cam, weights), atol=1e-6)


def dense_trajectory_system(normal: np.ndarray, smoothness: float) -> np.ndarray:
    """The root trajectory's normal matrix (3T, 3T) written out: per-frame blocks plus the
    acceleration penalty."""
    frames = len(normal)
    second_difference = np.diff(np.eye(frames), n=2, axis=0)
    dense = np.zeros((3 * frames, 3 * frames))
    for frame in range(frames):
        dense[3 * frame:3 * frame + 3, 3 * frame:3 * frame + 3] = normal[frame]
    return dense + smoothness * np.kron(second_difference.T @ second_difference, np.eye(3))


def test_trajectory_is_the_dense_least_squares_solution(motion):
    poses, roots = motion
    poses, roots = poses[:12], roots[:12]
    x, cam = exact_keypoints(poses, roots)
    x = x + np.random.default_rng(1).normal(0, 0.01, x.shape)
    normal, rhs = root_normal_equations(poses, x, cam)
    dense = dense_trajectory_system(normal, 7.0)
    expected = np.linalg.solve(dense, rhs.reshape(-1)).reshape(12, 3)
    np.testing.assert_allclose(estimate_root_trajectory(poses, x, cam, None, 7.0), expected, atol=1e-5)


def test_root_std_is_the_least_squares_posterior_and_covers_the_error(motion):
    """root_trajectory_std: sigma^2 diag(A^-1) of the dense system (in pieces, exactly where each piece sees
    the whole video), and on noisy keypoints the root's error is about that large."""
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    rng = np.random.default_rng(4)
    noisy = x + rng.normal(0, 4 / 500, x.shape)
    trajectory = estimate_root_trajectory(poses, noisy, cam, None, 100.0)
    normal, _ = root_normal_equations(poses, noisy, cam)
    dense = dense_trajectory_system(normal, 100.0)
    exact = root_trajectory_std(poses, noisy, cam, np.ones((60, 17)), 100.0, trajectory, chunk=7, margin=60)
    placed = poses + trajectory[:, None]
    residual = cam[:, None, :2] * placed[..., :2] - (noisy - cam[:, None, 2:4]) * placed[..., 2:]
    variance = np.square(residual).sum() / (2 * 17 * 60 - 3 * 60)
    np.testing.assert_allclose(exact, np.sqrt(variance * np.diag(np.linalg.inv(dense))).reshape(60, 3), rtol=1e-4)
    pieces = root_trajectory_std(poses, noisy, cam, np.ones((60, 17)), 100.0, trajectory, chunk=16, margin=12)
    np.testing.assert_allclose(pieces, exact, rtol=0.02)
    errors = []
    for draw in range(20):
        noisy = x + rng.normal(0, 4 / 500, x.shape)
        trajectory = estimate_root_trajectory(poses, noisy, cam, None, 100.0)
        std = root_trajectory_std(poses, noisy, cam, np.ones((60, 17)), 100.0, trajectory)
        errors.append((trajectory - roots) / std)
    spread = np.sqrt(np.mean(np.square(errors), axis=(0, 1)))  # per axis: 1 where the std is right
    assert ((spread > 0.6) & (spread < 1.6)).all(), spread


def test_root_std_holds_the_subjects_size_error_where_the_residual_is_nil(motion):
    """sequence.root_std: on exact keypoints of the true pose the least squares see no error, yet a lifted
    subject's size is a little off: the depth's std is then about ROOT_SIZE_STD x the depth; with noise
    it is the two parts combined, never less than either."""
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    uncertainty, confidence = np.ones(poses.shape[:2]), np.ones(poses.shape[:2])
    root = steps.root_trajectory(x, cam, poses, uncertainty, confidence)
    std = steps.root_std(x, cam, poses, uncertainty, confidence, root)
    np.testing.assert_allclose(std[:, 2], steps.ROOT_SIZE_STD * root[:, 2], rtol=0.05)
    assert (std >= steps.ROOT_SIZE_STD * np.abs(root) - 1e-7).all()
    noisy = x + np.random.default_rng(5).normal(0, 8 / 500, x.shape)
    root = steps.root_trajectory(noisy, cam, poses, uncertainty, confidence)
    std = steps.root_std(noisy, cam, poses, uncertainty, confidence, root)
    least_squares = root_trajectory_std(poses, noisy, cam, steps.root_weights(confidence, uncertainty),
                                        steps.ROOT_SMOOTHNESS, root) * steps.ROOT_STD_SCALE
    np.testing.assert_allclose(std, np.hypot(least_squares, steps.ROOT_SIZE_STD * root), rtol=1e-4)
    assert (std > least_squares).all()
    # An estimated focal length adds its share to the depth alone (the lateral position does not scale with it).
    unknown = steps.root_std(noisy, cam, poses, uncertainty, confidence, root, focal_log_std=0.1)
    np.testing.assert_allclose(unknown[:, :2], std[:, :2], rtol=1e-5)
    np.testing.assert_allclose(unknown[:, 2], np.hypot(std[:, 2], 0.1 * root[:, 2]), rtol=1e-4)


def test_trajectory_removes_root_jitter(motion):
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    noisy = x + np.random.default_rng(2).normal(0, 4 / 500, x.shape)  # 4 px at 1000 px width
    weights = np.ones(poses.shape[:2])
    per_frame = np.linalg.norm(estimate_root(poses, noisy, cam, weights) - roots, axis=-1).mean()
    smooth = np.linalg.norm(estimate_root_trajectory(poses, noisy, cam, weights, 100.0) - roots, axis=-1).mean()
    assert smooth < 0.6 * per_frame
    with pytest.raises(UaoError, match="smoothness"):
        estimate_root_trajectory(poses, noisy, cam, weights, -1.0)


def test_smoothing_bridges_a_joint_the_detector_got_wrong():
    track = np.linspace(0, 1, 20)[:, None] * np.array([1.0, -2.0])
    corrupted = track.copy()
    corrupted[8:10] += 5.0  # a gross error for two frames
    weights = np.ones((20, 1))
    weights[8:10] = 0.0  # ... which the weights say not to trust
    np.testing.assert_allclose(smooth_tracks(corrupted, weights, 10.0), track, atol=1e-6)
    # Confident frames of a straight track stay where they are for any smoothness.
    np.testing.assert_allclose(smooth_tracks(track, np.ones((20, 1)), 1e3), track, atol=1e-6)


@pytest.mark.parametrize("frames", [1, 4, 11, 12, 300])
def test_moving_median_with_repeated_ends_is_scipys_median_filter(frames):
    """The feet's median over 11 frames (runtime without scipy.ndimage) is ndimage's, bit for bit."""
    from scipy.ndimage import median_filter

    track = np.random.default_rng(frames).standard_normal((frames, 3))
    track[::3, 1] = 0.25  # ties
    np.testing.assert_array_equal(moving_median(track, 11, "nearest"),
                                  median_filter(track, size=(11, 1), mode="nearest"))


@pytest.mark.parametrize("blocked", [False, True])
def test_the_solver_is_imported_ahead_on_a_thread_and_its_failure_left_to_the_solve(blocked):
    import subprocess
    import sys

    code = ("import sys, threading\n" + ("sys.modules['scipy.linalg'] = None\n" if blocked else "") +
            "from uao_deploy.trajectory import import_solver_ahead\nimport_solver_ahead()\n"
            "[thread.join() for thread in threading.enumerate() if thread.name == 'uao-import-scipy']\n"
            "print(sys.modules.get('scipy.linalg') is not None)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""  # a failed import prints nothing: the solve reports it
    assert result.stdout.strip() == str(not blocked)


def test_focal_scale_found_from_perspective(motion):
    poses, roots = motion
    roots = roots * np.array([1, 1, 0.6])  # closer to the camera: more perspective
    x, cam = exact_keypoints(poses, roots)
    guess = cam.copy()
    guess[:, :2] /= 1.3  # the focal length 30 % too short
    scale = estimate_focal_scale(poses, x, guess, np.ones(poses.shape[:2]))
    assert scale == pytest.approx(1.3, rel=0.03)
    # uao infer weighs the fit with the default camera's focal (scale 1) in log space, and reports its
    # uncertainty: the bootstrap's (nil on exact keypoints) combined with ESTIMATE_LOG_STD, as a 90 % interval.
    from uao_deploy.pipeline import Camera

    default = Camera.default(WIDTH, HEIGHT)
    default = default.scaled_focal(FOCAL / 1.3 / default.fx, FocalSource.DEFAULT)
    estimated = estimate_focal(default, x.astype(np.float32), poses, np.ones(poses.shape[:2]))
    assert estimated.focal_source is FocalSource.ESTIMATED
    used = estimated.fx / default.fx
    assert used == pytest.approx(scale ** (1 - FOCAL_PRIOR_WEIGHT), rel=1e-3) and 1 < used < scale
    assert ESTIMATE_LOG_STD <= estimated.focal_log_std < 1.05 * ESTIMATE_LOG_STD
    low, high = estimated.focal_interval
    assert low < estimated.fx < high
    assert np.log(high / low) == pytest.approx(2 * Z90 * estimated.focal_log_std, rel=1e-6)
    # A sequence whose fit ends at the edge of the range falls back to the default camera, and says so.
    far = estimate_focal(default.scaled_focal(0.3, FocalSource.DEFAULT), x.astype(np.float32), poses,
                         np.ones(poses.shape[:2]))
    assert far.focal_source is FocalSource.FALLBACK and far.fx == pytest.approx(0.3 * default.fx)
    assert "end of the range" in far.focal_note and far.focal_interval is None
    assert far.focal_log_std == DEFAULT_LOG_STD  # the default camera's own uncertainty
    short = estimate_focal(default, x[:5].astype(np.float32), poses[:5], np.ones((5, 17)))
    assert short.focal_source is FocalSource.FALLBACK and "too few" in short.focal_note


def test_noise_correction_keeps_the_root_depth_of_noisy_keypoints(motion):
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    detected, weights = np.ones(x.shape[:2], bool), np.ones(x.shape[:2])
    assert np.sqrt(keypoint_noise_variance(x, detected)) * WIDTH / 2 < 0.3  # real motion is no noise
    biased, corrected = [], []
    for seed in range(3):
        noisy = x + np.random.default_rng(seed).normal(0, 8 / 500, x.shape)  # 8 px of white noise
        variance = keypoint_noise_variance(noisy, detected)
        assert np.sqrt(variance) * WIDTH / 2 == pytest.approx(8, rel=0.1)
        biased.append(np.mean(estimate_root_trajectory(poses, noisy, cam, weights, 100.0)[:, 2] - roots[:, 2]))
        corrected.append(np.mean(estimate_root_trajectory(poses, noisy, cam, weights, 100.0, variance)[:, 2]
                                 - roots[:, 2]))
    # Noise makes the pose look larger, so the plain fit puts the root nearer; the correction does not.
    assert np.mean(biased) < -0.025
    assert abs(np.mean(corrected)) < 0.25 * abs(np.mean(biased))
    missing = detected.copy()
    missing[1::2] = False  # no three detected frames in a row: nothing to measure, no correction
    assert keypoint_noise_variance(noisy, missing) == 0.0


def test_gauss_newton_keeps_the_root_depth_under_slow_drift(motion):
    """Per-joint drift that changes over a second passes the noise measure (second differences) and so
    the correction of the linear fit; the steps on the reprojection error need no noise measure."""
    poses, roots = motion
    x, cam = exact_keypoints(poses, roots)
    detected, weights = np.ones(x.shape[:2], bool), np.ones(x.shape[:2])
    linear, stepped = [], []
    drifting = VideoNoiseModel(sigma=4.0, drift=3.0, drift_frames=50.0, gross_rate=0.0, missing_rate=0.0)
    for seed in range(40):  # each draw bends the skeleton its own way (about 0.1 m of depth): the mean tells
        noisy = x + drifting.sample(len(x), np.random.default_rng(seed))[0] / 500  # 12 px of drift, 4 px white
        variance = keypoint_noise_variance(noisy, detected)
        linear.append(np.mean(estimate_root_trajectory(poses, noisy, cam, weights, 100.0, variance)[:, 2] - roots[:, 2]))
        stepped.append(np.mean(estimate_root_trajectory(poses, noisy, cam, weights, 100.0, variance, steps=2)[:, 2]
                               - roots[:, 2]))
    assert np.mean(linear) < -0.04  # the drift makes the pose look larger: the linear fit comes too near
    assert abs(np.mean(stepped)) < 0.5 * abs(np.mean(linear))
    # On exact keypoints each frame's steps stay at the truth.
    np.testing.assert_allclose(estimate_root_trajectory(poses, x, cam, weights, 0.0, steps=2), roots, atol=1e-5)


def test_keypoint_smoothing_leaves_the_share_of_noise_it_reports(motion):
    poses, roots = motion
    x, _ = exact_keypoints(poses, roots)
    detected, confidence = np.ones(x.shape[:2], bool), np.full(x.shape[:2], 0.75)
    smoothed, measured, left = steps.denoise_keypoints(x, confidence, detected)
    # Real motion passes: well under a pixel moved.
    assert np.sqrt(np.mean((smoothed - x) ** 2)) * WIDTH / 2 < 0.5
    noise = np.random.default_rng(0).normal(0, 8 / 500, x.shape)  # 8 px of white noise
    smoothed, measured, left = steps.denoise_keypoints(x + noise, confidence, detected)
    assert np.sqrt(measured) * WIDTH / 2 == pytest.approx(8, rel=0.1)
    share = smoothed_noise_share(0.75, steps.KEYPOINT_SMOOTHNESS)
    assert left == pytest.approx(measured * share) and share < 0.25
    # What the smoothing leaves of the noise is the share it reports (edges aside).
    residual = (smoothed - x)[10:-10]
    assert np.var(residual) == pytest.approx(left, rel=0.2)
    # The last frame, where --causal reads, keeps more: there the smoother has no future to average.
    last = smoothed_noise_share(0.75, steps.KEYPOINT_SMOOTHNESS, len(x), -1)
    assert last > 2 * share
    ends = [np.var(smooth_tracks(x[:end] + noise[:end], confidence[:end, :, None], steps.KEYPOINT_SMOOTHNESS)[-1]
                   - x[end - 1]) for end in range(30, len(x) + 1)]
    assert np.mean(ends) == pytest.approx(measured * last, rel=0.25)


@pytest.mark.slow
def test_calibration_travels_from_the_checkpoint_to_every_engine(tiny_checkpoint, tmp_path):
    import shutil

    from uao_deploy.contract import Calibration
    from uao_deploy.export import export_onnx
    from uao_deploy.model.checkpoint import write_calibration
    from uao_deploy.model.files import read_calibration

    checkpoint = tmp_path / "calibrated.pth"
    shutil.copy(tiny_checkpoint, checkpoint)  # a bare seed-format checkpoint: no sidecar yet
    assert read_calibration(checkpoint) == Calibration()
    calibration = Calibration(root_depth_scale=0.97, measured_on="test clips")
    write_calibration(checkpoint, calibration)
    assert read_calibration(checkpoint) == calibration
    export_onnx(checkpoint, tmp_path / "export", sequence=False, verify=False)
    assert load(tmp_path / "export", backend="onnxruntime").calibration == calibration
    assert load(checkpoint, backend="torch").calibration == calibration
    with pytest.raises(UaoError, match="depth scale"):
        Calibration(root_depth_scale=0.2)
    # The scale moves the root along its viewing ray: the trajectory is scaled, not shifted.
    rng = np.random.default_rng(0)
    poses, x = rng.normal(0, 0.2, (5, 17, 3)), rng.normal(0, 0.1, (5, 17, 2))
    cams, ones = np.repeat(normalized_intrinsics((FOCAL, FOCAL), (500, 501), WIDTH, HEIGHT)[None], 5, 0), np.ones((5, 17))
    np.testing.assert_allclose(steps.root_trajectory(x, cams, poses, ones, ones, 0.0, 0.97),
                               0.97 * steps.root_trajectory(x, cams, poses, ones, ones), rtol=1e-5)


def test_uao_calibrate_records_the_depth_scale(small_checkpoint, mocap_clips, tmp_path, capsys):
    import shutil

    from uao_deploy.model.checkpoint import write_calibration
    from uao_deploy.model.files import default_checkpoint, read_calibration, sidecar_path
    from uao_deploy.contract import Calibration

    clips = tmp_path / "clips.npz"
    np.savez(clips, **mocap_clips)
    code, out, err = uao(capsys, "calibrate", small_checkpoint, "--data", clips, "--noise", "0", "--dry-run")
    assert code != 0 and "is the model trained" in err and "Traceback" not in err  # a random model: no calibration
    checkpoint = tmp_path / "model.pth"
    shutil.copy(default_checkpoint(), checkpoint)
    shutil.copy(sidecar_path(default_checkpoint()), sidecar_path(checkpoint))
    write_calibration(checkpoint, Calibration())
    code, out, err = uao(capsys, "calibrate", checkpoint, "--data", clips, "--noise", "0", "--dry-run")
    assert code == 0, err
    assert read_calibration(checkpoint).root_depth_scale == 1.0  # a dry run writes nothing
    code, out, err = uao(capsys, "calibrate", checkpoint, "--data", clips, "--noise", "0,4")
    assert code == 0, err
    calibration = read_calibration(checkpoint)
    assert f"root depth scale {calibration.root_depth_scale:.4f}" in out
    assert "3 clips at 0, 4 px white keypoint noise" in calibration.measured_on
    assert 0.8 < calibration.root_depth_scale < 1.2  # a trained model: a few per cent
    assert json.loads(sidecar_path(checkpoint).read_text())["train"]["epochs"] == 22  # the rest is kept
    code, out, err = uao(capsys, "calibrate", checkpoint, "--data", clips, "--noise", "four")
    assert code != 0 and "--noise takes px values" in err and "Traceback" not in err


# --- noise model ------------------------------------------------------------------------------------
def test_video_noise_is_seeded_with_drift_gross_errors_and_misses(mocap_clips):
    cameras = cameras_of(TEST_SUBJECTS)
    noise = VideoNoiseModel(gross_rate=0.02)
    first = video_clips(mocap_clips, cameras, noise, seed=3, cameras_per_clip=2)
    again = video_clips(mocap_clips, cameras, noise, seed=3, cameras_per_clip=2)
    assert len(first) == 2 * len(mocap_clips)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.sequence.pixels, b.sequence.pixels)
    error, confidence = noise.sample(4000, np.random.default_rng(0))
    assert 0.015 < (confidence == 0).mean() < 0.025
    white = np.diff(error, axis=0)[np.abs(np.diff(error, axis=0)).max(-1) < 20]
    assert np.std(white) == pytest.approx(4 * np.sqrt(2), rel=0.15)  # frame-to-frame: the white part, twice
    lag = error[1:] - error[:-1]
    assert np.abs(lag).max() > 30  # gross errors jump in and out
    with pytest.raises(UaoError, match="sigma"):
        VideoNoiseModel(sigma=-1)
    # Box jitter: one shift per frame for every joint, of box_jitter x sigma, on top of the same other errors.
    jittered, jittered_confidence = VideoNoiseModel(gross_rate=0.02, box_jitter=2.0).sample(
        4000, np.random.default_rng(0))
    np.testing.assert_array_equal(jittered_confidence, confidence)
    shift = jittered - error
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1], shift.shape), atol=1e-9)
    assert np.std(shift[:, 0]) == pytest.approx(8.0, rel=0.05)
    clean = video_clips(mocap_clips, cameras[:1], VideoNoiseModel(sigma=0), include_focal=False)
    assert all(np.isfinite(c.sequence.pixels).all() and c.sequence.focal is None for c in clean)


# --- windows ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("frames", [101, 143, 200, 1000, 3607])
def test_windows_cover_the_sequence_with_the_fewest_shortest_windows(frames):
    assert window_layout(10, 64, 16) == ([0], 10)
    starts, size = window_layout(frames, 100, 10)
    count = len(starts)
    assert count == -(-(frames - 10) // 90) and size <= 100  # the fewest windows of at most 100 frames
    assert starts[0] == 0 and starts[-1] + size == frames
    assert all(10 <= a + size - b <= 10 + 1 + (size * count - frames) // max(1, count - 1)
               for a, b in zip(starts, starts[1:]))  # overlaps of at least 10 frames, evenly spread
    assert size * count < frames * 1.12 + 100  # little more work than the video itself


def test_cross_fade_weights_and_bad_windows():
    weights = blend_weights(8, 3, first=False, last=False)
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.75, 1, 1, 0.75, 0.5, 0.25])
    with pytest.raises(UaoError):
        window_layout(100, 10, 9)


@pytest.mark.parametrize("length,overlap", [(16, 4), (23, 9), (50, 20)])
def test_stitching_has_no_seams(length, overlap):
    """Window results that agree with each other come out exactly, wherever the windows fall."""
    signal = np.sin(np.arange(100) / 7.0)[:, None] * np.ones((1, 3))
    stitcher = Stitcher(100, length, overlap)
    for index, start in enumerate(stitcher.starts):
        stitcher.add(index, {"value": signal[start:start + stitcher.length]})
    np.testing.assert_allclose(stitcher.result("value"), signal, atol=1e-6)


# --- sequence UAO (the objective with Adam over windows) -----------------------------------------
def _windows(small_model, windows=2, frames=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(windows, frames, 17, 2, generator=generator) * 0.4 - 0.2
    confidence = torch.rand(windows, frames, 17, generator=generator)
    cam = torch.tensor([[2.3, 2.3, 0.0, 0.0, 0, 0, 0, 0, 0]]).repeat(windows, 1)
    root = torch.tensor([0.0, 0.0, 5.0]) + 0.05 * torch.randn(windows, frames, 3, generator=generator)
    return x, confidence, cam, root


@pytest.mark.parametrize("flip_steps", [True, False])
def test_sequence_windows_do_not_interact(small_model, flip_steps):
    """Up to float noise: matrix products sum in another order for another batch size."""
    x, confidence, cam, root = _windows(small_model)
    config = SequenceConfig(lr_root=0.01, flip_steps=flip_steps)  # every variable moving
    forward, step, first_step = model_sequence_callables(small_model, config)
    both = refine_sequence(forward, step, x, confidence, cam, root, config)
    alone = refine_sequence(forward, step, x[1:], confidence[1:], cam[1:], root[1:], config)
    for joint, single in zip(both[:2], alone[:2]):
        torch.testing.assert_close(joint[1:], single, atol=2e-6, rtol=0)
    # The first step that makes the targets from its own forward computes the same.
    shared = refine_sequence(forward, step, x, confidence, cam, root, config, first_step)
    for separate, joint in zip(both[:2], shared[:2]):
        torch.testing.assert_close(joint, separate, atol=1e-6, rtol=0)


@pytest.mark.parametrize("flip_steps", [True, False])
def test_sequence_gradient_matches_finite_differences(small_model, flip_steps):
    """Every term but the Gaussian one, whose uncertainty s is held constant by design (as UAO's), so
    that finite differences, which do move s, would not match it. Without flip_steps the loss does not
    depend on z_flip: its gradient is 0."""
    model = small_model.double()
    config = SequenceConfig(w_gauss=0.0, w_smooth=1.0, w_bone=1.0, flip_steps=flip_steps)
    try:
        x, confidence, cam, root = (t.double() for t in _windows(model, windows=1, frames=5))
        forward = model_sequence_callables(model, SequenceConfig())[0]
        from uao_deploy.tto.optimize import sequence_targets
        mu0, mu0_flip, weight = sequence_targets(forward, x, confidence)
        z, z_flip = x + 0.01, skeleton.flip_pose(x) - 0.01
        args = (x, confidence, weight, mu0, mu0_flip, cam)
        loss, *grads = sequence_value_and_grad(model, z, z_flip, root, *args, config=config)
        assert bool((grads[1] == 0).all()) != flip_steps
        variables = [z, z_flip, root]
        for index, grad in enumerate(grads):
            direction = torch.randn_like(variables[index]) * 1e-6
            shifted = [v + direction if i == index else v for i, v in enumerate(variables)]
            ahead = sequence_value_and_grad(model, *shifted, *args, config=config)[0]
            shifted = [v - direction if i == index else v for i, v in enumerate(variables)]
            behind = sequence_value_and_grad(model, *shifted, *args, config=config)[0]
            numeric = float((ahead - behind).sum() / 2)
            assert float((grad * direction).sum()) == pytest.approx(numeric, rel=1e-4, abs=1e-12)
    finally:
        model.float()


def test_steps_without_the_flip_average_the_moved_input_with_its_flip(small_model):
    """flip_steps False: one Adam step moves z alone (z_flip's gradient is 0); the final pose averages
    the network's poses of the moved z and of its mirror image."""
    x, confidence, cam, root = _windows(small_model)
    config = SequenceConfig(iters=1, flip_steps=False)
    forward, step, first_step = model_sequence_callables(small_model, config)
    pose, _, _ = refine_sequence(forward, step, x, confidence, cam, root, config, first_step)
    _, grad_z, grad_z_flip, *_ = first_step(x, skeleton.flip_pose(x), root, x, confidence, cam)
    assert bool((grad_z_flip == 0).all()) and not bool((grad_z == 0).all())
    moved = adam_update(x, grad_z, 0 * x, 0 * x, 1, config)[0]
    with torch.no_grad():
        plain = forward(moved.flatten(0, 1))[0]
        mirrored = skeleton.flip_pose(forward(skeleton.flip_pose(moved.flatten(0, 1)))[0])
    torch.testing.assert_close(pose, skeleton.zero_root((plain + mirrored) / 2).unflatten(0, (2, 6)),
                               atol=1e-6, rtol=0)
    with_flip = refine_sequence(forward, step, x, confidence, cam, root, SequenceConfig(iters=1, flip_steps=True), first_step)[0]
    assert not torch.allclose(pose, with_flip, atol=1e-6)


def test_an_export_made_before_flip_steps_existed_reads_as_moving_the_flip():
    recorded = SequenceConfig().to_dict()
    assert SequenceConfig.from_dict(recorded) == SequenceConfig() and not SequenceConfig().flip_steps
    before = {name: value for name, value in recorded.items() if name != "flip_steps"}
    assert SequenceConfig.from_dict(before) == SequenceConfig(flip_steps=True)


def test_root_moves_by_its_own_step_size(small_model):
    x, confidence, cam, root = _windows(small_model, windows=1)
    for lr_root in (0.0, 0.01):
        config = SequenceConfig(lr_root=lr_root)
        forward, step, _ = model_sequence_callables(small_model, config)
        pose, fitted_root, losses = refine_sequence(forward, step, x, confidence, cam, root, config)
        assert len(losses) == config.iters and pose.shape == (1, 6, 17, 3) and (pose[..., 0, :] == 0).all()
        # Adam moves each coordinate by at most about lr per step; the default step (0) keeps the root.
        moved = float((fitted_root - root).abs().max())
        assert moved <= config.iters * lr_root * 1.01 and (moved > 0) == (lr_root > 0)


def test_video_windows_without_iterations_return_the_initial_state(small_model):
    frames = 70
    x = np.random.default_rng(0).uniform(-0.2, 0.2, (frames, 17, 2)).astype(np.float32)
    root = np.tile(np.float32([0, 0, 5]), (frames, 1))
    cam = np.float32([2.3, 2.3, 0, 0, 0, 0, 0, 0, 0])
    confidence = np.ones((frames, 17), np.float32)
    engine = TorchEngine(small_model)
    outputs = [refine_video(engine, x, confidence, cam, root, 0, window, overlap) for window, overlap in ((16, 4), (40, 12))]
    with torch.no_grad():
        forward = model_sequence_callables(small_model, SequenceConfig())[0]
        plain = forward(torch.from_numpy(x))[0]
        flipped = skeleton.flip_pose(forward(skeleton.flip_pose(torch.from_numpy(x)))[0])
        expected = skeleton.zero_root((plain + flipped) / 2).numpy()
    for poses, trajectory in outputs:
        np.testing.assert_allclose(poses, expected, atol=1e-5)
        np.testing.assert_allclose(trajectory, root, atol=1e-6)


# --- uao infer --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noisy_video():
    """45 frames of a person walking sideways, through a test camera, with the video noise model."""
    world = moving_person(45, 0) + np.linspace(0, 1, 45)[:, None, None] * np.float32([1, 0, 0])
    clip, = video_clips({"walk": world.astype(np.float32)}, cameras_of(TEST_SUBJECTS)[:1], VideoNoiseModel(), seed=0)
    return clip


def test_sequence_mode_is_the_default_and_keeps_one_row_per_frame(small_checkpoint, noisy_video):
    sequence = noisy_video.sequence
    from uao_deploy.contract import Calibration

    with load(small_checkpoint, backend="torch") as engine:
        result = lift(sequence, engine, settings=LiftSettings(2))
        plain = lift(sequence, engine, settings=LiftSettings(0, "frame"))
        plain_sequence_flag = lift(sequence, engine, settings=LiftSettings(0, "sequence"))
        engine.calibration = Calibration(root_depth_scale=0.9)
        calibrated = lift(sequence, engine, settings=LiftSettings(2))
        calibrated_plain = lift(sequence, engine, settings=LiftSettings(0))
    assert result.poses_3d.shape == (len(sequence), 17, 3) and result.root.shape == (len(sequence), 3)
    # The model's depth scale moves the sequence root along its rays; the plain lifter keeps its root.
    np.testing.assert_allclose(calibrated.root, 0.9 * result.root, rtol=1e-5)
    np.testing.assert_array_equal(calibrated_plain.root, plain.root)
    assert result.metadata["root"]["depth_scale"] == 1.0 and calibrated.metadata["root"]["depth_scale"] == 0.9
    # The noise model's 4 px of white noise plus the clip's own 2 cm joint jitter (about 4.6 px here).
    assert 5 < result.metadata["root"]["keypoint_noise_px"] < 7.5
    assert result.metadata["strategy"] == "sequence" and (result.poses_3d[:, 0] == 0).all()
    assert result.metadata["camera"]["focal_source"] == "file"  # the file has a focal: nothing estimated
    assert result.metadata["root"]["root_std_relative"]["focal_depth"] == 0.0  # nor added to the depth's std
    # --tto-iters 0 is the plain lifter with the per-frame root, whatever the mode.
    np.testing.assert_array_equal(plain.poses_3d, plain_sequence_flag.poses_3d)
    np.testing.assert_array_equal(plain.root, plain_sequence_flag.root)
    assert plain_sequence_flag.metadata["strategy"] == "frame"
    # The sequence root is smoother than the per-frame one.
    def jitter(track):
        return np.linalg.norm(np.diff(track, n=2, axis=0), axis=-1).mean()
    assert jitter(result.root) < 0.5 * jitter(plain.root)


def test_unknown_focal_is_estimated_and_reported(small_checkpoint, noisy_video):
    from dataclasses import replace

    sequence = replace(noisy_video.sequence, focal=None)
    with load(small_checkpoint, backend="torch") as engine:
        result = lift(sequence, engine, settings=LiftSettings(1))
    camera = result.metadata["camera"]
    assert camera["focal_source"] in ("estimated", "default after a rejected estimate")
    assert 0.5 * WIDTH <= camera["focal_px"][0] <= 2.0 * WIDTH
    # The depth's std carries the focal length's share, and the metadata says so.
    focal_std = camera["focal_log_std"]
    assert result.metadata["root"]["root_std_relative"] == {"size": steps.ROOT_SIZE_STD, "focal_depth": focal_std}
    assert focal_std >= ESTIMATE_LOG_STD
    assert (result.root_std[:, 2] > 0.9 * focal_std * result.root[:, 2]).all()
    if camera["focal_source"] == "estimated":
        low, high = camera["focal_interval_px"]
        assert low <= camera["focal_px"][0] <= high
    else:  # the reason is given, and the default camera used
        assert "estimate rejected" in camera["focal_note"] and camera["focal_px"][0] == max(WIDTH, HEIGHT)


def test_causal_frames_do_not_see_the_future(small_checkpoint, noisy_video):
    from dataclasses import replace

    sequence = noisy_video.sequence
    shorter = replace(sequence, pixels=sequence.pixels[:30], confidence=sequence.confidence[:30])
    with load(small_checkpoint, backend="torch") as engine:
        full = lift(sequence, engine, settings=LiftSettings(1, "causal"))
        part = lift(shorter, engine, settings=LiftSettings(1, "causal"))
        offline = lift(sequence, engine, settings=LiftSettings(1))
    np.testing.assert_allclose(full.poses_3d[:30], part.poses_3d, atol=1e-5)
    np.testing.assert_allclose(full.root[:30], part.root, atol=1e-5)
    assert np.abs(full.root - offline.root).max() > 1e-4  # the offline solve does use later frames
    latency = full.metadata["latency_ms"]
    assert 0 < latency["mean"] <= latency["max"]


def test_infer_cli_modes(small_checkpoint, noisy_video, tmp_path, capsys):
    sequence = noisy_video.sequence
    path = tmp_path / "walk.npz"
    np.savez(path, keypoints=np.concatenate([sequence.pixels, sequence.confidence[..., None]], axis=-1),
             width=WIDTH, height=HEIGHT, focal=FOCAL)
    out = tmp_path / "out.npz"
    code, _, err = uao(capsys, "infer", path, "-o", out, "--backend", "torch", "--engine", small_checkpoint,
                       "--tto-iters", "1", "--mode", "frame", "--causal", "--no-progress")
    assert code == 1 and "sequence-mode option" in err and "Traceback" not in err and not out.exists()
    code, stdout, err = uao(capsys, "infer", path, "-o", out, "--backend", "torch", "--engine", small_checkpoint,
                            "--tto-iters", "1", "--causal", "--no-progress")
    assert code == 0, err
    assert "causal latency per frame" in stdout
    with np.load(out) as saved:
        assert saved["poses_3d"].shape == (len(sequence), 17, 3)
        assert json.loads(str(saved["metadata"]))["strategy"] == "causal"
    # Without a focal length, sequence mode estimates it and says how, how sure, and what to do instead.
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, keypoints=np.concatenate([sequence.pixels, sequence.confidence[..., None]], axis=-1),
             width=WIDTH, height=HEIGHT)
    code, stdout, err = uao(capsys, "infer", unknown, "-o", out, "--backend", "torch", "--engine", small_checkpoint,
                            "--tto-iters", "1", "--no-progress")
    assert code == 0, err
    assert "focal length" in stdout and ("90 % interval" in stdout or "estimate rejected" in stdout)
    assert "give --focal, --fov or --focal-35mm" in stdout


# --- evaluation metrics -----------------------------------------------------------------------------
def test_video_metrics_are_zero_for_the_truth_and_see_jitter(noisy_video):
    clip = noisy_video
    perfect = video_metrics(clip.target, clip.root, clip)
    for metric in ("mpjpe", "p_mpjpe", "root_error", "abs_mpjpe", "accel_error"):
        assert perfect[metric] == pytest.approx(0, abs=1e-3)
    shaken = clip.root + np.random.default_rng(0).normal(0, 0.01, clip.root.shape)
    scores = video_metrics(clip.target, shaken, clip)
    assert scores["mpjpe"] == pytest.approx(0, abs=1e-6) and scores["root_error"] > 5 and scores["accel_error"] > 10


def test_video_output_barely_depends_on_where_the_windows_fall(small_model, noisy_video):
    """Sequence UAO with K = 4 through windows of different lengths and overlaps: the stitched poses
    and roots differ by a small fraction of what UAO itself changes."""
    prepared = prepare(noisy_video.sequence, camera_of(noisy_video.sequence))
    x, cam = prepared.x, prepared.camera.normalized()
    root = noisy_video.root.astype(np.float32)
    confidence = np.where(prepared.detected, prepared.confidence, 0.1).astype(np.float32)
    engine = TorchEngine(small_model, sequence=SequenceConfig(lr_root=0.005))  # the trajectory moves too
    start = refine_video(engine, x, confidence, cam, root, 0)
    placements = [refine_video(engine, x, confidence, cam, root, 4, window, overlap)
                  for window, overlap in ((20, 6), (32, 10), (45, 0))]
    change = np.abs(placements[-1][0] - start[0]).max()
    assert change > 1e-3
    for other in placements[:-1]:
        assert np.abs(other[0] - placements[-1][0]).max() < 0.25 * change
        assert np.abs(other[1] - placements[-1][1]).max() < 0.25 * np.abs(placements[-1][1] - root).max()


def test_eval_video_grid_reports_every_cell_and_resumes(mocap_clips, tiny_export, tmp_path, capsys):
    """``uao eval --video --grid``: splits x 0/4/8 px x five noise models x focal known/unknown, with the
    world-grounded metrics; finished cells are reused by a rerun, and recomputed when their settings change."""
    from uao_deploy.jobs.video_grid import NOISE_MODELS

    paths = []
    for split, names in (("train", ("walk", "jump")), ("val", ("wave",))):
        paths += ["--data", tmp_path / f"{split}.npz"]
        np.savez(paths[-1], **{name: mocap_clips[name] for name in names})
    cells = tmp_path / "cells"
    grid = ["eval", *paths, "--video", "--grid", "--engine", tiny_export, "--tto-iters", "2", "--cells", cells,
            "--clips-per-cell", "1", "--frames-per-clip", "12", "--json", "-"]
    code, stdout, err = uao(capsys, *grid)
    assert code == 0, err
    report = json.loads(stdout)
    expected = [(split, noise, level, unknown) for split in ("train", "val") for level in (0, 4, 8)
                for noise in (("exact",) if level == 0 else tuple(NOISE_MODELS)) for unknown in (False, True)]
    assert [(row["split"], row["noise"], row["level"], row["unknown_focal"]) for row in report["cells"]] == expected
    assert report["data"]["splits"] == {"train": ["jump"], "val": ["wave"]}  # one clip per cell, evenly spaced
    for row in report["cells"]:
        assert row["frames"] == 9 if row["split"] == "val" else row["frames"] == 12
        assert set(row["methods"]) == {"plain", "plain+savgol", "sequence-uao", "sequence-uao+height",
                                       "sequence-uao-free-feet"}
        for values in row["methods"].values():
            assert {"w_mpjpe100", "wa_mpjpe100", "rte", "jitter", "foot_sliding", "depth_bias", "up_error",
                    "floor_penetration", "foot_sliding_clip_mean"} <= set(values)
            assert all(np.isfinite(value) for value in values.values())
    by_cell = {(row["split"], row["noise"], row["level"], row["unknown_focal"]): row for row in report["cells"]}
    assert by_cell["train", "gross", 8, False]["methods"]["plain"]["jitter"] > \
        by_cell["train", "exact", 0, False]["methods"]["plain"]["jitter"]
    assert "| train | drift | 8 | unknown |" in err and "focal known: |depth bias| <= 50 mm" in err
    assert len(list(cells.glob("*.json"))) == len(expected)
    assert all("s" in line and "reused" not in line for line in err.splitlines() if line.startswith("cell "))

    code, stdout, err = uao(capsys, *grid)  # all reused, same numbers
    assert code == 0, err
    assert json.loads(stdout)["cells"] == report["cells"]
    assert all(line.endswith("reused") for line in err.splitlines() if line.startswith("cell "))
    code, stdout, err = uao(capsys, *grid[:-4], "--frames-per-clip", "10", "--json", "-")  # other settings
    assert code == 0, err
    assert not any(line.endswith("reused") for line in err.splitlines() if line.startswith("cell "))

    for bad, message in ((["--video", "--grid", "--drift", "1"], "--drift is not a --grid option"),
                         (["--video", "--cells", cells], "--cells is a --grid option"),
                         (["--video"], "give --data once"),
                         (["--grid"], "--grid is a --video option")):
        code, _, err = uao(capsys, "eval", *paths, *bad)
        assert code == 2 and message in err, err


def test_eval_video_takes_the_noise_model_from_the_options(mocap_clips, tiny_export, tmp_path, capsys):
    path = tmp_path / "clips.npz"
    np.savez(path, **mocap_clips)
    code, stdout, err = uao(capsys, "eval", "--data", path, "--video", "--engine", tiny_export, "--tto-iters", "2",
                            "--noise", "4", "--drift", "0",
                            "--drift-frames", "50", "--box-jitter", "1.5", "--gross-rate", "0", "--missing-rate",
                            "0.1", "--causal", "--json", "-")
    assert code == 0, err
    (row,) = json.loads(stdout)["settings"]
    causal, offline = row["methods"]["causal-uao"], row["methods"]["sequence-uao"]  # --causal adds live lifting
    assert all(np.isfinite(value) for value in causal.values()) and causal != offline
    assert row["noise"] == {**VideoNoiseModel().to_dict(), "sigma": 4.0, "drift": 0.0, "drift_frames": 50.0,
                            "box_jitter": 1.5, "gross_rate": 0.0, "missing_rate": 0.1}
    for bad, message in ((["--video", "--missing-rate", "1.5"], "rates in [0, 1)"),
                         (["--video", "--drift", "-1"], "drift and box jitter >= 0"),
                         (["--video", "--drift", "nan"], "drift nan"),
                         (["--video", "--box-jitter", "-2"], "box jitter -2"),
                         (["--video", "--drift-frames", "0"], "drift frames > 0"),
                         (["--box-jitter", "1"], "--box-jitter is a --video option"),
                         (["--causal"], "--causal is a --video option"),
                         (["--drift", "0"], "--drift is a --video option")):
        code, _, err = uao(capsys, "eval", "--data", path, *bad)
        assert code != 0 and message in err and "Traceback" not in err


def test_long_videos_go_through_a_few_windows_at_a_time():
    """Memory stays bounded: an engine sees at most ``windows_per_call`` windows per call, and every
    frame of a long video comes back (here an engine that returns its inputs)."""
    class Recorder:
        def __init__(self):
            self.calls = []

        def sequence_tto(self, x, confidence, cam, root, iters=None):
            self.calls.append(x.shape)
            pose = np.concatenate([x, confidence[..., None]], axis=-1)
            return pose, root, np.zeros((0, len(x)), np.float32)

    frames = 20_000
    x = np.random.default_rng(0).uniform(-1, 1, (frames, 17, 2)).astype(np.float32)
    confidence = np.ones((frames, 17), np.float32)
    root = np.cumsum(np.full((frames, 3), 0.001, np.float32), axis=0)
    engine = Recorder()
    result = refine_video(engine, x, confidence, np.float32([2.3, 2.3, 0, 0, 0, 0, 0, 0, 0]), root, 4,
                          windows_per_call=3)
    assert max(shape[0] for shape in engine.calls) == 3 and all(shape[1] <= 100 for shape in engine.calls)
    poses, trajectory = result
    np.testing.assert_allclose(poses[..., :2], x, atol=1e-6)
    np.testing.assert_allclose(trajectory, root, rtol=1e-5)
