"""Lift 2D keypoint sequences to 3D: camera, per-frame root, UAO on an engine, atomic output files.

For each sequence (see :mod:`uao_deploy.data.keypoints`):

1. Keypoints far outside the image (:func:`uao_deploy.camera.far_off_image`) count as missing;
   missing joints are filled over time (:func:`~uao_deploy.data.keypoints.fill_missing`).
2. Camera: the image size from the file or ``width``/``height``; the focal length from ``focal``
   (pixels), else the file, else :func:`uao_deploy.camera.default_intrinsics` (focal = the image's
   longer side, about 53 degrees across it; principal point at the image centre; no distortion).
3. Root: no ground truth exists for a video, so each frame's camera-frame root is the translation
   that best reprojects the flip-averaged prediction onto the keypoints
   (:func:`uao_deploy.camera.estimate_root`), weighted by detector confidence; filled joints weigh
   ``FILLED_WEIGHT``. Optionally a centred moving median over ``smooth_root`` frames.
4. UAO with that root (``engine.tto``), in batches.

That is ``mode="frame"`` (and, with ``iters`` 0, every mode: the plain lifter). The default
``mode="sequence"`` replaces steps 3-4 by :mod:`uao_deploy.jobs.video`: a smooth root trajectory
fitted to the whole sequence (the focal length estimated from it when neither ``focal`` nor the
file gives one), UAO through that trajectory, and uncertainty-weighted smoothing over time;
``causal`` does this frame by frame from past frames only.

Output npz (float32): ``poses_3d`` (T, 17, 3) refined pose, root-relative (root joint 0), camera
frame (x right, y down, z forward), metres; ``poses_3d_initial`` the flip-averaged prediction before
TTO; ``root`` (T, 3) camera-frame root, metres; ``uncertainty`` (T, 17) = exp(s) of the network's
forward pass on the keypoints (s is GUMLP's log-scale uncertainty; exp(s) is the scale of the
expected per-joint error, in metres); ``keypoints_2d`` (T, 17, 2) the pixels used, after filling;
``confidence`` (T, 17) detector confidence, 0 where a joint was missing and filled; ``metadata`` a
JSON string (source, format, layout, camera, backend and engine description, iterations, timings,
and the world frame); ``poses_world`` (T, 17, 3) and ``root_world`` (T, 3) the joints and root in
the upright world frame (:mod:`uao_deploy.pipeline.world`). Other output suffixes (.csv .json .bvh
.html) write the same result in other formats (:mod:`uao_deploy.io.results`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__, engines
from ..camera import (DEFAULT_FOCAL_RULE, check_intrinsics, default_intrinsics, estimate_root, far_off_image,
                      normalize_screen_coordinates)
from ..contract import check_tto_iters
from ..data.keypoints import KeypointSequence, fill_missing, read_keypoints
from ..errors import UaoError
from ..contract import TTOConfig
from ..fileio import atomic_write_bytes, check_output_file, check_output_folder

# Root-estimation weight of a filled (not detected) joint: small, but a frame with no detection
# at all still gets a finite root from its interpolated keypoints.
FILLED_WEIGHT = 1e-3
# Longest root-smoothing window: 40 s at 25 fps; longer windows only cost memory.
MAX_SMOOTH_ROOT = 1001
MODES = ("frame", "sequence")
UNCERTAINTY_NOTE = "exp(s) of the forward pass on the keypoints; s is GUMLP's log-scale uncertainty, in metres"


@dataclass
class LiftResult:
    """Arrays of one lifted sequence (the output npz) and its metadata."""

    poses_3d: np.ndarray
    poses_3d_initial: np.ndarray
    root: np.ndarray
    uncertainty: np.ndarray
    keypoints_2d: np.ndarray
    confidence: np.ndarray
    metadata: dict

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in
                  ("poses_3d", "poses_3d_initial", "root", "uncertainty", "keypoints_2d", "confidence")}
        return {**arrays, "metadata": np.array(json.dumps(self.metadata, default=str))}

    def save(self, path) -> Path:
        """Write the npz atomically (a temporary file in the same folder, then a rename)."""
        path = Path(path)

        def write(tmp):
            with open(tmp, "wb") as handle:  # a file object: np.savez would append .npz to a name
                np.savez(handle, **self.arrays())

        atomic_write_bytes(path, write)
        return path


def default_export(checkpoint=None, iters: int = 4) -> Path:
    """ONNX export of ``checkpoint`` (default: the embedded model) with a fused K = ``iters`` graph.

    Exported once into the shared cache (:mod:`uao_deploy.export.cache`) and reused after. With
    ``iters`` 0 the default K is exported; the engine then runs no TTO step at all.
    """
    from ..export.cache import exported_graphs

    fused_iters = iters if iters >= 1 else TTOConfig().iters
    return exported_graphs(checkpoint, TTOConfig(iters=fused_iters))


def open_engine(backend: str | None = None, engine_dir=None, checkpoint=None, iters: int = 4,
                precision: str = "fp32", providers: str | None = None):
    """The engine for ``uao infer``: ``engine_dir`` (an export or engine folder, or a checkpoint), or
    the default: the checkpoint itself on torch, its cached ONNX export on onnxruntime.

    Without ``backend`` it is detected from ``engine_dir``, else onnxruntime. ``precision`` "bf16"
    (TTO steps in bf16) is a torch-backend option; graphs carry the precision they were exported with.
    ``providers`` ("cpu" by default, "cuda", "tensorrt", "tensorrt_rtx") is an onnxruntime option.
    """
    if engine_dir is not None and checkpoint is not None:
        raise UaoError("give either an engine folder or a checkpoint, not both")
    if backend is None:
        backend = engines.detect_backend(engine_dir) if engine_dir is not None else "onnxruntime"
    if providers is not None and backend != "onnxruntime":
        raise UaoError(f"providers choose where ONNX Runtime runs; the {backend} backend takes none")
    if backend == "torch":
        return engines.load(engine_dir or checkpoint, backend="torch", tto=TTOConfig(iters=iters), precision=precision)
    if precision != "fp32":
        raise UaoError(f"precision {precision} runs on the torch backend; {backend} engines run the precision "
                       "they were exported with (`uao export --precision`)")
    if engine_dir is None and backend == "onnxruntime":
        from ..runtimes import require_available

        require_available(providers or "cpu")  # before the export, which takes a minute
        engine_dir = default_export(checkpoint, iters)
    if engine_dir is None:
        raise UaoError(f"the {backend} backend needs --engine DIR, a folder of engines built by `uao export`")
    if backend == "onnxruntime":
        return engines.load(engine_dir, backend=backend, providers=providers or "cpu")
    return engines.load(engine_dir, backend=backend)


def camera_for(sequence: KeypointSequence, width: float | None = None, height: float | None = None,
               focal: float | None = None) -> tuple[np.ndarray, dict]:
    """Normalized intrinsics (9,) of a sequence's camera and, in pixels, what was used."""
    width = width if width is not None else sequence.width
    height = height if height is not None else sequence.height
    if width is None or height is None:
        raise UaoError(f"{sequence.source}: the image size is unknown; pass --width and --height (pixels)")
    pixel_focal = (focal, focal) if focal is not None else sequence.focal
    check_intrinsics(width, height, pixel_focal, sequence.center, sequence.source)
    cam = default_intrinsics(width, height)
    if pixel_focal is not None:
        cam[0:2] = np.asarray(pixel_focal) / width * 2
    if sequence.center is not None:
        cam[2:4] = normalize_screen_coordinates(np.asarray(sequence.center), width, height)
    used = {"width": float(width), "height": float(height), "focal_px": (cam[0:2] * width / 2).tolist(),
            "center_px": list(sequence.center or (width / 2, height / 2)),
            "focal_source": "argument" if focal is not None else "file" if sequence.focal
            else f"default ({DEFAULT_FOCAL_RULE})"}
    return cam, used


