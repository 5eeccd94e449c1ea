"""``uao eval --video``: what a user gets from keypoint videos of real motion, method by method.

Mocap clips are turned into keypoint videos (:mod:`uao_deploy.data.video_noise`) and lifted with
:func:`uao_deploy.jobs.infer.lift`, exactly as ``uao infer`` does:

* ``plain``: ``--tto-iters 0`` (the lifter with the per-frame least-squares root);
* ``plain+savgol``: that output smoothed with ``scipy.signal.savgol_filter`` (cubic; 31 frames on
  the root, 9 on the pose), what users do by hand;
* ``frame-uao``: ``--mode frame`` (UAO per frame through the per-frame root);
* ``sequence-uao``: the default sequence mode;
* ``causal-uao`` (only where asked for): ``--causal``, live use, each frame from the frames up to it.

Metrics per video, then averaged per clip (over its cameras) and over clips, in mm: MPJPE and
P-MPJPE (root-relative), root error, absolute MPJPE (camera frame), acceleration error of the
absolute joints (mm/frame^2) and bone-length variation (standard deviation over time of each
bone's length, averaged over bones).
"""
from __future__ import annotations

import numpy as np

from .. import skeleton
from ..data.video_noise import VideoClip
from ..errors import UaoError
from ..metrics import mpjpe, p_mpjpe
from .infer import lift

METRICS = ("mpjpe", "p_mpjpe", "root_error", "abs_mpjpe", "accel_error", "bone_std")
SAVGOL_ROOT, SAVGOL_POSE = 31, 9


def savgol(track: np.ndarray, window: int) -> np.ndarray:
    """Cubic Savitzky-Golay over frames; the window shrinks (odd) for clips shorter than it."""
    from scipy.signal import savgol_filter

    window = min(window, len(track) if len(track) % 2 else len(track) - 1)
    return track if window <= 3 else savgol_filter(track, window, 3, axis=0, mode="interp")


def _acceleration(track: np.ndarray) -> np.ndarray:
    return track[2:] - 2 * track[1:-1] + track[:-2]


def video_metrics(pose: np.ndarray, root: np.ndarray, clip: VideoClip) -> dict[str, float]:
    """The METRICS of one lifted video, in mm."""
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
    return {name: float(value) * 1000 for name, value in values.items()}


def lift_methods(clip: VideoClip, engine, iters: int = 4, causal: bool = False) -> dict[str, tuple[np.ndarray,
                                                                                                  np.ndarray]]:
    """(pose, root) of every method for one video (``causal-uao`` where ``causal``)."""
    plain = lift(clip.sequence, engine, iters=0, mode="frame")
    frame = lift(clip.sequence, engine, iters=iters, mode="frame")
    sequence = lift(clip.sequence, engine, iters=iters, mode="sequence")
    smoothed = skeleton.zero_root(savgol(plain.poses_3d, SAVGOL_POSE))
    methods = {"plain": (plain.poses_3d, plain.root), "plain+savgol": (smoothed, savgol(plain.root, SAVGOL_ROOT)),
               "frame-uao": (frame.poses_3d, frame.root), "sequence-uao": (sequence.poses_3d, sequence.root)}
    if causal:
        live = lift(clip.sequence, engine, iters=iters, mode="sequence", causal=True)
        methods["causal-uao"] = (live.poses_3d, live.root)
    return methods


def evaluate_videos(clips: list[VideoClip], engine, iters: int = 4, progress: bool = False,
                    causal: bool = False) -> dict:
    """{method: {metric: mean over clips of the per-clip mean over cameras}} plus the clip count."""
    if not clips:
        raise UaoError("no videos to evaluate")
    from tqdm import tqdm

    per_clip: dict[str, dict[str, dict[str, list[float]]]] = {}
    for clip in tqdm(clips, desc="videos", unit="video", disable=not progress):
        for method, (pose, root) in lift_methods(clip, engine, iters, causal).items():
            scores = per_clip.setdefault(method, {}).setdefault(clip.clip, {})
            for metric, value in video_metrics(pose, root, clip).items():
                scores.setdefault(metric, []).append(value)
    report = {method: {metric: float(np.mean([np.mean(scores[metric]) for scores in clips_.values()]))
                       for metric in METRICS} for method, clips_ in per_clip.items()}
    return {"methods": report, "clips": len({clip.clip for clip in clips}), "videos": len(clips)}


def format_video_table(rows: list[tuple[str, dict]]) -> str:
    """Markdown table: one row per (setting, method)."""
    header = ("| setting | method | MPJPE | P-MPJPE | root error | abs. MPJPE | accel. error | bone std |\n"
              "|---|---|---|---|---|---|---|---|")
    lines = [header]
    for setting, report in rows:
        for method, values in report["methods"].items():
            lines.append(f"| {setting} | {method} | " + " | ".join(f"{values[m]:.1f}" for m in METRICS) + " |")
    return "\n".join(lines)
