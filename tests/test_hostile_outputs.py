"""Hostile outputs and state through the real ``uao`` entry point (issue 27): the cache, outputs
that are (or lie inside) inputs, ``uao view`` on results that are not what uao wrote, ``--resume``
on forged outputs, fps and --up values, and the checkpoint sidecar and training cases.

Every bad case exits non-zero with one line on stderr and no traceback, and changes no file (the
tree is hashed before and after), or succeeds with a sensible result.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_runner import assert_refused, uao
from conftest import moving_person
from hostile_files import tree
from uao_deploy.data.sample import SAMPLE_PATH

FRAMES = 12


def keypoint_arrays(**changes) -> dict:
    with np.load(SAMPLE_PATH) as sample:
        arrays = {key: sample[key] for key in ("width", "height", "focal", "center", "fps")}
        arrays["keypoints"] = sample["keypoints"][:FRAMES].copy()
    arrays.update(changes)
    return arrays


@pytest.fixture(scope="module")
def checkpoint(small_checkpoint):
    return small_checkpoint


def infer(capsys, checkpoint, *args):
    return uao(capsys, "infer", *args, "--backend", "torch", "--engine", checkpoint, "--tto-iters", "1",
               "--no-progress")


@pytest.fixture
def work(tmp_path):
    np.savez(tmp_path / "x.npz", **keypoint_arrays())
    return tmp_path


@pytest.fixture(scope="module")
def result_file(tmp_path_factory, checkpoint):
    """A result written by `uao infer` (world arrays and metadata included)."""
    folder = tmp_path_factory.mktemp("result")
    np.savez(folder / "x.npz", **keypoint_arrays())
    from uao_deploy.cli import main

    main(["infer", str(folder / "x.npz"), "-o", str(folder / "r.npz"), "--backend", "torch", "--engine",
          str(checkpoint), "--tto-iters", "1", "--no-progress"])
    return folder / "r.npz"


def result_contents(path):
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files if key != "metadata"}
        return arrays, json.loads(str(archive["metadata"]))


# --- 1. the cache deletes only what it made ---------------------------------------------------------
def make_entry(cache_root: Path, name: str) -> Path:
    """A cache entry made the way uao makes them (marker first, then the files)."""
    from uao_deploy.export import cache

    return cache._cached(cache_root / "export" / name, lambda staging: (staging / "forward.onnx").write_bytes(b"g"))


def test_cache_clear_removes_only_its_own_entries(tmp_path, capsys, monkeypatch):
    user = tmp_path / "my-project"  # UAO_CACHE_DIR pointed at a user's folder
    (user / "export" / "notes").mkdir(parents=True)
    (user / "export" / "notes" / "thesis.tex").write_text("years of work")
    (user / "export" / "model.onnx").write_bytes(b"a user's export")
    (user / "readme.txt").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.bin").write_bytes(b"keep")
    (user / "export" / "elsewhere").symlink_to(elsewhere)
    (user / "export" / "root").symlink_to("/")  # a planted link to / must neither break nor be walked
    forged = user / "export" / "0000000000000000"  # a marker that is a link is no marker
    forged.mkdir()
    (forged / ".uao-cache-entry").symlink_to(elsewhere / "precious.bin")
    monkeypatch.setenv("UAO_CACHE_DIR", str(user))
    entry = make_entry(user, "0123456789abcdef")
    others_before = {key: value for key, value in tree(user).items() if "0123456789abcdef" not in key}
    elsewhere_before = tree(elsewhere)

    code, stdout, stderr = uao(capsys, "cache")
    assert code == 0 and "Traceback" not in stderr, stderr
    assert f"{entry}  " in stdout and "1 entries" in stdout and "root  (not made by uao: left alone)" in stdout
    code, stdout, stderr = uao(capsys, "cache", "--clear")
    assert code == 0 and "removed 1 cache entries" in stdout and "left alone 5 items" in stdout, stdout + stderr
    assert not entry.exists()
    assert tree(user) == others_before and tree(elsewhere) == elsewhere_before


def test_cache_never_clears_through_a_linked_export_folder(tmp_path, capsys, monkeypatch):
    other = tmp_path / "other"
    make_entry(other, "0123456789abcdef")  # even an entry uao made is not reached through the link
    (other / "export" / "data.txt").write_text("someone's")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "export").symlink_to(other / "export")
    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path / "cache"))
    before = tree(tmp_path)
    for args in (["cache", "--clear"], ["cache"]):
        assert_refused(uao(capsys, *args), "is a link", "never clears through it")
    assert tree(tmp_path) == before


def test_a_damaged_folder_uao_did_not_make_is_never_rebuilt_over(tmp_path):
    from uao_deploy.errors import UaoError
    from uao_deploy.export import cache

    folder = tmp_path / "export" / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    (folder / "mine.txt").write_text("someone's")
    before = tree(tmp_path)
    with pytest.raises(UaoError, match="was not made by uao"):
        cache._cached(folder, lambda staging: (staging / "forward.onnx").write_bytes(b"g"))
    assert tree(tmp_path) == before


# --- 2. no output is, or lies inside, an input -------------------------------------------------------
@pytest.mark.parametrize("where", ["the folder", "inside", "inside by a link"])
def test_a_batch_output_folder_in_an_input_folder_is_refused(tmp_path, capsys, checkpoint, where):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a", "b"):
        np.savez(corpus / f"{name}.npz", **keypoint_arrays())
    (tmp_path / "link").symlink_to(corpus)
    out = {"the folder": corpus, "inside": corpus / "out", "inside by a link": tmp_path / "link" / "out"}[where]
    before = tree(tmp_path)
    assert_refused(infer(capsys, checkpoint, corpus, "-o", out), "the input", "read them as inputs")
    assert tree(tmp_path) == before


def test_an_output_inside_a_sequence_folder_is_refused(tmp_path, capsys, checkpoint):
    frames = tmp_path / "frames"  # an OpenPose sequence folder, one input
    frames.mkdir()
    with np.load(SAMPLE_PATH) as sample:
        keypoints = sample["keypoints"][:FRAMES]
    for index, pose in enumerate(keypoints):
        people = [{"pose_keypoints_2d": np.concatenate([pose[:, :2], pose[:, 2:]], axis=1).ravel().tolist()}]
        (frames / f"clip_{index:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
    before = tree(tmp_path)
    result = infer(capsys, checkpoint, frames, "-o", frames / "out.npz", "--layout", "h36m", "--width", "1000",
                   "--height", "1000")
    assert_refused(result, "inside the input", "refusing to overwrite an input")
    assert tree(tmp_path) == before


def two_people(path: Path):
    """An MHFormer file holding two people: it writes <stem>_person0 and <stem>_person1."""
    with np.load(SAMPLE_PATH) as sample:
        track = sample["keypoints"][:FRAMES]
    np.savez(path, reconstruction=np.stack([track, track + np.float32([5, 0, 0])]))


def test_a_per_person_name_that_is_another_inputs_output_loses_no_result(tmp_path, capsys, checkpoint):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    two_people(corpus / "v.npz")
    np.savez(corpus / "v_person0.npz", **keypoint_arrays())
    out = tmp_path / "out"
    code, stdout, stderr = infer(capsys, checkpoint, corpus, "-o", out, "--width", "1000", "--height", "1000",
                                 "--person", "all")
    assert_refused((code, stdout, stderr), "1 of 2 input files failed")
    assert "v_person0.npz is also the output of" in stdout, stdout
    assert sorted(path.name for path in out.iterdir()) == ["v_person0.npz", "v_person1.npz"]
    assert result_contents(out / "v_person0.npz")[1]["source"].endswith("v.npz#person0")  # the first claim kept
    outputs = tree(out)
    code, stdout, _ = infer(capsys, checkpoint, corpus, "-o", out, "--width", "1000", "--height", "1000",
                            "--person", "all", "--resume")
    assert code == 1 and "1 done, 1 skipped" not in stdout and "0 done, 1 skipped" in stdout, stdout
    assert tree(out) == outputs


def test_a_per_person_name_clash_in_one_file_run_is_refused(tmp_path, capsys, checkpoint):
    two_people(tmp_path / "v.npz")
    np.savez(tmp_path / "v_person0.npz", **keypoint_arrays())
    before = tree(tmp_path)
    result = infer(capsys, checkpoint, tmp_path / "v.npz", tmp_path / "v_person0.npz", "-o", tmp_path / "out",
                   "--width", "1000", "--height", "1000", "--person", "all")
    assert_refused(result, "v_person0.npz")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/null", "link to stdout", "fifo", "link to a file"])
def test_special_and_linked_outputs_are_refused(work, capsys, checkpoint, target):
    if target == "link to stdout":
        (work / "out.npz").symlink_to("/dev/stdout")
    if target == "fifo":
        os.mkfifo(work / "out.npz")
    if target == "link to a file":
        (work / "elsewhere.npz").write_bytes(b"someone's file")
        (work / "out.npz").symlink_to(work / "elsewhere.npz")
    out = target if target.startswith("/dev") else work / "out.npz"
    before = tree(work)
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", out))
    assert tree(work) == before


@pytest.mark.parametrize("command", ["bench", "eval"])
def test_a_json_report_to_dev_stdout_is_refused(tmp_path, capsys, command):
    np.savez(tmp_path / "clips.npz", walk=moving_person(20, 0))
    args = ["--out", tmp_path / "results"] if command == "bench" else ["--data", tmp_path / "clips.npz"]
    before = tree(tmp_path)
    assert_refused(uao(capsys, command, *args, "--json", "/dev/stdout"), "--json /dev/stdout is")
    assert tree(tmp_path) == before


# --- 3. `uao view` trusts no result file ---------------------------------------------------------------
def forge(path: Path, source: Path, drop=(), metadata_text=None, **arrays):
    """``source``'s result with arrays replaced or dropped, and the metadata edited or replaced."""
    stored, metadata = result_contents(source)
    stored.update(arrays)
    for name in drop:
        stored.pop(name, None)
    if metadata_text is None:
        metadata_text = json.dumps(metadata)
    if metadata_text is not False:
        stored["metadata"] = metadata_text if isinstance(metadata_text, np.ndarray) else np.array(metadata_text)
    np.savez(path, **stored)
    return path