def smooth_track(track: np.ndarray, window: int, chunk: int = 4096) -> np.ndarray:
    """Centred moving median over ``window`` frames (rounded up to odd; shorter at the ends).

    Computed ``chunk`` frames at a time: the median copies each frame's window."""
    check_options(smooth_root=window)
    if window <= 1:
        return track
    half = window // 2
    padded = np.pad(track.astype(np.float64), ((half, half), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (T, 3, window)
    return np.concatenate([np.nanmedian(windows[start:start + chunk], axis=-1)
                           for start in range(0, len(track), chunk)]).astype(np.float32)


def check_options(iters: int = 0, smooth_root: int = 1, batch_size: int = 1, mode: str = "sequence",
                  causal: bool = False) -> None:
    """Refuse option values that no run can use, before any work."""
    check_tto_iters(iters)
    if not 1 <= smooth_root <= MAX_SMOOTH_ROOT:
        raise UaoError(f"the root smoothing window must be 1 to {MAX_SMOOTH_ROOT} frames; got {smooth_root}")
    if batch_size < 1:
        raise UaoError(f"the batch size must be at least 1; got {batch_size}")
    if mode not in MODES:
        raise UaoError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if causal and mode != "sequence":
        raise UaoError("--causal is a sequence-mode option")
    if mode == "sequence" and iters >= 1 and smooth_root != 1:
        raise UaoError("--smooth-root is a frame-mode option; sequence mode fits a smooth root trajectory itself")


def prepare(sequence: KeypointSequence, width: float | None = None, height: float | None = None,
            focal: float | None = None) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray, np.ndarray]:
    """(intrinsics, camera used, filled pixels, detected mask, confidence) of a sequence: keypoints
    far outside the image count as missing, then missing joints are filled."""
    cam, camera = camera_for(sequence, width, height, focal)
    off_image = far_off_image(sequence.pixels, camera["width"], camera["height"])
    confidence = np.where(off_image, 0.0, sequence.confidence).astype(np.float32)
    pixels, detected = fill_missing(sequence.pixels, confidence, sequence.source)
    return cam, camera, pixels, detected, confidence


def model_inputs(cam, camera, pixels, detected, confidence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalized keypoints (T, 17, 2), intrinsics per frame (T, 9), root-fit weights (T, 17)) from
    :func:`prepare`'s result: filled joints weigh ``FILLED_WEIGHT``."""
    x = normalize_screen_coordinates(pixels, camera["width"], camera["height"])
    return x, np.repeat(cam[None], len(x), axis=0), np.where(detected, confidence, FILLED_WEIGHT)


def _batches(frames: int, batch_size: int):
    return [slice(start, start + batch_size) for start in range(0, frames, batch_size)]


def lift(sequence: KeypointSequence, engine, iters: int = 4, width: float | None = None, height: float | None = None,
         focal: float | None = None, smooth_root: int = 1, batch_size: int = 64, progress: bool = False,
         mode: str = "sequence", causal: bool = False) -> LiftResult:
    """Lift one keypoint sequence with ``engine`` (see the module docstring for every step).

    ``mode`` "sequence" (with ``iters`` >= 1) runs :mod:`uao_deploy.jobs.video` instead of steps 3-4:
    a smooth root trajectory, UAO through it and uncertainty-weighted smoothing; ``causal`` does so
    frame by frame with past frames only and reports the per-frame latency.
    """
    check_options(iters, smooth_root, batch_size, mode, causal)
    started = time.perf_counter()
    cam, camera, pixels, detected, confidence = prepare(sequence, width, height, focal)
    frames = len(pixels)
    x, cams, weights = model_inputs(cam, camera, pixels, detected, confidence)
    batches = _batches(frames, batch_size)
    if mode == "sequence" and iters >= 1:
        result = _lift_video(sequence, engine, iters, x, cams, camera, pixels, detected, confidence, weights,
                             batch_size, causal, started)
        check_result(result, sequence.source)
        return result

    from tqdm import tqdm

    with tqdm(total=2 * frames, unit="frame", desc=sequence.name, disable=not progress, leave=False) as bar:
        initial, uncertainty, root = [], [], []
        for part in batches:
            _, s = engine.forward(x[part], return_uncertainty=True)
            pose = engine.predict(x[part])
            initial.append(pose)
            uncertainty.append(np.exp(s[..., 0]))
            root.append(estimate_root(pose, x[part], cams[part], weights[part]))
            bar.update(len(pose))
        root = smooth_track(np.concatenate(root), smooth_root)
        root_done = time.perf_counter()
        poses = []
        for part in batches:
            poses.append(engine.tto(x[part], cams[part], root[part], iters=iters))
            bar.update(len(poses[-1]))
    done = time.perf_counter()

    metadata = _metadata(sequence, engine, iters, camera, detected, batch_size, started, root_done, done,
                         root={"method": "camera.estimate_root of the flip-averaged prediction, confidence-weighted",
                               "filled_joint_weight": FILLED_WEIGHT, "smooth_root_frames": smooth_root})
    result = LiftResult(poses_3d=np.concatenate(poses).astype(np.float32),
                        poses_3d_initial=np.concatenate(initial).astype(np.float32), root=root.astype(np.float32),
                        uncertainty=np.concatenate(uncertainty).astype(np.float32), keypoints_2d=pixels,
                        confidence=np.where(detected, confidence, 0).astype(np.float32), metadata=metadata)
    check_result(result, sequence.source)
    return result


def _metadata(sequence: KeypointSequence, engine, iters: int, camera: dict, detected: np.ndarray, batch_size: int,
              started: float, root_done: float, done: float, **mode) -> dict:
    """The output's metadata, the same for every mode; ``mode`` adds how the root was found (and, in
    sequence mode, the mode)."""
    frames = len(detected)
    return {
        "uao_version": __version__, "source": sequence.source, "format": sequence.format, "layout": sequence.layout,
        "frames": frames, "fps": sequence.fps, "camera": camera, "missing_joints_filled": int((~detected).sum()),
        **mode, "uncertainty": UNCERTAINTY_NOTE, "backend": engine.backend, "engine": engine.describe(),
        "tto_iters": iters, "tto_path": engine.last_tto_path, "tto_path_notice": engine.path_notice(iters),
        "batch_size": batch_size,
        "timings_s": {"root": root_done - started, "tto": done - root_done, "total": done - started,
                      "ms_per_frame": 1000 * (done - started) / frames},
    }


def check_result(result: LiftResult, source: str) -> None:
    """Refuse a result that is no pose: non-finite values (e.g. a broken engine) or a root behind the camera."""
    for name, array in result.arrays().items():
        if name != "metadata" and not np.isfinite(array).all():
            frame = int(np.argwhere(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))[0, 0])
            raise UaoError(f"{source}: the {name} of frame {frame} is not finite (NaN or infinite); nothing written")
    behind = np.flatnonzero(result.root[:, 2] <= 0)
    if len(behind):
        raise UaoError(f"{source}: frame {behind[0]} puts the root behind the camera (z = {result.root[behind[0], 2]:.3g} m); "
                       "check the keypoints and the camera values; nothing written")


