"""``uao infer``: root estimation, missing joints, outputs, bad inputs, COCO input from real motion."""
import json
from dataclasses import replace

import numpy as np
import onnxruntime
import pytest
import torch
from cli_runner import uao

from uao_deploy import skeleton
from uao_deploy.camera import image_coordinates, normalized_intrinsics, project
from uao_deploy.data.keypoints import KeypointSequence
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.engines.base import Engine
from uao_deploy.io.layouts import COCO_FOR_H36M, GUESS_CONFIDENCE
from uao_deploy.pipeline import LiftSettings, camera_of, lift
from uao_deploy.pipeline.lift import smooth_track
from uao_deploy.metrics import p_mpjpe
from uao_deploy.tto import TTOConfig

WIDTH, HEIGHT, FOCAL = 1000.0, 1002.0, 1145.0


@pytest.fixture(scope="module")
def motion():
    """Known camera-frame motion: the embedded sample's ground truth (root-relative poses and roots)."""
    with np.load(SAMPLE_PATH) as sample:
        return sample["poses_3d_gt"][:40], sample["root_gt"][:40]


def pinhole_pixels(poses, roots, focal=FOCAL, width=WIDTH, height=HEIGHT):
    """Exact undistorted projections (T, 17, 2) in pixels of root-relative poses placed at roots."""
    cam = normalized_intrinsics((focal, focal), (width / 2, height / 2), width, height)
    points = torch.from_numpy(poses + roots[:, None])
    x = project(points, torch.from_numpy(np.repeat(cam[None], len(poses), axis=0))).numpy()
    return image_coordinates(x, width, height)


class OracleEngine(Engine):
    """Test double whose network returns the true pose of each input frame (and the mirrored pose
    for the mirrored input), so infer's camera and root handling can be checked to the millimetre."""

    backend = "oracle"
    configs = {"frame": TTOConfig(iters=0)}

    def __init__(self, x, poses):
        super().__init__()
        self.inputs = np.concatenate([x, skeleton.flip_pose(x)]).reshape(2 * len(x), -1)
        self.outputs = np.concatenate([poses, skeleton.flip_pose(poses)])

    def _run(self, graph, x):
        assert graph == "forward"
        nearest = np.argmin(((x.reshape(len(x), 1, -1) - self.inputs[None]) ** 2).sum(-1), axis=1)
        return self.outputs[nearest], np.zeros(x.shape[:2] + (1,), np.float32)


def oracle_for(sequence, poses):
    from uao_deploy.camera import normalize_screen_coordinates
    from uao_deploy.pipeline.missing import fill_and_mark

    filled, _ = fill_and_mark(sequence.pixels, sequence.confidence)
    return OracleEngine(normalize_screen_coordinates(filled, WIDTH, HEIGHT), poses)


def sequence_of(pixels, confidence=None, **camera):
    confidence = np.ones(pixels.shape[:2], np.float32) if confidence is None else confidence
    return KeypointSequence(name="known", source="known.npz", format="keypoints", layout="h36m",
                            pixels=pixels.astype(np.float32), confidence=confidence, **camera)


def test_root_recovered_from_exact_projections(motion):
    poses, roots = motion
    sequence = sequence_of(pinhole_pixels(poses, roots), width=WIDTH, height=HEIGHT)
    result = lift(sequence, oracle_for(sequence, poses), camera_of(sequence, focal=FOCAL),
                  LiftSettings(0, batch_size=16))
    error_mm = np.linalg.norm(result.root - roots, axis=-1) * 1000
    assert error_mm.max() < 1.0
    np.testing.assert_allclose(result.poses_3d, poses, atol=1e-6)
    # With the wrong focal length the root depth scales with it: the camera really is used.
    wrong = lift(sequence, oracle_for(sequence, poses), camera_of(sequence, focal=FOCAL * 1.2), LiftSettings(0))
    assert np.abs(wrong.root[:, 2] / roots[:, 2] - 1.2).max() < 0.01