def edited_metadata(source, **changes):
    metadata = result_contents(source)[1]
    metadata.update(changes)
    return json.dumps(metadata)


FORGERIES = {
    "no metadata": (dict(metadata_text=False), "it lacks metadata"),
    "metadata not JSON": (dict(metadata_text="{'fps': 25"), "not valid JSON"),
    "metadata a list": (dict(metadata_text="[1, 2]"), "not a JSON object"),
    "metadata deeply nested": (dict(metadata_text="[" * 100_000 + "]" * 100_000), "not valid JSON"),
    "metadata a number array": (dict(metadata_text=np.arange(3)), "not a JSON text"),
    "root missing": (dict(drop=["root"]), "lacks root"),
    "root (T, 2)": (dict(root=lambda a: a["root"][:, :2]), "root has shape"),
    "root one frame short": (dict(root=lambda a: a["root"][:-1]), "root has shape"),
    "root behind the camera": (dict(root=lambda a: a["root"] * np.float32([1, 1, -1])), "behind the camera"),
    "uncertainty (T, 16)": (dict(uncertainty=lambda a: a["uncertainty"][:, :16]), "uncertainty has shape"),
    "negative uncertainty": (dict(uncertainty=lambda a: -a["uncertainty"]), "uncertainty holds values outside"),
    "no frames": (dict(poses_3d=lambda a: a["poses_3d"][:0]), "no frames"),
    "NaN pose": (dict(poses_3d=lambda a: np.where(np.arange(FRAMES)[:, None, None] == 3, np.nan, a["poses_3d"])),
                 "poses_3d holds NaN or infinite values (frame 3)"),
    "infinite keypoint": (dict(keypoints_2d=lambda a: a["keypoints_2d"] * np.float32(np.inf)),
                          "keypoints_2d holds NaN"),
    "huge pose": (dict(poses_3d_initial=lambda a: a["poses_3d_initial"] + np.float32(1e30)), "outside"),
    "text pose": (dict(poses_3d=lambda a: a["poses_3d"].astype(str)), "poses_3d holds <U"),
    "world one frame short": (dict(poses_world=lambda a: a["poses_world"][:-1]), "poses_world has shape"),
    "world root missing": (dict(drop=["root_world"]), "poses_world without root_world"),
    "world shifted": (dict(poses_world=lambda a: a["poses_world"] + np.float32(1)), "not the camera-frame result"),
}
METADATA_FORGERIES = {
    "fps NaN": ({"fps": float("nan")}, "fps must be from 1 to 1000; got nan"),
    "fps negative": ({"fps": -25}, "fps must be from 1 to 1000"),
    "fps huge": ({"fps": 1e308}, "fps must be from 1 to 1000"),
    "fps tiny": ({"fps": 1e-9}, "fps must be from 1 to 1000"),
    "fps text": ({"fps": "25"}, "fps must be a number"),
    "frames wrong": ({"frames": FRAMES + 1}, f"says {FRAMES + 1} frames"),
    "camera a list": ({"camera": [1, 2]}, "camera is not an object"),
    "camera width negative": ({"camera": {"width": -5, "height": 10}}, "camera width must be a positive number"),
    "world frame missing": ({"world_frame": None}, "without a valid world_frame"),
    "world frame not a rotation": ({"world_frame": {"camera_to_world_rotation": [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
                                                    "origin_in_camera": [0, 0, 0]}}, "is not a rotation"),
    "a NaN anywhere": ({"camera": {"width": 10, "height": 10, "focal_px": [float("nan"), 1.0]}},
                       "metadata holds NaN or infinite values"),
    "an infinity anywhere": ({"settings": {"smooth_root": float("inf")}}, "metadata holds NaN or infinite values"),
}


@pytest.mark.parametrize("case", [*FORGERIES, *METADATA_FORGERIES])
@pytest.mark.parametrize("suffix", [".bvh", ".csv"])
def test_view_refuses_results_uao_did_not_write(result_file, tmp_path, capsys, case, suffix):
    if case in FORGERIES:
        options, needle = FORGERIES[case]
        arrays = result_contents(result_file)[0]
        options = {key: value(arrays) if callable(value) else value for key, value in options.items()}
    else:
        changes, needle = METADATA_FORGERIES[case]
        options = dict(metadata_text=edited_metadata(result_file, **changes))
    forged = forge(tmp_path / "forged.npz", result_file, **options)
    before = tree(tmp_path)
    assert_refused(uao(capsys, "view", forged, "-o", tmp_path / f"out{suffix}"), needle)
    assert tree(tmp_path) == before


def test_view_writes_a_good_result(result_file, tmp_path, capsys):
    code, _, stderr = uao(capsys, "view", result_file, "-o", tmp_path / "out.bvh")
    assert code == 0, stderr
    frame_time = [line for line in (tmp_path / "out.bvh").read_text().splitlines() if line.startswith("Frame Time")]
    assert frame_time == ["Frame Time: 0.02000000"]  # the sample's 50 fps


@pytest.mark.parametrize("kind, needle", [("link loop", "cannot be read"), ("FIFO", "is a FIFO"),
                                          ("/dev/zero", "is a character device")])
def test_view_names_an_input_that_is_no_file(tmp_path, capsys, kind, needle):
    source = tmp_path / "r.npz"
    if kind == "FIFO":
        os.mkfifo(source)
    else:
        source.symlink_to("r.npz" if kind == "link loop" else kind)
    before = tree(tmp_path)
    assert_refused(uao(capsys, "view", source, "-o", tmp_path / "out.html"), needle)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_view_refuses_to_overwrite_its_input(result_file, tmp_path, capsys, spelling):
    source = shutil.copy(result_file, tmp_path / "r.npz")
    if spelling == "symlink":
        (tmp_path / "link.npz").symlink_to(source)
    if spelling == "hardlink":
        os.link(source, tmp_path / "twin.npz")
    out = {"same": source, "dotdot": tmp_path / ".." / tmp_path.name / "r.npz", "symlink": tmp_path / "link.npz",
           "hardlink": tmp_path / "twin.npz"}[spelling]
    before = tree(tmp_path)
    assert_refused(uao(capsys, "view", source, "-o", out), "refusing to overwrite an input")
    assert tree(tmp_path) == before


# --- 4. --resume trusts only whole outputs ---------------------------------------------------------------
@pytest.mark.parametrize("forgery", ["record only", "no world arrays", "NaN poses"])
def test_resume_lifts_again_over_a_forged_output(tmp_path, capsys, checkpoint, forgery):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    np.savez(corpus / "x.npz", **keypoint_arrays())
    out = tmp_path / "out"
    assert infer(capsys, checkpoint, corpus, "-o", out)[0] == 0
    code, stdout, _ = infer(capsys, checkpoint, corpus, "-o", out, "--resume")
    assert code == 0 and "0 done, 1 skipped" in stdout  # a whole output is trusted
    arrays, metadata = result_contents(out / "x.npz")
    if forgery == "record only":  # a valid job record, and no poses
        np.savez(out / "x.npz", metadata=np.array(json.dumps({"job": metadata["job"]})))
    elif forgery == "no world arrays":
        forge(out / "x.npz", out / "x.npz", drop=["poses_world", "root_world"])
    else:
        forge(out / "x.npz", out / "x.npz", poses_3d=arrays["poses_3d"] * np.float32(np.nan))
    code, stdout, _ = infer(capsys, checkpoint, corpus, "-o", out, "--resume")
    assert code == 0 and "1 done, 0 skipped" in stdout, stdout
    relifted, _ = result_contents(out / "x.npz")
    np.testing.assert_array_equal(relifted["poses_3d"], arrays["poses_3d"])


# --- 5. values: fps, --up, sidecars, training ----------------------------------------------------------------
@pytest.mark.parametrize("fps, needle", [(1e308, "got 1e+308"), (1e-9, "got 1e-09"), (np.nan, "'fps'"),
                                         (-25.0, "'fps'"), (5000.0, "fps must be from 1 to 1000")])
def test_an_absurd_fps_in_a_keypoint_file_is_refused_before_any_work(tmp_path, capsys, checkpoint, fps, needle):
    np.savez(tmp_path / "x.npz", **keypoint_arrays(fps=np.float64(fps)))
    before = tree(tmp_path)
    assert_refused(infer(capsys, checkpoint, tmp_path / "x.npz", "-o", tmp_path / "out.bvh"), needle)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fps", ["1e308", "1e-9", "5000"])
def test_an_absurd_fps_option_is_refused_before_any_work(work, capsys, checkpoint, fps):
    before = tree(work)
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", work / "out.bvh", "--fps", fps),
                   "fps must be from 1 to 1000")
    assert tree(work) == before