def write_lifted(result: LiftResult, target, up=None, camera_pitch: float | None = None) -> Path:
    """Write a lifted sequence with its world frame, atomically, in the format of ``target``'s suffix."""
    from ..io.results import LIFT_ARRAYS, write_result
    from ..pipeline.world import add_world_frame

    arrays = {key: getattr(result, key) for key in LIFT_ARRAYS}
    return write_result(target, *add_world_frame(arrays, result.metadata, up, camera_pitch))


def _lift_video(sequence, engine, iters, x, cams, camera, pixels, detected, confidence, weights, batch_size, causal,
                started):
    from . import video

    latency = None
    if causal:  # the camera as given: a live stream has no whole sequence to fit the focal length on
        poses, root, latency, initial, uncertainty = video.lift_causal(engine, x, cams, weights, detected, iters)
        root_done = started
    else:
        x, noise, noise_left = video.denoise_keypoints(x, weights, detected)
        initial, uncertainty = (np.concatenate(parts) for parts in zip(
            *(video.predict_with_uncertainty(engine, x[part]) for part in _batches(len(x), batch_size))))
        if camera["focal_source"].startswith("default"):
            scale, fitted = video.focal_scale(x, cams, initial, uncertainty, weights)
            cams = cams.copy()
            cams[:, :2] *= scale
            camera = {**camera, "focal_px": [f * scale for f in camera["focal_px"]],
                      "focal_source": f"estimated from the sequence ({scale:.3f} x {DEFAULT_FOCAL_RULE}: fitted "
                                      f"{fitted:.3f}, weighed with the prior 1.0 by {video.FOCAL_PRIOR_WEIGHT:g})"}
        root = video.root_trajectory(x, cams, initial, uncertainty, weights, noise_left,
                                     engine.calibration.root_depth_scale)
        root_done = time.perf_counter()
        poses, root = video.refine_and_smooth(engine, x, cams, root, uncertainty, weights, iters)
    done = time.perf_counter()
    metadata = _metadata(sequence, engine, iters, camera, detected, 1 if causal else batch_size, started, root_done,
                         done, mode="sequence", causal=causal,
                         root={"method": "trajectory.estimate_root_trajectory (smooth least-squares trajectory)"
                                         + (f", causal window of {video.CAUSAL_WINDOW} frames" if causal else ""),
                               "filled_joint_weight": FILLED_WEIGHT, **video.SETTINGS,
                               "depth_scale": engine.calibration.root_depth_scale,
                               "keypoint_noise_px": None if causal else float(np.sqrt(noise) * camera["width"] / 2)})
    if latency is not None:
        metadata["latency_ms"] = {"mean": float(latency.mean()), "p95": float(np.percentile(latency, 95)),
                                  "max": float(latency.max())}
    return LiftResult(poses_3d=poses.astype(np.float32), poses_3d_initial=initial.astype(np.float32),
                      root=root.astype(np.float32), uncertainty=uncertainty.astype(np.float32), keypoints_2d=pixels,
                      confidence=np.where(detected, confidence, 0).astype(np.float32), metadata=metadata)


