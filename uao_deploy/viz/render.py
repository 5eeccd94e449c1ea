"""Animations of a lifted sequence: the 2D keypoints beside the 3D skeleton, frame by frame.

GIF goes through Pillow (which matplotlib depends on); MP4 needs the ``ffmpeg`` program. The 3D
view shows the camera-frame pose with the image's "up" (-y) pointing up and depth (z) going into
the picture; left joints blue, right joints red.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import skeleton
from ..errors import UaoError
from ..fileio import atomic_write_bytes

FORMATS = (".gif", ".mp4")
_SIDE_COLOURS = {"left": "tab:blue", "right": "tab:red", "centre": "0.3"}


def check_render_target(path) -> None:
    """Refuse, before any work is done, an animation file that cannot be written."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UaoError(f"cannot render {path}: choose a .gif or .mp4 file")
    if suffix == ".mp4":
        from matplotlib import animation

        if not animation.writers.is_available("ffmpeg"):
            raise UaoError(f"rendering {path} needs ffmpeg on PATH, which was not found; install it or render a .gif")


def _writer(suffix: str, fps: float):
    from matplotlib import animation

    if suffix == ".mp4":
        return animation.FFMpegWriter(fps=fps)
    return animation.PillowWriter(fps=fps)


def _bone_colour(joint: int) -> str:
    side = "left" if joint in skeleton.LEFT else "right" if joint in skeleton.RIGHT else "centre"
    return _SIDE_COLOURS[side]


def _view_2d(keypoints_2d: np.ndarray, width: float, height: float) -> dict:
    """Axis limits around the whole track (fixed over frames, clipped to the image), y down."""
    low, high = keypoints_2d.reshape(-1, 2).min(axis=0), keypoints_2d.reshape(-1, 2).max(axis=0)
    centre, half = (low + high) / 2, (high - low).max() * 0.6 + 10
    x0, x1 = max(0.0, centre[0] - half), min(float(width), centre[0] + half)
    y0, y1 = max(0.0, centre[1] - half), min(float(height), centre[1] + half)
    return {"xlim": (x0, x1), "ylim": (y1, y0)}


def _to_plot_axes(poses: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth, up)."""
    return np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1)


def render_animation(keypoints_2d: np.ndarray, poses_3d: np.ndarray, path, width: float, height: float,
                     fps: float = 25.0, title: str | None = None, step: int = 1, dpi: int = 80) -> Path:
    """Write ``path`` (.gif or .mp4): pixels (T, 17, 2) left, root-relative poses (T, 17, 3) right.

    The 2D panel shows the part of the image the person moves in. ``step`` > 1 draws every
    step-th frame (at fps / step, so the duration is kept). The file is written under a temporary
    name in the same folder and renamed when complete.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    path = Path(path)
    check_render_target(path)
    frames = range(0, len(poses_3d), max(1, step))
    fps = fps / max(1, step)
    poses = _to_plot_axes(np.asarray(poses_3d, dtype=np.float32))
    bones = [(joint, parent) for joint, parent in enumerate(skeleton.PARENTS) if parent >= 0]
    radius = 0.9  # metres around the root

    figure = Figure(figsize=(8, 4))
    ax_2d = figure.add_subplot(1, 2, 1)
    ax_2d.set(**_view_2d(keypoints_2d, width, height), aspect="equal", xticks=[], yticks=[], title="2D keypoints")
    ax_3d = figure.add_subplot(1, 2, 2, projection="3d")
    ax_3d.set(xlim=(-radius, radius), ylim=(-radius, radius), zlim=(-radius, radius),
              xticklabels=[], yticklabels=[], zticklabels=[], title="3D (camera frame)")
    ax_3d.view_init(elev=15.0, azim=-70.0)
    if title:
        figure.suptitle(title)
    lines_2d = [ax_2d.plot([], [], color=_bone_colour(j), lw=2)[0] for j, _ in bones]
    lines_3d = [ax_3d.plot([], [], [], color=_bone_colour(j), lw=2)[0] for j, _ in bones]
    label = ax_2d.text(0.02, 0.02, "", transform=ax_2d.transAxes, fontsize=8)

    def write(tmp):
        writer = _writer(path.suffix.lower(), fps)
        with writer.saving(figure, tmp, dpi=dpi):
            for frame in frames:
                for (joint, parent), line_2d, line_3d in zip(bones, lines_2d, lines_3d):
                    ends_2d = keypoints_2d[frame, [joint, parent]]
                    line_2d.set_data(ends_2d[:, 0], ends_2d[:, 1])
                    ends_3d = poses[frame, [joint, parent]]
                    line_3d.set_data_3d(ends_3d[:, 0], ends_3d[:, 1], ends_3d[:, 2])
                label.set_text(f"frame {frame}")
                writer.grab_frame()

    atomic_write_bytes(path, write, suffix=path.suffix)
    return path