def test_a_huge_up_vector_is_a_direction(result_file, tmp_path, capsys):
    code, _, stderr = uao(capsys, "view", result_file, "-o", tmp_path / "out.npz", "--up", "1e308,-1e308,0")
    assert code == 0, stderr
    arrays, metadata = result_contents(tmp_path / "out.npz")
    np.testing.assert_allclose(metadata["world_frame"]["up_in_camera"], [2 ** -0.5, -(2 ** -0.5), 0], atol=1e-12)
    assert np.isfinite(arrays["poses_world"]).all() and np.ptp(arrays["poses_world"][..., 1]) > 0.1  # not flat
    assert uao(capsys, "view", tmp_path / "out.npz", "-o", tmp_path / "out.bvh")[0] == 0
    assert "nan" not in (tmp_path / "out.bvh").read_text().lower()


@pytest.mark.parametrize("up", ["0,0,0", "nan,1,0", "inf,1,0", "1e-400,0,0"])
def test_an_up_vector_without_a_direction_is_refused(result_file, tmp_path, capsys, up):
    before = tree(tmp_path)
    assert_refused(uao(capsys, "view", result_file, "-o", tmp_path / "out.bvh", "--up", up), "up vector")
    assert tree(tmp_path) == before


@pytest.fixture
def mocap(tmp_path):
    train_path, val_path = tmp_path / "train.npz", tmp_path / "val.npz"
    np.savez(train_path, walk=moving_person(40, 0), jump=moving_person(30, 1))
    np.savez(val_path, wave=moving_person(20, 2))
    return train_path, val_path