def output_paths(sequences: list[KeypointSequence], out) -> list[Path]:
    """``out`` with a suffix names the output file, in the format the suffix names (.npz .csv .json .bvh
    .html); several people of one file: the first (the main subject) there and the others
    <stem>_person<id><suffix>; other sequences <stem>_<name><suffix> each. Without a suffix it is a
    folder of <name>.npz."""
    from ..io.results import check_output

    out = Path(out)
    one_file = len({sequence.source.split("#")[0] for sequence in sequences}) == 1
    if out.suffix:  # a file, even where a folder of that name is in the way (refused before any work)
        check_output(out)
        if len(sequences) == 1:
            paths = [out]
        elif one_file and all(sequence.person is not None for sequence in sequences):
            paths = [out] + [out.with_name(f"{out.stem}_person{sequence.person}{out.suffix}")
                             for sequence in sequences[1:]]
        else:
            paths = [out.with_name(f"{out.stem}_{sequence.name}{out.suffix}") for sequence in sequences]
    else:
        check_output_folder(out)
        paths = [out / f"{sequence.name}.npz" for sequence in sequences]
    duplicates = sorted({p.name for p in paths if paths.count(p) > 1})
    if duplicates:
        raise UaoError(f"several inputs would write {', '.join(duplicates)} in {out}; rename the inputs")
    return paths


