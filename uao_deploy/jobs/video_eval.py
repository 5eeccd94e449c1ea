"""``uao eval --video``: what a user gets from keypoint videos of real motion, method by method.

Mocap clips are turned into keypoint videos (:mod:`uao_deploy.data.video_noise`) and lifted with
:func:`uao_deploy.pipeline.lift`, exactly as ``uao infer`` does:

* ``plain``: ``--tto-iters 0`` (the lifter with the per-frame least-squares root);
* ``plain+savgol``: that output smoothed with ``scipy.signal.savgol_filter`` (cubic; 31 frames on
  the root, 9 on the pose), what users do by hand;
* ``frame-uao``: ``--mode frame`` (UAO per frame through the per-frame root);
* ``sequence-uao``: the default sequence mode;
* ``causal-uao`` (only where asked for): ``--causal``, live use, each frame from the frames up to it;
* ``sequence-uao+height``: the sequence-mode result scaled to the clip's true height, as
  ``uao infer --subject-height`` does (:mod:`uao_deploy.pipeline.height`).

Metrics per video, then averaged per clip (over its cameras) and over clips: MPJPE and P-MPJPE
(root-relative), root error, absolute MPJPE (camera frame), acceleration error of the absolute
joints (mm/frame^2) and bone-length variation (standard deviation over time of each bone's length,
averaged over bones), in mm; and the world-grounded metrics of WHAM and GVHMR on the 17 joints
(:mod:`uao_deploy.metrics`, docs/world-grounded.md): W-MPJPE100 and WA-MPJPE100 (mm), RTE (%),
jitter (10 m/s^3), foot sliding of the ankles (mm/frame), the root error split into lateral and
depth parts with the signed depth bias (mm, negative: too near), and the angle between the up
direction of the world frame fitted to the result (:mod:`uao_deploy.pipeline.world`) and the true
one (degrees). The camera is static, so the camera frame is a rigid transform of the world and
the world metrics are computed in it.
"""
from __future__ import annotations

import numpy as np

from .. import skeleton
from ..data.video_noise import VideoClip
from ..errors import UaoError
from ..metrics import (angle_degrees, foot_sliding, jitter, mpjpe, p_mpjpe, root_error_parts, rte, still_feet,
                       w_mpjpe)
from ..pipeline import LiftSettings, camera_of, lift, prepare
from ..pipeline.feet import LEGS, place_feet
from ..pipeline.height import height_scales, skeleton_height
from ..pipeline.world import ANKLE_HEIGHT, ANKLES, WorldFrame, estimate_world_frame

FREE_FEET = "sequence-uao-free-feet"  # sequence-uao without planting its feet (pipeline.feet)
METHODS = ("plain", "plain+savgol", "frame-uao", "sequence-uao", "causal-uao", "sequence-uao+height", FREE_FEET)
METRICS = ("mpjpe", "p_mpjpe", "root_error", "abs_mpjpe", "accel_error", "bone_std")
WORLD_METRICS = ("w_mpjpe100", "wa_mpjpe100", "rte", "jitter", "foot_sliding", "root_lateral", "root_depth",
                 "depth_bias", "up_error", "floor_penetration")
SAVGOL_ROOT, SAVGOL_POSE = 31, 9


def savgol(track: np.ndarray, window: int) -> np.ndarray:
    """Cubic Savitzky-Golay over frames; the window shrinks (odd) for clips shorter than it."""
    from scipy.signal import savgol_filter

    window = min(window, len(track) if len(track) % 2 else len(track) - 1)
    return track if window <= 3 else savgol_filter(track, window, 3, axis=0, mode="interp")


def _acceleration(track: np.ndarray) -> np.ndarray:
    return track[2:] - 2 * track[1:-1] + track[:-2]