@pytest.mark.parametrize("sidecar, needle", [("{not json", "not a readable JSON sidecar"),
                                             ("[1, 2]", "holds a JSON list"),
                                             ('{"calibration": [1]}', "holds no Calibration settings")])
def test_calibrate_names_a_broken_sidecar(tmp_path, capsys, checkpoint, mocap, sidecar, needle):
    model = Path(shutil.copy(checkpoint, tmp_path / "model.pth"))
    (tmp_path / "model.pth.json").write_text(sidecar)
    before = tree(tmp_path)
    assert_refused(uao(capsys, "calibrate", model, "--data", mocap[0]), needle)
    assert tree(tmp_path) == before


def train(capsys, mocap, out, *options):
    """`uao train` on the tiny clips; stderr as a terminal shows it (the progress bar, redrawn with
    carriage returns, is cleared)."""
    code, stdout, stderr = uao(capsys, "train", "--data", mocap[0], "--val", mocap[1], "--out", out, "--channels",
                               "16", "--layers", "1", "--epochs", "1", "--batch-size", "16", "--max-batches", "2",
                               "--views", "1", *options)
    return code, stdout, stderr.rsplit("\r", 1)[-1].lstrip()


@pytest.mark.parametrize("which", ["training", "validation"])
def test_train_refuses_clips_without_frames_before_making_its_folder(tmp_path, capsys, mocap, which):
    np.savez(mocap[which == "validation"], empty=np.zeros((0, 17, 3), np.float32))
    before = tree(tmp_path)
    assert_refused(train(capsys, mocap, tmp_path / "run"), "clip 'empty' holds no frames")
    assert tree(tmp_path) == before