def test_missing_joints_filled_and_down_weighted(motion):
    poses, roots = motion
    pixels = pinhole_pixels(poses, roots)
    confidence = np.ones(pixels.shape[:2], np.float32)
    pixels[5:9, 13] = np.nan  # a wrist lost for four frames
    confidence[20:30, [3, 6]] = 0.0  # both ankles undetected for ten frames
    pixels[20:30, [3, 6]] = (0.0, 0.0)  # where some detectors put undetected joints
    sequence = sequence_of(pixels, confidence, width=WIDTH, height=HEIGHT)
    result = lift(sequence, oracle_for(sequence, poses), camera_of(sequence, focal=FOCAL), LiftSettings(0))
    assert np.isfinite(result.keypoints_2d).all()
    exact = pinhole_pixels(poses, roots)
    lost = ~np.isfinite(pixels).all(-1) | (confidence == 0)
    gap = np.abs(result.keypoints_2d - exact)[lost].max()
    assert 0 < gap < 30  # interpolated: near the truth, not equal to it, not the (0, 0) placeholder
    np.testing.assert_array_equal(result.keypoints_2d[~lost], exact[~lost])
    assert (result.confidence[lost] == 0).all() and (result.confidence[~lost] == 1).all()
    assert result.metadata["missing_joints_filled"] == lost.sum()
    # Filled joints barely weigh in the root fit, so it stays at the truth.
    assert np.linalg.norm(result.root - roots, axis=-1).max() * 1000 < 1.0


def test_smooth_track_is_a_centred_median():
    track = np.zeros((7, 3), np.float32)
    track[3] = 10.0  # a one-frame outlier
    track[:, 1] = np.arange(7)
    smoothed = smooth_track(track, 3)
    assert (smoothed[:, 0] == 0).all()
    np.testing.assert_allclose(smoothed[1:-1, 1], np.arange(1, 6))
    np.testing.assert_allclose(smoothed[[0, -1], 1], [0.5, 5.5])  # shorter windows at the ends
    assert smooth_track(track, 1) is track



def test_cli_writes_every_output(tmp_path, capsys, small_checkpoint, motion):
    poses, roots = motion
    pixels = pinhole_pixels(poses, roots)
    confidence = np.full(pixels.shape[:2], 0.9, np.float32)
    pixels[3, 16] = np.nan
    np.savez(tmp_path / "walk.npz", keypoints=np.concatenate([pixels, confidence[..., None]], -1),
             width=WIDTH, height=HEIGHT, fps=50)
    out = tmp_path / "out" / "walk_3d.npz"
    code, stdout, stderr = uao(capsys, "infer", tmp_path / "walk.npz", "-o", out, "--backend", "torch",
                               "--checkpoint", small_checkpoint, "--tto-iters", "2", "--batch-size", "16",
                               "--smooth-root", "5", "--mode", "frame", "--no-progress")
    assert code == 0, stderr
    assert str(out) in stdout
    with np.load(out) as result:
        assert {k: result[k].shape for k in result.files if k != "metadata"} == {
            "poses_3d": (40, 17, 3), "poses_3d_initial": (40, 17, 3), "root": (40, 3), "uncertainty": (40, 17),
            "keypoints_2d": (40, 17, 2), "confidence": (40, 17), "joint_source": (40, 17), "poses_world": (40, 17, 3),
            "root_world": (40, 3), "contacts": (40, 2)}  # frame mode: contacts found, no root_std
        metadata = json.loads(str(result["metadata"]))
        assert (result["poses_3d"][:, 0] == 0).all() and (result["uncertainty"] > 0).all()
        assert result["confidence"][3, 16] == 0 and np.isfinite(result["keypoints_2d"]).all()
        assert result["joint_source"][3, 16] == 1 and result["joint_source"].sum() == 1  # one joint interpolated
        assert not np.allclose(result["poses_3d"], result["poses_3d_initial"])  # TTO moved the poses
    assert metadata["backend"] == "torch" and metadata["tto_iters"] == 2
    assert metadata["camera"]["focal_px"] == [HEIGHT, HEIGHT]  # the documented default: the longer side
    assert metadata["source"] == str(tmp_path / "walk.npz") and metadata["missing_joints_filled"] == 1
    assert metadata["engine"]["checkpoint"] == str(small_checkpoint)
    assert {"root", "tto", "total"} <= set(metadata["timings_s"])
    assert [p.name for p in out.parent.iterdir()] == ["walk_3d.npz"]  # no temporary file left


