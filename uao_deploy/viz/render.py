"""Animations of a lifted sequence: the 2D keypoints beside the 3D skeleton, frame by frame.

GIF goes through Pillow (which matplotlib depends on); MP4 needs the ``ffmpeg`` program. The 2D
view is the whole image in the video's aspect ratio. The 3D view shows the pose in the upright
world frame standing on the floor when the root is given, else the camera-frame pose with the
image's "up" (-y) pointing up and depth (z) going into the picture; left joints blue, right red.
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


def _figure_size(width: float, height: float, panel: float = 4.0) -> tuple[float, float]:
    """Inches: the 2D panel with the video's aspect ratio beside a square 3D panel."""
    return panel * float(width) / float(height) + panel, panel + 0.5


def _to_plot_axes(poses: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth, up)."""
    return np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1)


def _world_to_plot_axes(world: np.ndarray) -> np.ndarray:
    """World frame (X, Y up, Z towards the camera) -> plot axes (x, depth, up)."""
    return np.stack([world[..., 0], -world[..., 2], world[..., 1]], axis=-1)


def _floor_lines(centre: np.ndarray, radius: float, spacing: float = 0.5) -> list[np.ndarray]:
    """Floor grid lines (each (2, 3), plot axes) fixed in the world, within ``radius`` of ``centre``."""
    lines = []
    for axis in (0, 1):
        first = np.ceil((centre[axis] - radius) / spacing) * spacing
        for value in np.arange(first, centre[axis] + radius + 1e-9, spacing):
            ends = np.zeros((2, 3))
            ends[:, axis] = value
            ends[:, 1 - axis] = centre[1 - axis] - radius, centre[1 - axis] + radius
            lines.append(ends)
    return lines


def render_animation(keypoints_2d: np.ndarray, poses_3d: np.ndarray, path, width: float, height: float,
                     fps: float = 25.0, title: str | None = None, step: int = 1, dpi: int = 80,
                     root: np.ndarray | None = None, up=None, camera_pitch: float | None = None) -> Path:
    """Write ``path`` (.gif or .mp4): pixels (T, 17, 2) left, root-relative poses (T, 17, 3) right.

    The 2D panel is the whole image, in the video's aspect ratio. With the camera-frame ``root``
    (T, 3) the 3D panel shows the upright world frame (:mod:`uao_deploy.pipeline.world`, ``up``
    and ``camera_pitch`` override its up direction) with the floor, following the person;
    without it, the root-relative camera-frame pose. ``step`` > 1 draws every step-th frame (at
    fps / step, so the duration is kept). The file is written under a temporary name in the same
    folder and renamed when complete.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    path = Path(path)
    check_render_target(path)
    frames = range(0, len(poses_3d), max(1, step))
    fps = fps / max(1, step)
    radius = 0.9  # metres around the root
    if root is not None:
        from ..pipeline.world import to_world

        world, _, _ = to_world(poses_3d, root, up, camera_pitch)
        poses = _world_to_plot_axes(world)
        centres = poses[:, 0].copy()
        centres[:, 2] = radius  # the view follows the pelvis over the floor; the floor stays at the bottom
    else:
        poses = _to_plot_axes(np.asarray(poses_3d, dtype=np.float32))
        centres = np.zeros((len(poses), 3))
    bones = [(joint, parent) for joint, parent in enumerate(skeleton.PARENTS) if parent >= 0]

    figure = Figure(figsize=_figure_size(width, height))
    ax_2d = figure.add_subplot(1, 2, 1)
    ax_2d.set(xlim=(0, width), ylim=(height, 0), aspect="equal", xticks=[], yticks=[], title="2D keypoints")
    ax_3d = figure.add_subplot(1, 2, 2, projection="3d")
    ax_3d.set(xticklabels=[], yticklabels=[], zticklabels=[],
              title="3D (world frame, floor)" if root is not None else "3D (camera frame)")
    ax_3d.view_init(elev=15.0, azim=-70.0)
    if title:
        figure.suptitle(title)
    lines_2d = [ax_2d.plot([], [], color=_bone_colour(j), lw=2)[0] for j, _ in bones]
    lines_3d = [ax_3d.plot([], [], [], color=_bone_colour(j), lw=2)[0] for j, _ in bones]
    floor = [ax_3d.plot([], [], [], color="0.75", lw=1)[0] for _ in _floor_lines(np.zeros(3), radius)] \
        if root is not None else []
    label = ax_2d.text(0.02, 0.02, "", transform=ax_2d.transAxes, fontsize=8)

    def write(tmp):
        writer = _writer(path.suffix.lower(), fps)
        with writer.saving(figure, tmp, dpi=dpi):
            for frame in frames:
                centre = centres[frame]
                ax_3d.set(xlim=(centre[0] - radius, centre[0] + radius), ylim=(centre[1] - radius, centre[1] + radius),
                          zlim=(centre[2] - radius, centre[2] + radius))
                for line, ends in zip(floor, _floor_lines(centre, radius)):
                    line.set_data_3d(ends[:, 0], ends[:, 1], ends[:, 2])
                for (joint, parent), line_2d, line_3d in zip(bones, lines_2d, lines_3d):
                    ends_2d = keypoints_2d[frame, [joint, parent]]
                    line_2d.set_data(ends_2d[:, 0], ends_2d[:, 1])
                    ends_3d = poses[frame, [joint, parent]]
                    line_3d.set_data_3d(ends_3d[:, 0], ends_3d[:, 1], ends_3d[:, 2])
                label.set_text(f"frame {frame}")
                writer.grab_frame()

    atomic_write_bytes(path, write, suffix=path.suffix)
    return path