def video_metrics(pose: np.ndarray, root: np.ndarray, clip: VideoClip, detected: np.ndarray | None = None,
                  contacts: np.ndarray | None = None, frame: WorldFrame | None = None) -> dict[str, float]:
    """The METRICS (mm) and, where the clip knows its up direction, the WORLD_METRICS of one lifted video
    (in the world frame ``frame`` the result was written with, else fitted to the ``detected`` (T, 17)
    joints, as ``uao infer`` fits it); with foot
    ``contacts`` (T, 2), their precision and recall (%) against the frames where the true ankle is still
    (as :func:`uao_deploy.metrics.foot_sliding` counts them)."""
    pose, root = np.asarray(pose, np.float64), np.asarray(root, np.float64)
    absolute, truth = pose + root[:, None], clip.target + clip.root[:, None]
    bones = np.linalg.norm(pose[:, 1:] - pose[:, list(skeleton.PARENTS[1:])], axis=-1)
    values = {
        "mpjpe": mpjpe(pose, clip.target).mean(),
        "p_mpjpe": p_mpjpe(pose, clip.target).mean(),
        "root_error": np.linalg.norm(root - clip.root, axis=-1).mean(),
        "abs_mpjpe": mpjpe(absolute, truth).mean(),
        "accel_error": np.linalg.norm(_acceleration(absolute) - _acceleration(truth), axis=-1).mean()
        if len(pose) > 2 else 0.0,
        "bone_std": bones.std(axis=0).mean(),
    }
    if clip.up is not None:
        fps = clip.sequence.fps
        values.update(w_mpjpe100=w_mpjpe(absolute, truth), wa_mpjpe100=w_mpjpe(absolute, truth, fit_frames=None),
                      foot_sliding=foot_sliding(absolute[:, list(ANKLES)], truth[:, list(ANKLES)], fps),
                      **root_error_parts(root, clip.root))
    values = {name: float(value) * 1000 for name, value in values.items()}  # mm
    if clip.up is not None:
        values["still_foot_frames"] = float(still_feet(truth[:, list(ANKLES)], clip.sequence.fps).sum())
        frame = frame or estimate_world_frame(pose, root, detected=detected)
        values.update(rte=rte(root, clip.root), jitter=jitter(absolute, clip.sequence.fps),
                      up_error=angle_degrees(frame.up, clip.up),
                      floor_penetration=1000 * floor_penetration(frame.apply(absolute)[:, list(ANKLES), 1]))
    if contacts is not None:
        values.update(contact_scores(contacts, (clip.target + clip.root[:, None])[:, [leg[2] for leg in LEGS]],
                                     clip.sequence.fps))
    return values


def contact_scores(contacts: np.ndarray, true_ankles: np.ndarray, fps: float) -> dict[str, float]:
    """Precision and recall (%) of foot ``contacts`` (T, 2) against the frames where the true ankle (T, 2, 3),
    same feet in the same order, moves less than :func:`uao_deploy.metrics.foot_sliding`'s threshold."""
    still = still_feet(true_ankles, fps)
    contacts = np.asarray(contacts, bool)[:-1]
    hits = (contacts & still).sum()
    return {"contact_precision": 100 * hits / max(contacts.sum(), 1),
            "contact_recall": 100 * hits / max(still.sum(), 1)}


def floor_penetration(ankle_heights: np.ndarray) -> float:
    """How far the ankles sink below the floor: the 95th percentile over frames of the lower ankle's depth
    under its height on the floor (``ANKLE_HEIGHT``), in the world frame fitted to the result; metres."""
    return float(np.percentile(np.maximum(0, ANKLE_HEIGHT - ankle_heights.min(axis=1)), 95))


def truth_metrics(clip: VideoClip) -> dict[str, float]:
    """What the truth itself scores where a method cannot reach zero: jitter and foot sliding."""
    truth = clip.target + clip.root[:, None]
    feet, fps = truth[:, list(ANKLES)], clip.sequence.fps
    return {"jitter": jitter(truth, fps), "foot_sliding": 1000 * foot_sliding(feet, feet, fps),
            "still_foot_frames": float(still_feet(feet, fps).sum())}