def render_paths(sequences: list[KeypointSequence], render) -> list[Path | None]:
    """One animation per sequence: ``render`` itself, or <stem>_<name><suffix> when there are several."""
    if render is None:
        return [None] * len(sequences)
    render = Path(render)
    if len(sequences) == 1:
        return [render]
    return [render.with_name(f"{render.stem}_{sequence.name}{render.suffix}") for sequence in sequences]


def infer_files(files, out, layout: str = "auto", allow_pickle: bool = False, width=None, height=None, focal=None,
                iters: int = 4, smooth_root: int = 1, batch_size: int = 64, backend=None, engine_dir=None,
                checkpoint=None, render=None, progress: bool = False, log=print, precision: str = "fp32",
                providers: str | None = None, format: str = "auto", person: str = "main", up=None,
                camera_pitch: float | None = None, mode: str = "sequence", causal: bool = False,
                video=None, fps: float | None = None) -> list[Path]:
    """``uao infer``: read and check every input first, so a bad one leaves nothing written.

    ``format``/``person`` choose the reader and people (:mod:`uao_deploy.io.keypoints`); the
    output's suffix its writer (:mod:`uao_deploy.io.results`); ``up``/``camera_pitch`` override
    the world frame's up direction (:mod:`uao_deploy.pipeline.world`); ``mode``/``causal`` as
    :func:`lift`; ``video`` goes under the keypoints of the ``render`` animations; ``fps`` replaces the
    files' frame rates.
    """
    if not files:
        raise UaoError("no keypoint files given")
    check_options(iters, smooth_root, batch_size, mode, causal)
    if up is not None and camera_pitch is not None:
        raise UaoError("give either --up or --camera-pitch, not both")
    sequences = [sequence for path in files
                 for sequence in read_keypoints(path, layout, allow_pickle, format, person, width, height, fps)]
    cameras = [prepare(sequence, width, height, focal)[1] for sequence in sequences]
    targets = output_paths(sequences, out)
    for target in targets:
        check_output_file(target, files, "output")
    for sequence in sequences:
        for note in sequence.notes:
            log(f"Note: {note}")
    if person == "all":
        from ..io.keypoints.people import describe

        files_of = [sequence.source.split("#")[0] for sequence in sequences]
        for number, (sequence, target) in enumerate(zip(sequences, targets)):
            main = " (main subject)" if number == 0 or files_of[number] != files_of[number - 1] else ""
            log(f"{sequence.source}{main}: {describe(sequence)} -> {target}")
    animations = render_paths(sequences, render)
    if render is not None:
        from ..viz.render import check_render_target

        check_render_target(render)
        for animation in animations:
            check_output_file(animation, [*files, *targets], "animation")
    if video is not None:
        if render is None:
            raise UaoError("--video is drawn under the keypoints of --render's animation; add --render")
        from ..viz.render import check_video

        for sequence, camera in zip(sequences, cameras):
            check_video(video, len(sequence), camera["width"], camera["height"])
    engine = open_engine(backend, engine_dir, checkpoint, iters, precision, providers)
    notice = engine.path_notice(iters)
    if notice:
        log(f"Note: {notice}")
    with engine:
        for sequence, target, animation in zip(sequences, targets, animations):
            result = lift(sequence, engine, iters, width, height, focal, smooth_root, batch_size, progress, mode, causal)
            write_lifted(result, target, up, camera_pitch)
            timings = result.metadata["timings_s"]
            log(f"{sequence.source}: {len(sequence)} frames -> {target} "
                f"({timings['total']:.2f} s, {timings['ms_per_frame']:.1f} ms/frame, {engine.backend})")
            if "latency_ms" in result.metadata:
                latency = result.metadata["latency_ms"]
                log(f"  causal latency per frame: mean {latency['mean']:.1f} ms, p95 {latency['p95']:.1f} ms")
            if animation is not None:
                from ..viz.render import render_animation

                render_animation(result.keypoints_2d, result.poses_3d, animation,
                                 result.metadata["camera"]["width"], result.metadata["camera"]["height"],
                                 fps=sequence.fps or 25.0, title=sequence.name,
                                 root=result.root, up=up, camera_pitch=camera_pitch, video=video)
                log(f"  animation -> {animation}")
    return targets


