"""``lift``: one sequence of 2D keypoints to 3D poses on an engine, by one of three strategies.

* ``frame`` (and every strategy with ``iters`` 0, the plain lifter): each frame's root is the
  translation that best reprojects the flip-averaged prediction onto the keypoints
  (:func:`uao_deploy.camera.estimate_root`), weighted by detector confidence, optionally a centred
  moving median over ``smooth_root`` frames; then UAO through it (``engine.tto``), in batches.
* ``sequence``: :mod:`uao_deploy.pipeline.sequence` over the whole sequence; an unknown focal
  length is estimated from it (:mod:`uao_deploy.pipeline.focal`).
* ``causal``: the sequence steps frame by frame from past frames only, with the camera as given;
  the per-frame latency is reported.
"""
from __future__ import annotations

import time

import numpy as np

from .. import __version__
from ..camera import estimate_root, image_coordinates, normalize_screen_coordinates
from ..io.results import DEFAULT_FPS
from ..trajectory import moving_median
from . import sequence as steps
from .camera import Camera, FocalSource
from .feet import place_feet
from .focal import FOCAL_PRIOR_WEIGHT, estimate_focal
from .missing import INFERRED, SETTLE_ROUNDS, settle_inferred, steady_inferred_bones
from .prepare import FILLED_WEIGHT, Prepared, prepare
from .result import UNCERTAINTY_NOTE, LiftResult
from .settings import LiftSettings


def lift(keypoints, engine, camera: Camera | None = None, settings: LiftSettings = LiftSettings(),
         progress: bool = False) -> LiftResult:
    """Lift ``keypoints`` with ``engine``: a :class:`~uao_deploy.pipeline.prepare.Prepared`, or what
    :func:`~uao_deploy.pipeline.prepare.prepare` takes with ``camera`` (a KeypointSequence's own
    camera, :func:`~uao_deploy.pipeline.camera.camera_of`, when none is given)."""
    started = time.perf_counter()
    if not isinstance(keypoints, Prepared):
        if camera is None:
            from .camera import camera_of

            camera = camera_of(keypoints)
        keypoints = prepare(keypoints, camera)
    strategy = {"frame": _frames, "sequence": _sequence, "causal": _causal}[settings.runs]
    camera, arrays, root_done, extra = strategy(keypoints, engine, settings, progress)
    arrays["poses_3d"], arrays["root"], contacts, extra["feet"], world_frame = place_feet(
        arrays["poses_3d"], arrays["root"], keypoints.pixels, keypoints.info.get("fps") or DEFAULT_FPS,
        keypoints.joint_source, plant=settings.runs == "sequence" and settings.plant_feet)
    if settings.subject_height is not None:
        unscaled_root = arrays["root"]
        arrays, extra["subject_height"] = scale_to_height(arrays, settings.subject_height)
        world_frame = world_frame.scaled(extra["subject_height"]["root_scale"], extra["subject_height"]["pose_scale"],
                                         unscaled_root)
    pixels = _pixels_drawn(keypoints, camera, arrays["poses_3d"], arrays["root"])
    done = time.perf_counter()
    root_done = root_done or started  # causal: the root is found frame by frame, inside the loop
    frames = len(keypoints)
    metadata = {
        "uao_version": __version__, "source": keypoints.source, **keypoints.info, "frames": frames,
        "camera": camera.to_metadata(), "missing_joints_filled": int((~keypoints.detected).sum()),
        "detections_set_aside": keypoints.set_aside,
        "strategy": settings.runs, "settings": settings.to_dict(), **extra, "uncertainty": UNCERTAINTY_NOTE,
        "backend": engine.backend, "engine": engine.describe(), "tto_iters": settings.iters,
        "tto_path": engine.last_tto_path if settings.iters else None, "tto_path_notice": engine.path_notice(settings.iters),
        "timings_s": {"root": root_done - started, "tto": done - root_done, "total": done - started,
                      "ms_per_frame": 1000 * (done - started) / frames},
    }
    result = LiftResult(**{name: array.astype(np.float32) for name, array in arrays.items()},
                        keypoints_2d=pixels, confidence=keypoints.confidence, metadata=metadata,
                        camera=camera, joint_source=keypoints.joint_source, contacts=contacts,
                        world_frame=world_frame)
    return result.check(keypoints.source)


