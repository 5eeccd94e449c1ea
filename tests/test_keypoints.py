"""Keypoint files: every input format, COCO -> Human3.6M conversion, gap filling, bad files."""
import numpy as np
import pytest

from uao_deploy import UaoError
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.pipeline.missing import DETECTED, fill_and_mark
from uao_deploy.io.layouts import GUESS_CONFIDENCE, coco_to_h36m


def _track(frames=5, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    track = rng.uniform(100, 900, size=(frames, 17, channels)).astype(np.float32)
    if channels == 3:
        track[..., 2] = rng.uniform(0.3, 1.0, size=(frames, 17))
    return track


def _videopose3d_file(path, videos, layout="coco"):
    positions = {name: {"custom": [track]} for name, track in videos.items()}
    metadata = {"layout_name": layout, "num_joints": 17,
                "video_metadata": {name: {"w": 1920, "h": 1080} for name in videos}}
    np.savez(path, positions_2d=positions, metadata=metadata)
    return path


def test_plain_keypoints_with_and_without_confidence(tmp_path):
    track = _track(channels=3)
    np.savez(tmp_path / "a.npz", keypoints=track, width=1280, height=960, fps=30.0)
    sequence, = read_keypoints(tmp_path / "a.npz")
    assert (sequence.format, sequence.layout, sequence.name) == ("keypoints", "h36m", "a")
    assert (sequence.width, sequence.height, sequence.fps) == (1280.0, 960.0, 30.0)
    np.testing.assert_array_equal(sequence.pixels, track[..., :2])
    np.testing.assert_array_equal(sequence.confidence, track[..., 2])

    np.savez(tmp_path / "b.npz", keypoints=track[..., :2])
    sequence, = read_keypoints(tmp_path / "b.npz")
    assert sequence.width is None and sequence.height is None
    np.testing.assert_array_equal(sequence.confidence, np.ones((5, 17), np.float32))


def test_mhformer_file_is_human36m_per_person(tmp_path):
    track = _track()
    np.savez(tmp_path / "keypoints.npz", reconstruction=track[None])
    sequence, = read_keypoints(tmp_path / "keypoints.npz")
    assert (sequence.format, sequence.layout) == ("mhformer", "h36m")
    np.testing.assert_array_equal(sequence.pixels, track[..., :2])

    np.savez(tmp_path / "two.npz", reconstruction=np.stack([track, track + 1]))
    names = [s.name for s in read_keypoints(tmp_path / "two.npz", person="all")]
    assert names == ["two_person0", "two_person1"]


def test_real_posemamba_file(shared_dir):
    sequence, = read_keypoints(shared_dir / "data" / "real2d" / "posemamba_sample_video.npz")
    assert sequence.format == "mhformer" and sequence.pixels.shape == (185, 17, 2)
    assert sequence.width is None  # the README gives 1280 x 720; the file does not
    # HRNet's guesses (confidence under GUESS_CONFIDENCE: 2 of 3,145 joints here) are missing joints.
    guessed = np.load(shared_dir / "data" / "real2d" / "posemamba_sample_video.npz")["reconstruction"][0, ..., 2] \
        < GUESS_CONFIDENCE
    assert 0 < guessed.sum() < 5
    np.testing.assert_array_equal(sequence.confidence == 0, guessed)
    np.testing.assert_array_equal(np.isnan(sequence.pixels).any(axis=-1), guessed)


def test_videopose3d_needs_allow_pickle(tmp_path):
    path = _videopose3d_file(tmp_path / "data_2d_custom_test.npz", {"clip": _track(channels=2)})
    with pytest.raises(UaoError, match="--allow-pickle"):
        read_keypoints(path)
    sequence, = read_keypoints(path, allow_pickle=True)
    assert (sequence.format, sequence.layout, sequence.width, sequence.height) == ("videopose3d", "coco", 1920, 1080)
    assert sequence.source.endswith("#clip")


def test_videopose3d_layout_from_file_and_conflicts(tmp_path):
    coco = _track(channels=2)
    path = _videopose3d_file(tmp_path / "v.npz", {"one": coco, "two": coco + 5})
    first, second = read_keypoints(path, allow_pickle=True)
    assert (first.name, second.name) == ("v_one", "v_two")
    expected, _ = coco_to_h36m(coco, np.ones((5, 17), np.float32))
    np.testing.assert_allclose(first.pixels, expected)
    with pytest.raises(UaoError, match="coco layout but --layout h36m"):
        read_keypoints(path, layout="h36m", allow_pickle=True)
    h36m_path = _videopose3d_file(tmp_path / "h.npz", {"one": coco}, layout="h36m")
    np.testing.assert_array_equal(read_keypoints(h36m_path, allow_pickle=True)[0].pixels, coco)


def _coco_pose():
    """A hand-made COCO pose (image y down) whose synthesized joints are worked out below."""
    pose = np.zeros((1, 17, 2), np.float32)
    pose[0, 0] = (100, 50)  # nose
    pose[0, 1:5] = [(105, 45), (95, 45), (110, 48), (90, 48)]  # eyes, ears
    pose[0, 5:7] = [(140, 100), (70, 100)]  # shoulders (left, right)
    pose[0, 7:11] = [(150, 150), (60, 150), (155, 190), (55, 190)]  # elbows, wrists
    pose[0, 11:13] = [(120, 200), (80, 200)]  # hips
    pose[0, 13:17] = [(121, 300), (79, 300), (122, 400), (78, 400)]  # knees, ankles
    confidence = np.linspace(0.2, 1.0, 17, dtype=np.float32)[None]
    return pose, confidence


def test_coco_to_h36m_synthesized_joints():
    coco, confidence = _coco_pose()
    h36m, h36m_conf = coco_to_h36m(coco, confidence)
    # Shoulder midpoint (105, 100); eye-to-nose height 50 - 45 = 5; hip midpoint (100, 200).
    np.testing.assert_allclose(h36m[0, 0], (100, 200))  # pelvis
    np.testing.assert_allclose(h36m[0, 8], (105 - 5 / 3, 100 - 50 / 3 + 10 / 3), rtol=1e-6)  # thorax
    np.testing.assert_allclose(h36m[0, 9], (100 + 5 / 4, 50 + 50 / 4))  # neck/nose
    np.testing.assert_allclose(h36m[0, 10], (100, 40))  # head: eyes/ears x, one height above the eyes
    # spine: mean of shoulders and hips (102.5, 150), x pushed by 2 * (102.5 - (100 + 103.33) / 2)
    np.testing.assert_allclose(h36m[0, 7], (102.5 + 2 * (102.5 - (100 + 310 / 3) / 2), 150), rtol=1e-6)
    # Copied joints: the person's left stays left.
    np.testing.assert_array_equal(h36m[0, [11, 14, 13, 16, 4, 1, 6, 3]], coco[0, [5, 6, 9, 10, 11, 12, 15, 16]])
    c = confidence[0]
    np.testing.assert_allclose(h36m_conf[0, [0, 8, 10, 9, 11]],
                               [(c[11] + c[12]) / 2, (c[5] + c[6]) / 2, c[1:5].mean(), c[0], c[5]], rtol=1e-6)
    np.testing.assert_allclose(h36m_conf[0, 7], (h36m_conf[0, 0] + h36m_conf[0, 8]) / 2, rtol=1e-6)


def test_coco_missing_source_makes_synthesized_joint_missing():
    coco, confidence = _coco_pose()
    confidence[0, 3] = 0.0  # left ear undetected
    coco[0, 12] = np.nan  # right hip lost
    h36m, h36m_conf = coco_to_h36m(coco, confidence)
    missing = ~np.isfinite(h36m[0]).all(axis=-1)
    assert set(np.flatnonzero(missing)) == {0, 1, 7, 10}  # pelvis, right hip, spine, head
    assert (h36m_conf[0, missing] == 0).all() and (h36m_conf[0, ~missing] > 0).all()


def test_fill_and_mark_interpolates_over_time():
    pixels = np.zeros((5, 17, 2), np.float32)
    pixels[:, :, 0] = np.arange(5)[:, None] * 10.0
    pixels[:, :, 1] = 7.0
    holes = pixels.copy()
    holes[[0, 2, 3], 5] = np.nan  # start of the track and a gap
    holes[4, 6] = np.nan  # end of the track
    filled, sources = fill_and_mark(holes)  # short gaps (never-seen joints: tests/test_detections.py)
    np.testing.assert_allclose(filled[:, 5, 0], [10, 10, 20, 30, 40])  # nearest at the start, linear inside
    np.testing.assert_allclose(filled[:, 6, 0], [0, 10, 20, 30, 30])
    assert (sources == DETECTED).sum() == 5 * 17 - 3 - 1 and np.isfinite(filled).all()


def test_fill_and_mark_refuses_nothing_detected():
    with pytest.raises(UaoError, match="no detected joint"):
        fill_and_mark(np.full((3, 17, 2), np.nan, np.float32), source="empty.npz")


def test_zero_confidence_marks_joint_missing(tmp_path):
    track = _track()
    track[1, 4, 2] = 0.0
    np.savez(tmp_path / "z.npz", keypoints=track)
    sequence, = read_keypoints(tmp_path / "z.npz")
    assert np.isnan(sequence.pixels[1, 4]).all() and sequence.confidence[1, 4] == 0


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("not an archive"), "not an .npz file"),
    (lambda p: p.write_bytes(b""), "not an .npz file"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "not a readable .npz"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or p.with_suffix(".npy").rename(p), "single .npy array"),
    (lambda p: np.savez(p, something=np.zeros(3)), "none of the keys"),
    (lambda p: np.savez(p, keypoints=np.zeros((4, 16, 2))), "16 joints"),
    (lambda p: np.savez(p, keypoints=np.zeros((4, 17))), "expected \\(T, 17, 2 or 3\\)"),
    (lambda p: np.savez(p, keypoints=np.zeros((0, 17, 2))), "no frames"),
    (lambda p: np.savez(p, reconstruction=np.zeros((0, 5, 17, 3))), "no keypoint sequence"),
    (lambda p: np.savez(p, keypoints=np.array([["a"] * 2] * 17)[None]), "not numeric"),
    (lambda p: np.savez(p, keypoints=np.zeros((4, 17, 2)), width=-3), "'width' must be one positive number"),
    (lambda p: np.savez(p, keypoints=np.array([object()] * 34, dtype=object).reshape(1, 17, 2)), "pickled"),
])
def test_bad_files_name_the_problem(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(UaoError, match=message):
        read_keypoints(path)


def test_missing_file_and_unknown_layout(tmp_path):
    with pytest.raises(UaoError, match="does not exist"):
        read_keypoints(tmp_path / "absent.npz")
    with pytest.raises(UaoError, match="unknown keypoint layout"):
        read_keypoints(tmp_path / "absent.npz", layout="openpose")
