"""``uao infer --render --video``: the video's own frames under the 2D keypoints; bad videos refused first."""
import os
import sys

import numpy as np
import pytest

from cli_runner import uao
from conftest import STANDING_POSE
from uao_deploy.viz.render import render_animation

imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the viz extra (imageio-ffmpeg) is not installed")

WIDTH, HEIGHT, FRAMES, SQUARE = 64, 48, 12, 12
GREEN = np.array([0, 255, 0])
RED = np.array([214, 39, 40])  # matplotlib's tab:red, the right side's bones
RIGHT_LEG = [1, 2, 3]  # Human3.6M right hip, knee, ankle


def square_left(frame: int) -> int:
    """First column of the green square in video frame ``frame`` (it moves 4 px a frame)."""
    return 4 * frame


def write_video(path, frames=FRAMES, width=WIDTH, height=HEIGHT):
    """A black video with a green square in rows 8-19, moving right."""
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=10)
    writer.send(None)  # starts ffmpeg
    for frame in range(frames):
        image = np.zeros((height, width, 3), np.uint8)
        image[8:8 + SQUARE, square_left(frame):square_left(frame) + SQUARE] = GREEN
        writer.send(image)
    writer.close()
    return path


def standing_pixels(frames=FRAMES):
    """(frames, 17, 2) keypoints of a standing person below the square's rows (y 26-45)."""
    pixels = np.stack([32 + 30 * STANDING_POSE[:, 0], 46 - 12 * STANDING_POSE[:, 2]], axis=-1)
    return np.repeat(pixels[None], frames, axis=0).astype(np.float32)


@pytest.fixture
def video(tmp_path):
    return write_video(tmp_path / "clip.mp4")


def gif_frame(path, index: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as gif:
        gif.seek(index)
        return np.asarray(gif.convert("RGB"), dtype=np.int16)


def render(path, video=None, pixels=None):
    poses = np.repeat((STANDING_POSE - STANDING_POSE[0])[None], FRAMES, axis=0)
    pixels = standing_pixels() if pixels is None else pixels
    return render_animation(pixels, poses, path, WIDTH, HEIGHT, fps=10, video=video)


def coloured(image, colour, tolerance=60):
    """Rows and columns of the pixels of ``colour``."""
    return np.nonzero(np.all(np.abs(image - colour) < tolerance, axis=-1))


def test_video_frame_i_lies_under_keypoint_frame_i_in_pixel_coordinates(tmp_path, video):
    pixels = standing_pixels()
    pixels[:, RIGHT_LEG, 0] = 20.0  # the right leg a vertical line at x = 20 from y 34.8 down to 45
    over_video, plain = render(tmp_path / "video.gif", video, pixels), render(tmp_path / "plain.gif", None, pixels)
    for frame in (0, 6):
        drawn = gif_frame(over_video, frame)
        # the video is where the two renders differ (keypoints, titles and the 3D panel are the same)
        rows, cols = np.nonzero(np.abs(drawn - gif_frame(plain, frame)).sum(axis=-1) > 150)
        top, left = rows.min(), cols.min()
        scale = (cols.max() + 1 - left) / WIDTH  # gif pixels per video pixel
        assert (rows.max() + 1 - top) / scale == pytest.approx(HEIGHT, abs=1.0)  # the video's aspect ratio

        def video_pixels(rows, cols):
            """Gif pixels -> video pixel coordinates (pixel centres at integers, the image from -0.5)."""
            return (cols + 0.5 - left) / scale - 0.5, (rows + 0.5 - top) / scale - 0.5

        centre_x, centre_y = (coordinate.mean() for coordinate in video_pixels(*coloured(drawn, GREEN)))
        assert centre_x == pytest.approx(square_left(frame) + (SQUARE - 1) / 2, abs=0.75)
        assert centre_y == pytest.approx(8 + (SQUARE - 1) / 2, abs=0.75)
        # the keypoints in the same pixel coordinates: the leg below the hips lies on column 20
        leg_x, leg_y = video_pixels(*coloured(drawn, RED))
        assert leg_x[leg_y > 37].mean() == pytest.approx(20.0, abs=0.2)
    assert not coloured(gif_frame(plain, 0), GREEN)[0].size


def test_mp4_with_the_bundled_ffmpeg(tmp_path, video, monkeypatch):
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "animation.ffmpeg_path", "no-ffmpeg-on-path")  # as without one
    out = render(tmp_path / "video.mp4", video)
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == FRAMES
    assert matplotlib.rcParams["animation.ffmpeg_path"] == "no-ffmpeg-on-path"  # nothing global changed


def infer_args(tmp_path, checkpoint, keypoints, video, *extra):
    np.savez(tmp_path / "a.npz", keypoints=keypoints, width=WIDTH, height=HEIGHT, fps=10)
    return ["infer", tmp_path / "a.npz", "-o", tmp_path / "a_3d.npz", "--backend", "torch", "--checkpoint",
            checkpoint, "--tto-iters", "0", "--no-progress", "--video", video, *extra]


def test_cli_renders_over_the_video(tmp_path, capsys, small_checkpoint, video):
    args = infer_args(tmp_path, small_checkpoint, standing_pixels(), video, "--render", tmp_path / "a.gif")
    code, _, stderr = uao(capsys, *args)
    assert code == 0, stderr
    assert coloured(gif_frame(tmp_path / "a.gif", 0), GREEN)[0].size > 50


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"), ("text", "cannot read"), ("short", "has 6 frames, fewer than the 12"),
    ("size", "is 80x48 pixels but the keypoints are in a 64x48 image"), ("no render", "add --render"),
    ("no package", "pip install 'uao-deploy[viz]'"), ("fifo", "is a FIFO (named pipe)"),
    ("link to /dev/zero", "is a character device"),
])
def test_cli_bad_video_one_line_before_lifting(tmp_path, capsys, small_checkpoint, monkeypatch, case, message):
    video = tmp_path / "clip.mp4"
    if case == "text":
        video.write_text("not a video\n")
    elif case == "fifo":
        os.mkfifo(video)
    elif case == "link to /dev/zero":
        video.symlink_to("/dev/zero")
    elif case in ("short", "size"):
        write_video(video, frames=6 if case == "short" else FRAMES, width=80 if case == "size" else WIDTH)
    elif case in ("no render", "no package"):
        write_video(video)
    if case == "no package":
        monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    render = [] if case == "no render" else ["--render", tmp_path / "a.gif"]
    inputs = {p.name for p in tmp_path.iterdir()} | {"a.npz"}
    code, stdout, stderr = uao(capsys, *infer_args(tmp_path, small_checkpoint, standing_pixels(), video, *render))
    assert code == 1
    assert stderr.startswith("Error: ") and message in stderr and len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr + stdout
    assert {p.name for p in tmp_path.iterdir()} == inputs  # neither the poses nor an animation