def _pixels_drawn(prepared: Prepared, camera: Camera, poses: np.ndarray, root: np.ndarray) -> np.ndarray:
    """The result's 2D keypoints: the pixels used, the inferred joints where the lifted body projects them
    (their starting points were a guess the lift has since replaced)."""
    inferred = prepared.joint_source == INFERRED
    if not inferred.any():
        return prepared.pixels
    x = normalize_screen_coordinates(prepared.pixels, camera.width, camera.height)
    cams = np.repeat(camera.normalized()[None], len(x), axis=0)
    drawn = image_coordinates(settle_inferred(x, inferred, poses, root, cams), camera.width, camera.height)
    return np.where(inferred[..., None], drawn, prepared.pixels)


def scale_to_height(arrays: dict, height: float) -> tuple[dict, dict]:
    """The strategy's arrays scaled to a subject of standing ``height`` metres, and what was done."""
    from .height import height_scales

    pose_scale, root_scale = height_scales(arrays["poses_3d"], height)
    scaled = {**arrays, "poses_3d": arrays["poses_3d"] * pose_scale,
              "poses_3d_initial": arrays["poses_3d_initial"] * pose_scale, "root": arrays["root"] * root_scale,
              **({"root_std": arrays["root_std"] * root_scale} if "root_std" in arrays else {})}
    return scaled, {"metres": height, "pose_scale": pose_scale, "root_scale": root_scale}


def smooth_track(track: np.ndarray, window: int) -> np.ndarray:
    """Centred moving median over ``window`` frames (rounded up to odd; shorter at the ends)."""
    if window <= 1:
        return track
    return moving_median(track, window).astype(np.float32)


def _batches(frames: int, batch_size: int) -> list[slice]:
    return [slice(start, start + batch_size) for start in range(0, frames, batch_size)]