def test_cli_several_files_into_a_folder(tmp_path, capsys, small_checkpoint, motion):
    pixels = pinhole_pixels(*motion)[:6]
    np.savez(tmp_path / "a.npz", keypoints=pixels, width=WIDTH, height=HEIGHT)
    np.savez(tmp_path / "b.npz", reconstruction=np.concatenate([pixels, np.ones((6, 17, 1))], -1)[None])
    np.savez(tmp_path / "c.npz", positions_2d={"v1": {"custom": [pixels]}, "v2": {"custom": [pixels + 3]}},
             metadata={"layout_name": "coco", "video_metadata": {"v1": {"w": 1000, "h": 1002}}})
    code, _, stderr = uao(capsys, "infer", tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz", "-o",
                          tmp_path / "out", "--width", WIDTH, "--height", HEIGHT, "--backend", "torch",
                          "--checkpoint", small_checkpoint, "--tto-iters", "1", "--allow-pickle", "--no-progress",
                          "--precision", "bf16")
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npz", "b.npz", "c_v1.npz", "c_v2.npz"]
    formats = {}
    for name in ("b", "c_v2"):
        with np.load(tmp_path / "out" / f"{name}.npz") as result:
            metadata = json.loads(str(result["metadata"]))
            formats[name] = (metadata["format"], metadata["layout"], metadata["source"].split("/")[-1])
            assert metadata["engine"]["precision"] == "bf16"
    assert formats == {"b": ("mhformer", "h36m", "b.npz"), "c_v2": ("videopose3d", "coco", "c.npz#v2")}