def test_a_diverging_training_run_says_so_and_names_no_missing_checkpoint(tmp_path, capsys, mocap):
    result = train(capsys, mocap, tmp_path / "run", "--lr", "1e30")
    assert_refused(result, "training diverged in epoch 1", "lower --lr", "nothing was saved")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("noise, needle", [("1e308", "larger than the 1000 px image"),
                                           ("nan", "sigma, drift and box jitter >= 0")])
def test_calibrate_refuses_absurd_noise_in_one_line(tmp_path, capsys, checkpoint, mocap, noise, needle):
    model = Path(shutil.copy(checkpoint, tmp_path / "model.pth"))
    before = tree(tmp_path)
    assert_refused(uao(capsys, "calibrate", model, "--data", mocap[0], "--noise", noise), needle)
    assert tree(tmp_path) == before


def test_train_then_calibrate_with_a_broken_sidecar(tmp_path, capsys, mocap):
    run = tmp_path / "run"
    code, stdout, stderr = train(capsys, mocap, run)
    assert code == 0 and (run / "best.pth").is_file(), stderr
    (run / "best.pth.json").write_text("[]")
    before = tree(tmp_path)
    assert_refused(uao(capsys, "calibrate", run / "best.pth", "--data", mocap[0]), "holds a JSON list")
    assert tree(tmp_path) == before