def demo(out="demo_out", backend: str = "onnxruntime", iters: int = 4, render: bool = True, render_step: int = 2,
         frames: int | None = None, log=print) -> dict:
    """``uao demo``: the embedded model on the embedded sample, end to end; returns the summary.

    Exports the model (once, into the cache) unless ``backend`` is torch, lifts the sample (its
    first ``frames`` frames when given), writes OUT/sample_3d.npz, OUT/sample_3d.gif (every
    ``render_step``-th frame) and OUT/summary.json, and reports MPJPE against the sample's ground
    truth and the time of each step.
    """
    from ..data.sample import SAMPLE_PATH
    from ..metrics import mpjpe, p_mpjpe

    out = check_output_folder(out)
    timings = {}
    started = time.perf_counter()
    engine = open_engine(backend, iters=iters)
    timings["export_and_load"] = time.perf_counter() - started
    log(f"engine: {engine.backend} ({timings['export_and_load']:.1f} s to export or find in the cache, and load)")
    sequence, = read_keypoints(SAMPLE_PATH)
    sequence = replace(sequence, pixels=sequence.pixels[:frames], confidence=sequence.confidence[:frames])
    with engine:
        result = lift(sequence, engine, iters=iters)
    timings.update({f"lift_{k}": v for k, v in result.metadata["timings_s"].items()})
    path = result.save(out / "sample_3d.npz")
    log(f"lifted {len(sequence)} frames -> {path}: root {timings['lift_root']:.2f} s, "
        f"TTO ({iters} iterations) {timings['lift_tto']:.2f} s, {timings['lift_ms_per_frame']:.1f} ms/frame")

    with np.load(SAMPLE_PATH) as sample:
        truth, root_truth = sample["poses_3d_gt"][:frames], sample["root_gt"][:frames]
    metrics = {"mpjpe_mm_no_tto": float(mpjpe(result.poses_3d_initial, truth).mean() * 1000),
               "mpjpe_mm": float(mpjpe(result.poses_3d, truth).mean() * 1000),
               "p_mpjpe_mm": float(p_mpjpe(result.poses_3d, truth).mean() * 1000),
               "root_error_mm": float(np.linalg.norm(result.root - root_truth, axis=-1).mean() * 1000)}
    log(f"MPJPE {metrics['mpjpe_mm']:.1f} mm (without TTO {metrics['mpjpe_mm_no_tto']:.1f} mm), "
        f"P-MPJPE {metrics['p_mpjpe_mm']:.1f} mm, estimated root off by {metrics['root_error_mm']:.0f} mm on average")

    if render:
        from ..viz.render import render_animation

        started = time.perf_counter()
        animation = render_animation(result.keypoints_2d, result.poses_3d, out / "sample_3d.gif",
                                     sequence.width, sequence.height, fps=sequence.fps, title="uao demo",
                                     step=render_step, root=result.root)
        timings["render"] = time.perf_counter() - started
        log(f"animation -> {animation} ({timings['render']:.1f} s)")
    summary = {"metrics": metrics, "timings_s": timings, "engine": result.metadata["engine"],
               "sample": str(SAMPLE_PATH)}
    atomic_write_bytes(out / "summary.json",
                       lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2, default=str) + "\n"))
    return summary