@pytest.mark.parametrize("options, message", [
    (("--backend", "onnxruntime", "--precision", "bf16"), "precision bf16 runs on the torch backend"),
    (("--backend", "torch", "--providers", "cuda"), "the torch backend takes none"),
    (("--providers", "cuda"), "provider CUDAExecutionProvider was requested but is not active"),
])
def test_cli_backend_options_belong_to_their_backend(tmp_path, capsys, small_checkpoint, motion, options, message):
    if "--backend" not in options and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("checks the error raised where ONNX Runtime has no CUDA provider")
    np.savez(tmp_path / "a.npz", keypoints=pinhole_pixels(*motion)[:4], width=WIDTH, height=HEIGHT)
    code, _, stderr = uao(capsys, "infer", tmp_path / "a.npz", "-o", tmp_path / "out.npz", "--checkpoint",
                          small_checkpoint, *options, "--no-progress")
    assert code == 1 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def _write_bad(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    good = np.ones((4, 17, 3), np.float32)
    if kind == "text":
        path.write_text("x,y\n1,2\n")
    elif kind == "joints":
        np.savez(path, keypoints=good[:, :15], width=100, height=100)
    elif kind == "nan":
        np.savez(path, keypoints=np.full((4, 17, 2), np.nan), width=100, height=100)
    elif kind == "pickle":
        np.savez(path, positions_2d={"v": {"custom": [good[..., :2]]}}, metadata={"layout_name": "coco"})
    elif kind == "size":
        np.savez(path, reconstruction=good[None])
    return path


@pytest.mark.parametrize("kind, message", [
    ("text", "not an .npz file"), ("joints", "15 joints"), ("nan", "no detected joint"),
    ("pickle", "--allow-pickle"), ("size", "--width and --height"),
])
def test_cli_bad_input_one_line_no_output(tmp_path, capsys, small_checkpoint, kind, message):
    good = tmp_path / "good.npz"
    np.savez(good, keypoints=np.full((4, 17, 2), 50.0), width=100, height=100)
    out = tmp_path / "out"
    code, stdout, stderr = uao(capsys, "infer", good, _write_bad(tmp_path, kind), "-o", out, "--backend", "torch",
                               "--checkpoint", small_checkpoint, "--no-progress")
    assert code == 1
    assert stderr.startswith("Error: ") and message in stderr and len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr + stdout
    assert not out.exists()  # the good file before the bad one was not written either


def test_cli_render_checked_before_work(tmp_path, capsys, small_checkpoint, monkeypatch):
    np.savez(tmp_path / "a.npz", keypoints=np.full((4, 17, 2), 50.0), width=100, height=100)
    args = ["infer", tmp_path / "a.npz", "-o", tmp_path / "a_3d.npz", "--backend", "torch",
            "--checkpoint", small_checkpoint, "--no-progress", "--render"]
    code, _, stderr = uao(capsys, *args, tmp_path / "a.avi")
    assert code == 1 and ".gif or .mp4" in stderr
    from matplotlib import animation

    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    code, _, stderr = uao(capsys, *args, tmp_path / "a.mp4")
    assert code == 1 and "ffmpeg" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_cli_renders_a_gif(tmp_path, capsys, small_checkpoint, motion):
    np.savez(tmp_path / "a.npz", keypoints=pinhole_pixels(*motion)[:5], width=WIDTH, height=HEIGHT, fps=10)
    code, stdout, stderr = uao(capsys, "infer", tmp_path / "a.npz", "-o", tmp_path / "a_3d.npz", "--backend", "torch",
                               "--checkpoint", small_checkpoint, "--tto-iters", "0", "--no-progress",
                               "--render", tmp_path / "a.gif")
    assert code == 0, stderr
    from PIL import Image

    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 5


def h36m_to_coco(pixels):
    """Test-side inverse of the COCO -> Human3.6M convention, for real motion in COCO form.

    Limbs, hips and shoulders are copied. The nose is placed so that the convention's neck/nose
    (the nose moved 1/4 toward the shoulder midpoint) lands on the Human3.6M neck/nose; both eyes
    sit halfway between nose and head height, so the convention's head (one eye-to-nose height
    above the eyes) lands on the Human3.6M head; eyes and ears are spread symmetrically about the
    head's x (0.1 and 0.2 shoulder widths), so their mean x is the head's x. The convention's
    pelvis, thorax and spine then follow from hips, shoulders, nose and eyes (not exactly the
    mocap's joints: that difference is part of what the test measures).
    """
    coco = np.zeros_like(pixels)
    for h36m_joint, coco_joint in COCO_FOR_H36M.items():
        coco[:, coco_joint] = pixels[:, h36m_joint]
    shoulders = (pixels[:, 11] + pixels[:, 14]) / 2
    nose = (pixels[:, 9] - shoulders / 4) * 4 / 3
    head = pixels[:, 10]
    spread = np.linalg.norm(pixels[:, 11] - pixels[:, 14], axis=-1)
    eye_y = (head[:, 1] + nose[:, 1]) / 2
    coco[:, 0] = nose
    for joint, offset in zip(range(1, 5), (0.1, -0.1, 0.2, -0.2)):
        coco[:, joint, 0] = head[:, 0] + offset * spread
        coco[:, joint, 1] = eye_y
    return coco


def test_coco_keypoints_from_real_motion(shared_dir, tmp_path, capsys):
    from uao_deploy.data.cameras import h36m_cameras

    camera = h36m_cameras()["S11"][1]
    with np.load(shared_dir / "data" / "cmu_h36m17" / "test.npz") as clips:
        world = np.concatenate([clips[name][::12] for name in ("02_01", "02_05", "12_01", "16_01")])
    points = camera.world_to_camera(world)
    cam = np.repeat(camera.intrinsics[None], len(points), axis=0)
    pixels = image_coordinates(project(torch.from_numpy(points), torch.from_numpy(cam)).numpy(),
                               camera.width, camera.height)
    focal = camera.intrinsics[0:2] * camera.width / 2
    np.savez(tmp_path / "coco.npz", keypoints=h36m_to_coco(pixels), width=camera.width, height=camera.height,
             focal=focal)
    code, _, stderr = uao(capsys, "infer", tmp_path / "coco.npz", "--layout", "coco", "-o", tmp_path / "out.npz",
                          "--backend", "torch", "--no-progress")
    assert code == 0, stderr
    with np.load(tmp_path / "out.npz") as result:
        truth = skeleton.zero_root(points - points[:, :1])
        error_mm = p_mpjpe(result["poses_3d"], truth).mean() * 1000
        assert json.loads(str(result["metadata"]))["layout"] == "coco"
    print(f"P-MPJPE on COCO input from real motion: {error_mm:.1f} mm over {len(points)} frames")
    assert error_mm < 100


def test_real_hrnet_sequence_runs(shared_dir, tmp_path, capsys, small_checkpoint):
    source = shared_dir / "data" / "real2d" / "posemamba_sample_video.npz"
    code, _, stderr = uao(capsys, "infer", source, "-o", tmp_path / "real.npz", "--width", 1280, "--height", 720,
                          "--backend", "torch", "--checkpoint", small_checkpoint, "--tto-iters", "1", "--no-progress")
    assert code == 0, stderr
    with np.load(tmp_path / "real.npz") as result, np.load(source) as original:
        assert result["poses_3d"].shape == (185, 17, 3) and np.isfinite(result["poses_3d"]).all()
        detector = original["reconstruction"][0, ..., 2]
        np.testing.assert_array_equal(result["confidence"], np.where(detector < GUESS_CONFIDENCE, 0, detector))
        assert (result["root"][:, 2] > 0).all()  # in front of the camera


def test_lift_rejects_bad_settings(motion):
    poses, roots = motion
    sequence = sequence_of(pinhole_pixels(poses, roots))
    engine = oracle_for(sequence, poses)
    from uao_deploy import UaoError

    with pytest.raises(UaoError, match="image size is unknown"):
        lift(sequence, engine, settings=LiftSettings(0))
    sized = replace(sequence, width=WIDTH, height=HEIGHT)
    with pytest.raises(UaoError, match=r"focal length \(-5, -5\) px is outside"):
        camera_of(sized, focal=-5)
    with pytest.raises(UaoError, match="one of --focal, --fov and --focal-35mm"):
        camera_of(sized, focal=1000, fov=60)
    for bad, message in ((dict(batch_size=0), "batch size"), (dict(strategy="video"), "strategy must be one of"),
                         (dict(iters=-1), "TTO iterations"), (dict(smooth_root=5), "frame-mode option"),
                         (dict(strategy="frame", smooth_root=0), "root smoothing window")):
        with pytest.raises(UaoError, match=message):
            LiftSettings(**bad)
    with pytest.raises(UaoError, match="sequence-mode option"):
        LiftSettings.from_options(mode="frame", causal=True)


def test_camera_from_field_of_view_and_35mm_equivalent():
    sequence = sequence_of(np.zeros((3, 17, 2)), width=1920.0, height=1080.0)
    assert camera_of(sequence).focal == (1920.0, 1920.0) and camera_of(sequence).focal_source.value == "default"
    ninety = camera_of(sequence, fov=90.0)
    assert ninety.fx == pytest.approx(960.0) and ninety.focal_source.value == "argument"
    # 35 mm equivalent: the same angle across the diagonal as on a 36 x 24 mm frame (43.27 mm across).
    assert camera_of(sequence, focal_35mm=43.2666).fx == pytest.approx(np.hypot(1920, 1080), rel=1e-4)
    np.testing.assert_allclose(ninety.normalized()[:4], [1.0, 1.0, 0.0, 0.0], atol=1e-6)
    assert camera_of(replace(sequence, focal=(1500.0, 1500.0))).focal_source.value == "file"


@pytest.mark.slow
def test_onnxruntime_default_export_is_cached_and_agrees_with_torch(tmp_path, capsys, small_checkpoint, motion,
                                                                    monkeypatch):
    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path / "cache"))
    np.savez(tmp_path / "a.npz", keypoints=pinhole_pixels(*motion)[:12], width=WIDTH, height=HEIGHT)
    common = ["infer", tmp_path / "a.npz", "--checkpoint", small_checkpoint, "--tto-iters", "2", "--no-progress"]
    runs = {}
    for name in ("onnxruntime", "onnxruntime_again", "torch"):
        backend = name.split("_")[0]
        code, _, stderr = uao(capsys, *common, "--backend", backend, "-o", tmp_path / f"{name}.npz")
        assert code == 0, stderr
        manifests = list((tmp_path / "cache" / "export").glob("*/manifest.json"))
        assert len(manifests) == 1  # exported once, for this checkpoint and K = 2
        runs[name] = (dict(np.load(tmp_path / f"{name}.npz")), manifests[0].stat().st_mtime_ns)
    assert runs["onnxruntime"][1] == runs["onnxruntime_again"][1]  # the cached export was reused
    ort, torch_run = runs["onnxruntime"][0], runs["torch"][0]
    assert json.loads(str(ort["metadata"]))["tto_path"] == "fused"
    for key in ("poses_3d", "root", "uncertainty"):
        np.testing.assert_allclose(ort[key], torch_run[key], atol=1e-4, err_msg=key)


def test_the_uao_process_writes_what_the_library_call_does(tiny_export, tmp_path):
    """`python -m uao_deploy infer` (the `uao` process: its exit skips the last searches for reference
    cycles) prints its lines and writes the result that an in-process call writes."""
    import subprocess
    import sys

    from uao_deploy.cli import main

    args = ["infer", str(SAMPLE_PATH), "--engine", str(tiny_export), "--tto-iters", "2", "--no-progress"]
    process = subprocess.run([sys.executable, "-m", "uao_deploy", *args, "-o", str(tmp_path / "process.npz")],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert "frames ->" in process.stdout and "process.npz" in process.stdout
    main([*args, "-o", str(tmp_path / "call.npz")])
    with np.load(tmp_path / "process.npz") as got, np.load(tmp_path / "call.npz") as want:
        assert sorted(got.files) == sorted(want.files)
        for key in got.files:
            if key != "metadata":
                np.testing.assert_array_equal(got[key], want[key], err_msg=key)