def lift_methods(clip: VideoClip, engine, iters: int = 4, methods=METHODS[:4], keypoints=None) -> dict[str, tuple]:
    """(pose, root, foot contacts (T, 2) or None, the world frame the feet were planted in or None) of each
    of ``methods`` (names of METHODS) for one video (``keypoints``: its :func:`~uao_deploy.pipeline.prepare`
    result, made here when not given)."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise UaoError(f"unknown video methods {', '.join(unknown)}; known: {', '.join(METHODS)}")
    lifted = {}
    if keypoints is None:
        keypoints = prepare(clip.sequence, camera_of(clip.sequence))
    if {"plain", "plain+savgol"} & set(methods):
        plain = lift(keypoints, engine, settings=LiftSettings(0, "frame"))
        lifted["plain"] = (plain.poses_3d, plain.root, None, None)
        lifted["plain+savgol"] = (skeleton.zero_root(savgol(plain.poses_3d, SAVGOL_POSE)),
                                  savgol(plain.root, SAVGOL_ROOT), None, None)
    for method, strategy in (("frame-uao", "frame"), ("sequence-uao", "sequence"), ("causal-uao", "causal")):
        if method in methods or (method == "sequence-uao" and {"sequence-uao+height", FREE_FEET} & set(methods)):
            result = lift(keypoints, engine, settings=LiftSettings(iters, strategy, plant_feet=False))
            lifted[method] = (result.poses_3d, result.root, None, None)
            if strategy == "sequence":  # the feet planted as lift() plants them, and as they were
                lifted[FREE_FEET] = lifted[method]
                pose, root, contacts, _, frame = place_feet(result.poses_3d, result.root, keypoints.pixels,
                                                            clip.sequence.fps, keypoints.joint_source)
                lifted[method] = (pose, root, contacts, frame)
    if "sequence-uao+height" in methods:
        pose, root, contacts, frame = lifted["sequence-uao"]
        pose_scale, root_scale = height_scales(pose, skeleton_height(clip.target))
        lifted["sequence-uao+height"] = (pose * pose_scale, root * root_scale, contacts,
                                         frame.scaled(root_scale, pose_scale, root))
    return {method: lifted[method] for method in methods}


def _clip_means(per_clip: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """{metric: mean over clips of the per-clip mean over its videos}, except foot sliding: pooled over
    every still foot-frame of every video, as WHAM's and GVHMR's evaluations pool it (a running clip with
    2 still frames weighs 2 frames, not a clip); its mean over clips is ``foot_sliding_clip_mean``."""
    metrics = dict.fromkeys(metric for scores in per_clip.values() for metric in scores)
    means = {metric: float(np.mean([np.mean(scores[metric]) for scores in per_clip.values() if metric in scores]))
             for metric in metrics}
    if "still_foot_frames" in means:
        videos = [(sliding, frames) for scores in per_clip.values()
                  for sliding, frames in zip(scores.get("foot_sliding", ()), scores.get("still_foot_frames", ()))]
        weight = sum(frames for _, frames in videos)
        means["foot_sliding_clip_mean"] = means["foot_sliding"]
        means["foot_sliding"] = sum(sliding * frames for sliding, frames in videos) / weight if weight else 0.0
        del means["still_foot_frames"]
    return means


def evaluate_videos(clips: list[VideoClip], engine, iters: int = 4, progress: bool = False,
                    causal: bool = False, methods=None, occlusion: str | None = None, seed: int = 0) -> dict:
    """{method: {metric: mean over clips of the per-clip mean over cameras}} plus the clip count (and,
    where the clips know their up direction, the truth's own jitter and foot sliding).

    ``methods``: names of METHODS, by default all but ``causal-uao`` (added where ``causal``).
    ``occlusion``: a model of :mod:`uao_deploy.jobs.truncation` (drawn with ``seed``) hides joints or
    adds a false person first; its scores (:func:`~uao_deploy.jobs.truncation.visibility_metrics`)
    join each method's metrics."""
    if not clips:
        raise UaoError("no videos to evaluate")
    from tqdm import tqdm

    from .truncation import MODELS, occlude, subject_share, truth_visibility, visibility_metrics

    if occlusion is not None and occlusion not in MODELS:
        raise UaoError(f"unknown occlusion model {occlusion!r}; known: {', '.join(MODELS)}")

    methods = methods or METHODS[:4] + ("causal-uao",) * causal
    per_clip: dict[str, dict[str, dict[str, list[float]]]] = {}

    def add(method: str, clip: VideoClip, values: dict[str, float]):
        scores = per_clip.setdefault(method, {}).setdefault(clip.clip, {})
        for metric, value in values.items():
            scores.setdefault(metric, []).append(value)

    for index, clip in enumerate(tqdm(clips, desc="videos", unit="video", disable=not progress)):
        extra, hidden = {}, None
        if occlusion is not None:
            truth_pixels = clip.sequence.pixels
            clip, hidden, extra = occlude(clip, occlusion, np.random.default_rng((seed, index)))
            extra["subject_share"] = subject_share(clip.sequence, truth_pixels)
        keypoints = prepare(clip.sequence, camera_of(clip.sequence))
        for method, (pose, root, contacts, frame) in lift_methods(clip, engine, iters, methods, keypoints).items():
            values = video_metrics(pose, root, clip, keypoints.detected, contacts, frame)
            if occlusion is not None:
                values.update(visibility_metrics(pose, root, clip, keypoints.joint_source, hidden), **extra)
            add(method, clip, values)
        if clip.up is not None:
            add("truth", clip, {**truth_metrics(clip), **(truth_visibility(clip) if occlusion is not None else {})})
    report = {method: _clip_means(clips_) for method, clips_ in per_clip.items() if method != "truth"}
    summary = {"methods": report, "clips": len({clip.clip for clip in clips}), "videos": len(clips),
               "frames": int(sum(len(clip.root) for clip in clips))}
    if "truth" in per_clip:
        summary["truth"] = _clip_means(per_clip["truth"])
    return summary


VISIBILITY_COLUMNS = (("mpjpe_detected", "MPJPE detected", ".1f"), ("mpjpe_inferred", "MPJPE inferred", ".1f"),
                      ("upper_mpjpe", "upper MPJPE", ".1f"), ("upper_mpjpe_thorax", "upper, thorax-rel.", ".1f"),
                      ("trunk_angle", "trunk angle", ".1f"), ("trunk_up_angle", "trunk to up", ".1f"),
                      ("floor_error_cm", "floor (cm)", ".1f"), ("inferred_shin_variation", "inferred shin var. %", ".1f"),
                      ("subject_share", "true subject", ".0%"), ("outputs", "outputs", ".1f"))


def format_visibility_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table of the occlusion scores (:mod:`uao_deploy.jobs.truncation`): one row per (setting,
    method); the truth's trunk angle to the up direction in parentheses; "-" where nothing was measured."""
    lines = ["| setting | method | " + " | ".join(title for _, title, _ in VISIBILITY_COLUMNS) + " |",
             "|---|---|" + "---|" * len(VISIBILITY_COLUMNS)]
    for setting, report in rows:
        truth = report.get("truth", {})
        for method, values in report["methods"].items():
            cells = []
            for key, _, spec in VISIBILITY_COLUMNS:
                cell = format(values[key], spec) if key in values else "-"
                if key == "trunk_up_angle" and key in truth:
                    cell += f" ({truth[key]:.1f})"
                cells.append(cell)
            lines.append(f"| {setting} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_video_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table: one row per (setting, method)."""
    header = ("| setting | method | MPJPE | P-MPJPE | root error | abs. MPJPE | accel. error | bone std |\n"
              "|---|---|---|---|---|---|---|---|")
    lines = [header]
    for setting, report in rows:
        for method, values in report["methods"].items():
            lines.append(f"| {setting} | {method} | " + " | ".join(f"{values[m]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines)