def test_the_writer_checks_the_same_schema(result_file, tmp_path):
    from uao_deploy.errors import UaoError
    from uao_deploy.io.results import load_result, write_result

    arrays, metadata = load_result(result_file)
    with pytest.raises(UaoError, match="stray is not in the result schema"):
        write_result(tmp_path / "r.npz", {**arrays, "stray": np.zeros(FRAMES)}, metadata)
    with pytest.raises(UaoError, match="refusing to write .*fps must be from 1 to 1000"):
        write_result(tmp_path / "r.bvh", arrays, {**metadata, "fps": 1e308})
    with pytest.raises(UaoError, match="refusing to write .*metadata holds NaN"):
        write_result(tmp_path / "r.json", arrays, {**metadata, "camera": {"focal_px": [float("nan")] * 2}})
    with pytest.raises(UaoError, match="refusing to write .*root has shape"):
        write_result(tmp_path / "r.csv", {**arrays, "root": arrays["root"][:-1]}, metadata)
    assert list(tmp_path.iterdir()) == []


def test_an_error_during_a_progress_bar_is_the_last_line(tmp_path, capsys, checkpoint, mocap, monkeypatch):
    """The bar is closed before the error is printed: it is not redrawn after it, and the error starts
    its own line."""
    from uao_deploy.errors import UaoError
    from uao_deploy.jobs import calibrate

    def fail(engine, clip):
        raise UaoError("this clip cannot be lifted")

    monkeypatch.setattr(calibrate, "depth_ratio", fail)
    model = Path(shutil.copy(checkpoint, tmp_path / "model.pth"))
    code, _, stderr = uao(capsys, "calibrate", model, "--data", mocap[0], "--noise", "0")
    assert code == 1 and stderr.endswith("\nError: this clip cannot be lifted\n"), repr(stderr)


@pytest.mark.parametrize("case, options, needle", [
    ("huge model", ("--channels", "8192", "--layers", "64"), "17,525 M parameters, more than the 100 M"),
    ("noise beyond the image", ("--noise", "1e308", "1e308"), "sigma max <= the 1000 px reference width"),
    ("clips in no unit", (), "m; clips are in metres, within 10000 m"),
    ("a raw pickle as the state", ("--resume",), "is not a uao training state"),
])
def test_train_refuses_absurd_sizes_and_files_in_one_line(tmp_path, capsys, mocap, case, options, needle):
    if case == "clips in no unit":
        np.savez(mocap[0], walk=moving_person(40, 0) * np.float32(1e30))
    if case == "a raw pickle as the state":  # protocol 4: torch warns about it before refusing it
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "last_state.pt").write_bytes(b"\x80\x04cos\nsystem\nq\x00X\x05\x00\x00\x00touch\x85R.")
    before = tree(tmp_path)
    assert_refused(train(capsys, mocap, tmp_path / "run", *options), needle)
    assert tree(tmp_path) == before


def test_train_seeds_are_bounded(tmp_path, capsys, mocap):
    code, _, stderr = train(capsys, mocap, tmp_path / "run", "--seed", str(2 ** 70))
    assert code == 2 and "'--seed'" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "run").exists()