def _predict(engine, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(flip-averaged poses, uncertainty) of keypoints ``x``, ``batch_size`` frames at a time."""
    poses, uncertainty = zip(*(steps.predict_with_uncertainty(engine, x[part])
                               for part in _batches(len(x), batch_size)))
    return np.concatenate(poses), np.concatenate(uncertainty)


def _frames(prepared: Prepared, engine, settings: LiftSettings, progress: bool):
    from tqdm import tqdm

    x, weights = prepared.x, prepared.weights
    if settings.iters:  # its session opens while the plain lifter finds the roots
        engine.open_ahead(engine.uao_graph(settings.iters))
    cams = np.repeat(prepared.camera.normalized()[None], len(x), axis=0)
    batches = _batches(len(x), settings.batch_size)

    def trajectory(x, initial, uncertainty):
        return (smooth_track(estimate_root(initial, x, cams, weights), settings.smooth_root),)

    with tqdm(total=2 * len(x), unit="frame", desc=prepared.source, disable=not progress, leave=False) as bar:
        initial, uncertainty = _predict(engine, x, settings.batch_size)
        bar.update(len(x))
        x, initial, uncertainty, (root,), settle_rounds = _settle(
            prepared, x, cams, initial, uncertainty, trajectory(x, initial, uncertainty), engine, settings.batch_size,
            trajectory)
        root_done = time.perf_counter()
        poses = []
        for part in batches:  # no iterations: the plain lifter's pose is the result
            poses.append(engine.tto(x[part], cams[part], root[part], iters=settings.iters) if settings.iters
                         else initial[part])
            bar.update(len(poses[-1]))
    poses = np.concatenate(poses)
    if settle_rounds:
        poses = steady_inferred_bones(poses, prepared.joint_source)
    arrays = {"poses_3d": poses, "poses_3d_initial": initial, "root": root, "uncertainty": uncertainty}
    return prepared.camera, arrays, root_done, {"root": {
        "method": "camera.estimate_root of the flip-averaged prediction, confidence-weighted",
        "filled_joint_weight": FILLED_WEIGHT, "smooth_root_frames": settings.smooth_root,
        "inferred_settle_rounds": settle_rounds}}


def _settle(prepared: Prepared, x, cams, initial, uncertainty, track: tuple, engine, batch_size: int, trajectory):
    """(keypoints, poses, uncertainty, track, rounds) after up to ``SETTLE_ROUNDS`` rounds in which the
    inferred joints move to where the lifted body projects them and the body is lifted again
    (:func:`~uao_deploy.pipeline.missing.settle_inferred`). ``trajectory(x, poses, uncertainty)`` gives
    the strategy's track: the root (T, 3) first, then whatever else the strategy finds with it."""
    inferred = prepared.joint_source == INFERRED
    moving = inferred.any(axis=1)  # only these frames' inputs change: the others keep their prediction
    rounds = 0
    while moving.any() and rounds < SETTLE_ROUNDS:
        settled = settle_inferred(x, inferred, initial, track[0], cams)
        settled_initial, settled_uncertainty = initial.copy(), uncertainty.copy()
        settled_initial[moving], settled_uncertainty[moving] = _predict(engine, settled[moving], batch_size)
        settled_track = trajectory(settled, settled_initial, settled_uncertainty)
        if not (np.isfinite(settled_track[0]).all() and (settled_track[0][:, 2] > 0).all()):
            break  # a body that walks behind the camera is no better a guess: keep the last one
        x, initial, uncertainty, track = settled, settled_initial, settled_uncertainty, settled_track
        rounds += 1
    return x, initial, uncertainty, track, rounds


def _sequence(prepared: Prepared, engine, settings: LiftSettings, progress: bool):
    camera, weights = prepared.camera, prepared.weights
    if engine.sequence_config is not None:  # its session opens while the steps below find the trajectory
        engine.open_ahead(engine.uao_graph(settings.iters, sequence=True))
    x, noise, noise_left = steps.denoise_keypoints(prepared.x, weights, prepared.detected)

    initial, uncertainty = _predict(engine, x, settings.batch_size)
    if camera.focal_source is FocalSource.DEFAULT:
        camera = estimate_focal(camera, x, initial, steps.root_weights(weights, uncertainty))
    cams = np.repeat(camera.normalized()[None], len(x), axis=0)

    def trajectory(x, initial, uncertainty):
        return (steps.root_trajectory(x, cams, initial, uncertainty, weights, noise_left,
                                      engine.calibration.root_depth_scale),)

    x, initial, uncertainty, (root,), settle_rounds = _settle(
        prepared, x, cams, initial, uncertainty, trajectory(x, initial, uncertainty), engine, settings.batch_size,
        trajectory)
    cam = camera.normalized()
    std = steps.root_std(x, cams, initial, uncertainty, weights, root, noise_left, engine.calibration.root_depth_scale,
                         camera.focal_log_std)
    root_done = time.perf_counter()
    poses, root = steps.refine_and_smooth(engine, x, cam, root, uncertainty, weights, settings.iters)
    if settle_rounds:
        poses = steady_inferred_bones(poses, prepared.joint_source)
    arrays = {"poses_3d": poses, "poses_3d_initial": initial, "root": root, "uncertainty": uncertainty,
              "root_std": std}
    return camera, arrays, root_done, {"root": {
        "method": "trajectory.estimate_root_trajectory (smooth least-squares trajectory)",
        "filled_joint_weight": FILLED_WEIGHT, **steps.SETTINGS, "focal_prior_weight": FOCAL_PRIOR_WEIGHT,
        "depth_scale": engine.calibration.root_depth_scale,
        "root_std_relative": {"size": steps.ROOT_SIZE_STD, "focal_depth": camera.focal_log_std},
        "keypoint_noise_px": float(np.sqrt(noise) * camera.width / 2), "inferred_settle_rounds": settle_rounds}}


def _causal(prepared: Prepared, engine, settings: LiftSettings, progress: bool):
    """The camera as given: a live stream has no whole sequence to fit the focal length on."""
    x = prepared.x
    engine.open_ahead(engine.uao_graph(settings.iters))  # the first frame's latency: its session opens meanwhile
    cams = np.repeat(prepared.camera.normalized()[None], len(x), axis=0)
    poses, root, latency, initial, uncertainty = steps.lift_causal(engine, x, cams, prepared.weights,
                                                                   prepared.detected, settings.iters)
    arrays = {"poses_3d": poses, "poses_3d_initial": initial, "root": root, "uncertainty": uncertainty}
    return prepared.camera, arrays, None, {
        "root": {"method": "trajectory.estimate_root_trajectory (smooth least-squares trajectory), causal window of "
                           f"{steps.CAUSAL_WINDOW} frames", "filled_joint_weight": FILLED_WEIGHT, **steps.SETTINGS,
                 "depth_scale": engine.calibration.root_depth_scale},
        "latency_ms": {"mean": float(latency.mean()), "p95": float(np.percentile(latency, 95)),
                       "max": float(latency.max())}}
