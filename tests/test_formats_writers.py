"""Results out: npz, CSV, JSON, BVH (read back with bvhio), the HTML viewer in headless Chromium."""
import csv
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from uao_deploy import UaoError
from uao_deploy.camera import image_coordinates, project
from uao_deploy.data.cameras import h36m_cameras
from uao_deploy.io.results import check_output, load_result, write_result
from uao_deploy.io.results.bvh import BVH_NAMES, bone_lengths, with_bone_lengths
from uao_deploy.pipeline.world import add_world_frame
from uao_deploy.skeleton import JOINT_NAMES


@pytest.fixture(scope="module")
def result(walk_clip):
    """A lifted-result stand-in: a walk seen by a Human3.6M camera (25 fps)."""
    clip = walk_clip
    camera = h36m_cameras()["S9"][1]
    joints = camera.world_to_camera(clip)
    root = joints[:, 0]
    cams = torch.from_numpy(np.repeat(camera.intrinsics[None], len(joints), axis=0))
    pixels = image_coordinates(project(torch.from_numpy(joints), cams).numpy(), camera.width, camera.height)
    confidence = np.ones((len(joints), 17), np.float32)
    confidence[3, 5] = 0  # one filled joint
    arrays = {"poses_3d": joints - root[:, None], "poses_3d_initial": joints - root[:, None], "root": root,
              "uncertainty": np.random.default_rng(0).uniform(0.02, 0.1, (len(joints), 17)).astype(np.float32),
              "keypoints_2d": pixels, "confidence": confidence}
    metadata = {"fps": 25.0, "camera": {"width": camera.width, "height": camera.height}, "source": "cmu/02_01"}
    return add_world_frame(arrays, metadata)


def test_npz_keeps_lift_and_world_arrays(result, tmp_path):
    arrays, metadata = result
    write_result(tmp_path / "r.npz", arrays, metadata)
    loaded, loaded_metadata = load_result(tmp_path / "r.npz")
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key], value)
    assert loaded_metadata["world_frame"]["up_method"] == metadata["world_frame"]["up_method"]
    relevelled, _ = add_world_frame(loaded, loaded_metadata, camera_pitch=0.0)  # an override remakes them
    assert not np.allclose(relevelled["poses_world"], arrays["poses_world"])


def test_csv_and_json_spell_out_frames_units_and_joints(result, tmp_path):
    arrays, metadata = result
    write_result(tmp_path / "r.csv", arrays, metadata)
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 17 * len(arrays["poses_3d"])
    row = rows[17 * 4 + 10]
    assert (row["frame"], row["time_s"], row["joint"]) == ("4", "0.1600", "head")
    np.testing.assert_allclose([float(row[f"world_{a}_m"]) for a in "xyz"], arrays["poses_world"][4, 10], atol=1e-5)
    camera = arrays["poses_3d"][4, 10] + arrays["root"][4]
    np.testing.assert_allclose([float(row[f"camera_{a}_m"]) for a in "xyz"], camera, atol=1e-5)
    assert float(rows[17 * 3 + 5]["detector_confidence"]) == 0

    write_result(tmp_path / "r.json", arrays, metadata)
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["skeleton"]["joint_names"] == list(JOINT_NAMES) and payload["fps"] == 25.0
    assert "Y up" in payload["coordinate_frames"]["world"] and "y down" in payload["coordinate_frames"]["camera"]
    frame = payload["frames"][7]
    assert frame["frame"] == 7 and frame["time_s"] == 0.28
    np.testing.assert_allclose(frame["world"], arrays["poses_world"][7], atol=1e-5)
    np.testing.assert_allclose(frame["root_world"], arrays["root_world"][7], atol=1e-5)


