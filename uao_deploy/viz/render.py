"""Animations of a lifted sequence: the 2D keypoints beside the 3D skeleton, frame by frame.

GIF goes through Pillow (which matplotlib depends on); MP4 needs the ``ffmpeg`` program, on PATH or
the one bundled with imageio-ffmpeg (the ``viz`` extra), which also reads the frames of a ``video``
to draw the 2D keypoints over. The 2D view is the whole image in the video's aspect ratio. The 3D
view shows the pose in the upright world frame standing on the floor when the root is given, else
the camera-frame pose with the image's "up" (-y) pointing up and depth (z) going into the picture;
left joints blue, right red.
"""
from __future__ import annotations

from contextlib import closing, nullcontext
from pathlib import Path

import numpy as np

from .. import skeleton
from ..errors import UaoError
from ..fileio import atomic_write_bytes
from ..io.results.schema import JOINT_SOURCES

INFERRED = JOINT_SOURCES.index("inferred")

FORMATS = (".gif", ".mp4")
_SIDE_COLOURS = {"left": "tab:blue", "right": "tab:red", "centre": "0.3"}


def check_render_target(path) -> None:
    """Refuse, before any work is done, an animation file that cannot be written."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UaoError(f"cannot render {path}: choose a .gif or .mp4 file")
    if suffix == ".mp4" and _ffmpeg_settings() is None:
        raise UaoError(f"rendering {path} needs ffmpeg, found neither on PATH nor bundled: "
                       f"pip install 'uao-deploy[viz]' or render a .gif")


def _imageio_ffmpeg(purpose: str):
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UaoError(f"{purpose} needs imageio-ffmpeg: pip install 'uao-deploy[viz]'") from None
    return imageio_ffmpeg


def _ffmpeg_settings() -> dict | None:
    """matplotlib rcParams under which its ffmpeg writer runs: the ffmpeg on PATH, else the one
    bundled with imageio-ffmpeg; None when there is neither."""
    from matplotlib import animation, rc_context

    if animation.writers.is_available("ffmpeg"):
        return {}
    try:
        import imageio_ffmpeg

        settings = {"animation.ffmpeg_path": imageio_ffmpeg.get_ffmpeg_exe()}
    except (ImportError, RuntimeError):  # RuntimeError: the package without a binary for this platform
        return None
    with rc_context(settings):
        return settings if animation.writers.is_available("ffmpeg") else None


def check_video(path, frames: int, width: float, height: float) -> None:
    """Refuse, before any lifting, a video that cannot go under ``frames`` keypoint frames of a
    ``width`` x ``height`` image: missing, unreadable, too short or of another frame size."""
    imageio_ffmpeg = _imageio_ffmpeg(f"drawing over the video {path}")
    from ..io.budget import regular_file

    regular_file(path, budget=False)  # a FIFO or a device is named as such, never opened
    try:
        with closing(imageio_ffmpeg.read_frames(str(path))) as reader:
            size = tuple(next(reader)["size"])  # the first item is the stream's metadata
        count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, KeyError, StopIteration):
        raise UaoError(f"cannot read {path} as a video") from None
    if size != (width, height):
        raise UaoError(f"video {path} is {size[0]}x{size[1]} pixels but the keypoints are in a "
                       f"{width:g}x{height:g} image (the file's or --width/--height); give the video they came from")
    if count < frames:
        raise UaoError(f"video {path} has {count} frames, fewer than the {frames} keypoint frames")


def _video_frames(path, step: int):
    """Every ``step``-th frame of the video from the first, (H, W, 3) uint8 RGB, decoded one at a time."""
    import imageio_ffmpeg  # there: check_video ran first

    reader = imageio_ffmpeg.read_frames(str(path))
    width, height = next(reader)["size"]
    try:
        for index, data in enumerate(reader):
            if index % step == 0:
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
    finally:
        reader.close()  # stops ffmpeg when the animation needs no more frames


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
                     root: np.ndarray | None = None, up=None, camera_pitch: float | None = None,
                     video=None, joint_source: np.ndarray | None = None) -> Path:
    """Write ``path`` (.gif or .mp4): pixels (T, 17, 2) left, root-relative poses (T, 17, 3) right.

    With ``joint_source`` (T, 17) (:data:`uao_deploy.io.results.schema.JOINT_SOURCES`), a bone with
    an inferred joint is drawn dashed, and the world frame is fitted to the detected joints.
    The 2D panel is the whole image, in the video's aspect ratio. With the camera-frame ``root``
    (T, 3) the 3D panel shows the upright world frame (:mod:`uao_deploy.pipeline.world`, ``up``
    and ``camera_pitch`` override its up direction) with the floor, following the person;
    without it, the root-relative camera-frame pose. With ``video`` (a file of the same pixel size,
    checked by :func:`check_video`) the 2D panel shows its frame i under keypoint frame i. ``step``
    > 1 draws every step-th frame (at fps / step, so the duration is kept). The file is written
    under a temporary name in the same folder and renamed when complete.
    """
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    path = Path(path)
    check_render_target(path)
    if video is not None:
        check_video(video, len(poses_3d), width, height)
    frames = range(0, len(poses_3d), max(1, step))
    fps = fps / max(1, step)
    radius = 0.9  # metres around the root
    if root is not None:
        from ..pipeline.world import to_world

        world, _, _ = to_world(poses_3d, root, up, camera_pitch,
                               None if joint_source is None else np.asarray(joint_source) == 0)
        poses = _world_to_plot_axes(world)
        centres = poses[:, 0].copy()
        centres[:, 2] = radius  # the view follows the pelvis over the floor; the floor stays at the bottom
    else:
        poses = _to_plot_axes(np.asarray(poses_3d, dtype=np.float32))
        centres = np.zeros((len(poses), 3))
    bones = [(joint, parent) for joint, parent in enumerate(skeleton.PARENTS) if parent >= 0]
    inferred = np.zeros(poses.shape[:2], bool) if joint_source is None else np.asarray(joint_source) == INFERRED

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
    background = None
    if video is not None:  # pixel centres at integer coordinates, as keypoint detectors give them
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        background = ax_2d.imshow(np.zeros((1, 1, 3), np.uint8), extent=extent, zorder=0)  # under the lines
        ax_2d.set(xlim=extent[:2], ylim=extent[2:])
        label.set_backgroundcolor("white")  # readable over any frame

    def write(tmp):
        writer = _writer(path.suffix.lower(), fps)
        images = _video_frames(video, max(1, step)) if video is not None else None  # frame i under keypoints i
        with rc_context(_ffmpeg_settings() or {}), writer.saving(figure, tmp, dpi=dpi), \
                closing(images) if images is not None else nullcontext():
            for frame in frames:
                if images is not None:
                    background.set_data(next(images))
                centre = centres[frame]
                ax_3d.set(xlim=(centre[0] - radius, centre[0] + radius), ylim=(centre[1] - radius, centre[1] + radius),
                          zlim=(centre[2] - radius, centre[2] + radius))
                for line, ends in zip(floor, _floor_lines(centre, radius)):
                    line.set_data_3d(ends[:, 0], ends[:, 1], ends[:, 2])
                for (joint, parent), line_2d, line_3d in zip(bones, lines_2d, lines_3d):
                    style = "--" if inferred[frame, [joint, parent]].any() else "-"
                    line_2d.set_linestyle(style)
                    line_3d.set_linestyle(style)
                    ends_2d = keypoints_2d[frame, [joint, parent]]
                    line_2d.set_data(ends_2d[:, 0], ends_2d[:, 1])
                    ends_3d = poses[frame, [joint, parent]]
                    line_3d.set_data_3d(ends_3d[:, 0], ends_3d[:, 1], ends_3d[:, 2])
                label.set_text(f"frame {frame}")
                writer.grab_frame()

    atomic_write_bytes(path, write, suffix=path.suffix)
    return path