def test_bvh_read_back_by_bvhio_matches_the_joints(result, tmp_path):
    bvhio = pytest.importorskip("bvhio", reason="bvhio (dev extra) reads the BVH back independently")
    arrays, metadata = result
    write_result(tmp_path / "walk.bvh", arrays, metadata)
    world = arrays["poses_world"].astype(np.float64)
    expected = with_bone_lengths(world, bone_lengths(world))
    root = bvhio.readAsHierarchy(str(tmp_path / "walk.bvh"))
    text = (tmp_path / "walk.bvh").read_text()
    assert f"Frames: {len(world)}" in text and "Frame Time: 0.04000000" in text
    for frame in range(0, len(world), 7):
        root.loadPose(frame)
        positions = {joint.Name: np.array(joint.PositionWorld) for joint, _, _ in root.layout()}
        got = np.stack([positions[name] for name in BVH_NAMES])
        assert np.abs(got - expected[frame]).max() < 1e-3  # within 1 mm
    # The fixed bone lengths change the joints little: the mocap's own bones hardly stretch.
    assert np.abs(expected - world).max() < 0.05


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _screenshot(html, frame, out, profile):
    completed = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
         f"--user-data-dir={profile}", "--window-size=1200,650", "--virtual-time-budget=8000",
         "--enable-logging=stderr", "--log-level=0", f"--screenshot={out}", f"file://{html}#frame={frame}"],
        capture_output=True, text=True, timeout=180)
    console = [line for line in completed.stderr.splitlines() if ":CONSOLE" in line]
    return completed.returncode, console


def test_html_viewer_in_headless_chromium(result, tmp_path):
    pytest.importorskip("plotly", reason="the viewer needs the viz extra (plotly)")
    if _chromium() is None:
        pytest.skip("chromium is absent (apt-get install chromium) to load the viewer headless")
    from PIL import Image

    arrays, metadata = result
    html = write_result(tmp_path / "view.html", arrays, metadata)
    text = html.read_text()
    assert "Plotly.newPlot" in text and "<script src=" not in text  # plotly.js inline: works offline
    shots = []
    for frame in (0, 60):
        code, console = _screenshot(html, frame, tmp_path / f"{frame}.png", tmp_path / f"profile{frame}")
        assert code == 0
        assert not [line for line in console if any(w in line.lower() for w in ("error", "uncaught", "failed"))]
        shots.append(np.asarray(Image.open(tmp_path / f"{frame}.png").convert("RGB"), np.int16))
    assert np.abs(shots[0] - shots[1]).sum(axis=-1).astype(bool).sum() > 500  # the frames differ
    for shot in shots:  # left (blue) and right (red) bones drawn in the 3D half of the page
        right_half = shot[:, shot.shape[1] // 2:]
        for colour in ((31, 119, 180), (214, 39, 40)):
            assert (np.abs(right_half - colour).sum(axis=-1) < 40).sum() > 30


def test_bad_outputs_are_refused(result, tmp_path):
    with pytest.raises(UaoError, match="suffix picks the format"):
        check_output(tmp_path / "out.fbx")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 junk")
    with pytest.raises(UaoError, match="not a readable uao result"):
        load_result(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", keypoints=np.zeros((3, 17, 2)))
    with pytest.raises(UaoError, match="lacks poses_3d"):
        load_result(tmp_path / "other.npz")


def test_gif_keeps_the_video_aspect_ratio(result, tmp_path):
    from PIL import Image

    from uao_deploy.viz.render import render_animation

    arrays, _ = result
    sizes = {}
    for name, (width, height) in {"landscape": (1920, 1080), "portrait": (1080, 1920)}.items():
        path = render_animation(arrays["keypoints_2d"][:3], arrays["poses_3d"][:3], tmp_path / f"{name}.gif",
                                width, height, root=arrays["root"][:3])
        with Image.open(path) as gif:
            sizes[name] = gif.size
    # Same height; the 2D panel (beside a square 3D panel) is 16:9 in one and 9:16 in the other.
    assert sizes["landscape"][1] == sizes["portrait"][1]
    panel = sizes["landscape"][1] - 40  # 0.5 inch of titles at 80 dpi
    assert sizes["landscape"][0] - sizes["portrait"][0] == pytest.approx(panel * (16 / 9 - 9 / 16), abs=2)


def test_bvh_of_a_collapsed_bone_stays_finite(result, tmp_path):
    from uao_deploy.io.results.bvh import bvh_text

    world = result[0]["poses_world"][:5].copy()
    world[:, 3] = world[:, 2]  # the right ankle on the knee: a zero-length shin
    motion = bvh_text(world, 25.0).split("MOTION\n")[1].splitlines()[2:]
    assert len(motion) == 5 and all(np.isfinite(np.array(line.split(), float)).all() for line in motion)
    with pytest.raises(UaoError, match="NaN"):
        bvh_text(np.full_like(world, np.nan), 25.0)
