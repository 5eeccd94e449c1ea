"""Hostile and broken inputs through the real ``uao`` entry point (issue 10).

Every bad case exits non-zero with exactly one line on stderr and no traceback, or succeeds with
finite output; no input or earlier output is ever changed. Click's own usage errors (exit 2,
usage lines) are the one documented exception to "one line".
"""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import hostile_files
from cli_runner import assert_refused, uao
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.errors import UaoError
from uao_deploy.fileio import atomic_write_bytes, file_sha256
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

FRAMES = 12


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` (hidden temporaries included) with its sha256."""
    return {str(path.relative_to(folder)): file_sha256(path) for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(GUMLP(GUMLPConfig(channels=32, layers=1)).eval(),
                           tmp_path_factory.mktemp("model") / "small.pth")


def sample_arrays(**changes) -> dict:
    """The first frames of the embedded sample as a plain keypoint file's arrays, with ``changes``."""
    with np.load(SAMPLE_PATH) as sample:
        arrays = {key: sample[key] for key in ("width", "height", "focal", "center")}
        arrays["keypoints"] = sample["keypoints"][:FRAMES].copy()
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


@pytest.fixture
def work(tmp_path):
    """A folder holding x.npz (good keypoints); returns the folder."""
    np.savez(tmp_path / "x.npz", **sample_arrays())
    return tmp_path


def infer(capsys, checkpoint, *args):
    return uao(capsys, "infer", *args, "--backend", "torch", "--checkpoint", checkpoint, "--tto-iters", "1",
               "--no-progress")


def assert_finite_output(path: Path):
    with np.load(path) as result:
        for key in ("poses_3d", "poses_3d_initial", "root", "uncertainty", "keypoints_2d"):
            assert np.isfinite(result[key]).all(), key
        assert (result["root"][:, 2] > 0).all()


# --- 1. outputs that are inputs, by any spelling --------------------------------------------------
@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "folder", "hardlink"])
def test_an_output_that_is_an_input_is_refused(work, capsys, checkpoint, spelling):
    source = work / "x.npz"
    if spelling == "symlink":
        (work / "link.npz").symlink_to(source)
    if spelling == "hardlink":
        os.link(source, work / "twin.npz")
    out = {"same": source, "dotdot": work / ".." / work.name / "." / "x.npz", "symlink": work / "link.npz",
           "folder": work, "hardlink": work / "twin.npz"}[spelling]
    before = snapshot(work)
    assert_refused(infer(capsys, checkpoint, source, "-o", out), "refusing to overwrite an input")
    assert snapshot(work) == before


def test_a_render_target_that_is_an_input_is_refused(work, capsys, checkpoint):
    shutil.copy(work / "x.npz", work / "clip.gif")  # keypoints are read by content, whatever the name
    before = snapshot(work)
    assert_refused(infer(capsys, checkpoint, work / "clip.gif", "-o", work / "out.npz", "--render", work / "clip.gif"),
                   "animation", "refusing to overwrite an input")
    assert snapshot(work) == before


# --- 6. output locations checked before any work ---------------------------------------------------
@pytest.mark.parametrize("where, needle", [
    ("folder named like the file", "is an existing folder"),
    ("under a file", "is a file, not a folder"),
    ("proc", "cannot write in /proc"),
])
def test_unwritable_outputs_are_refused_before_any_work(work, capsys, checkpoint, where, needle):
    (work / "taken.npz").mkdir()
    (work / "plain.txt").write_text("a file")
    out = {"folder named like the file": work / "taken.npz", "under a file": work / "plain.txt" / "out.npz",
           "proc": Path("/proc/uao_out.npz")}[where]
    before = snapshot(work)
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", out), needle)
    assert snapshot(work) == before


def test_a_read_only_folder_is_refused_before_any_work(work, capsys, checkpoint):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /proc case covers unwritable locations")
    (work / "locked").mkdir(mode=0o555)
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", work / "locked" / "out.npz"), "cannot write")


def test_a_failed_write_keeps_the_earlier_output_and_leaves_no_temporary(work, capsys, checkpoint, monkeypatch):
    out = work / "out.npz"
    assert infer(capsys, checkpoint, work / "x.npz", "-o", out)[0] == 0
    before = snapshot(work)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", out), "No space left on device")
    assert snapshot(work) == before


def test_atomic_write_turns_os_errors_into_one_line(tmp_path):
    def full_disk(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UaoError, match="cannot write .*out.json: No space left on device"):
        atomic_write_bytes(tmp_path / "out.json", full_disk)
    assert list(tmp_path.iterdir()) == []


# --- 5. camera values and keypoints: never NaN, never a root behind the camera ---------------------
@pytest.mark.parametrize("changes, options, needle", [
    ({"focal": np.float32(0)}, (), "focal length"),
    ({"focal": np.float32(-5)}, (), "focal length"),
    ({"focal": np.array("wide")}, (), "'focal' must hold numbers"),
    ({"center": np.float32([1e30, 500])}, (), "principal point"),
    ({"width": np.float32(1e-30)}, (), "image width"),
    ({}, ("--width", "1e-30"), "image width"),
    ({}, ("--width", "nan"), "image width nan"),
    ({}, ("--width", "inf"), "image width inf"),
    ({}, ("--height", "nan"), "image height nan"),
    ({}, ("--focal", "1e30"), "focal length"),
    ({}, ("--focal", "inf"), "focal length"),
])
def test_absurd_camera_values_are_refused(tmp_path, capsys, checkpoint, changes, options, needle):
    np.savez(tmp_path / "x.npz", **sample_arrays(**changes))
    before = snapshot(tmp_path)
    stderr = assert_refused(infer(capsys, checkpoint, tmp_path / "x.npz", "-o", tmp_path / "out.npz", *options), needle)
    assert "Warning" not in stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("value", [3e38, 1e6, -1e6, np.inf, np.nan])
def test_absurd_keypoints_count_as_missing(tmp_path, capsys, checkpoint, value):
    keypoints = sample_arrays()["keypoints"]
    keypoints[3, 5, 0] = value
    np.savez(tmp_path / "x.npz", **sample_arrays(keypoints=keypoints))
    code, _, stderr = infer(capsys, checkpoint, tmp_path / "x.npz", "-o", tmp_path / "out.npz")
    assert code == 0, stderr
    assert_finite_output(tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as result:
        assert result["confidence"][3, 5] == 0  # filled, not used


def test_a_result_behind_the_camera_is_never_written(tmp_path):
    from uao_deploy.pipeline import LiftResult

    frames = 3
    result = LiftResult(poses_3d=np.zeros((frames, 17, 3), np.float32), poses_3d_initial=np.zeros((frames, 17, 3), np.float32),
                        root=np.float32([[0, 0, 4], [0, 0, -0.11], [0, 0, 4]]), uncertainty=np.ones((frames, 17), np.float32),
                        keypoints_2d=np.zeros((frames, 17, 2), np.float32), confidence=np.ones((frames, 17), np.float32),
                        metadata={})
    with pytest.raises(UaoError, match=r"x.npz: nothing written: frame 1 puts the root behind the camera \(z = -0.11 m\)"):
        result.check("x.npz")
    result.root[1, 2] = 4
    result.poses_3d[2, 4, 1] = np.nan
    with pytest.raises(UaoError, match=r"x.npz: nothing written: poses_3d holds NaN or infinite values \(frame 2\)"):
        result.check("x.npz")


# --- 6, 8. malformed numpy files ---------------------------------------------------------------------
def _npz_with_member(path: Path, key: str, payload: bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{key}.npy", payload)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _claiming(shape, data_bytes: int) -> bytes:
    """An npy member whose header claims float32 ``shape`` but which holds ``data_bytes`` bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue() + bytes(data_bytes)  # the header starts with the magic


@pytest.mark.parametrize("payload, needle", [
    (lambda: _claiming((250_000_000, 17, 3), 1024), "is truncated: its header claims 51,000,000,000 bytes"),
    (lambda: _claiming((10, 17, 3), 100), "is truncated"),
    (lambda: np.lib.format.magic(1, 0) + b"\x20\x00{'descr': '<f4', 'fortran_or", "is not a readable numpy array"),
    (lambda: b"\x93NUMPY\x07\x00garbage", "is not a readable numpy array"),
    (lambda: _npy(np.array([object()] * 34, dtype=object).reshape(1, 17, 2)), "pickled Python objects"),
    (lambda: _npy(np.full((2, 17, 2), "a string")), "is not numeric"),
])
def test_malformed_keypoint_arrays_are_named(tmp_path, capsys, checkpoint, payload, needle):
    _npz_with_member(tmp_path / "x.npz", "keypoints", payload())
    before = snapshot(tmp_path)
    stderr = assert_refused(infer(capsys, checkpoint, tmp_path / "x.npz", "-o", tmp_path / "out.npz"), needle)
    if "pickled" not in needle:
        assert "allow-pickle" not in stderr  # never suggest unpickling a file that is not a pickle
    assert snapshot(tmp_path) == before


def test_a_truncated_archive_is_named(work, capsys, checkpoint):
    data = (work / "x.npz").read_bytes()
    (work / "cut.npz").write_bytes(data[: len(data) // 2])
    assert_refused(infer(capsys, checkpoint, work / "cut.npz", "-o", work / "out.npz"), "cut.npz")


@pytest.mark.parametrize("command", ["eval", "verify"])
@pytest.mark.parametrize("damage", ["truncated", "object array", "strings", "huge claim"])
def test_eval_and_verify_name_broken_mocap_files(tmp_path, capsys, command, damage):
    clip = np.zeros((5, 17, 3), np.float32)
    path = tmp_path / "clips.npz"
    if damage == "truncated":
        np.savez(path, walk=clip)
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "huge claim":
        _npz_with_member(path, "walk", _claiming((10 ** 9, 17, 3), 64))
    else:
        bad = np.array([object()] * 3, dtype=object) if damage == "object array" else np.full((5, 17, 3), "x")
        _npz_with_member(path, "walk", _npy(bad))
    option = "--data"
    stderr = assert_refused(uao(capsys, command, option, path), "clips.npz")
    assert "allow-pickle" not in stderr
    if damage == "object array":
        assert "--h36m-3d" in stderr  # the flags that do unpickle, for Human3.6M files one trusts


# --- 2. resume never unpickles code ------------------------------------------------------------------
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def test_resume_never_runs_code_from_a_planted_state(tmp_path, capsys):
    clips = {"walk": np.zeros((8, 17, 3), np.float32) + np.linspace(0, 1, 17)[None, :, None]}
    np.savez(tmp_path / "train.npz", **clips)
    out = tmp_path / "runs"
    out.mkdir()
    marker = tmp_path / "marker"
    torch.save({"model": _Payload(str(marker))}, out / "last_state.pt")
    stderr = assert_refused(uao(capsys, "train", "--data", tmp_path / "train.npz", "--val", tmp_path / "train.npz",
                                "--out", out, "--resume", "--channels", "16", "--epochs", "1", "--max-batches", "1"),
                            "is not a uao training state")
    assert not marker.exists() and "weights_only` set to `False" not in stderr, stderr


def test_a_checkpoint_with_code_is_refused_without_advice_to_unpickle(work, capsys, tmp_path):
    marker = tmp_path / "marker"
    torch.save({"encoder.fc5.weight": _Payload(str(marker))}, tmp_path / "planted.pth")
    stderr = assert_refused(infer(capsys, tmp_path / "planted.pth", work / "x.npz", "-o", work / "out.npz"),
                            "holds more than tensors and plain containers", "never unpickles code")
    assert not marker.exists() and "False" not in stderr


# --- 3. verify's exit status --------------------------------------------------------------------------
def test_verify_failure_exits_3_through_the_real_entry_point(tiny_export, tmp_path):
    torch.manual_seed(1)
    other = save_checkpoint(GUMLP(GUMLPConfig(channels=64, layers=1)).eval(), tmp_path / "other.pth")
    run = subprocess.run([sys.executable, "-m", "uao_deploy", "verify", "--checkpoint", str(other), "--engine",
                          str(tiny_export), "--frames", "4", "--tto-iters", "2"], capture_output=True, text=True)
    assert run.returncode == 3, run.stderr
    assert "FAIL" in run.stdout and "Traceback" not in run.stderr


# --- 4. graphs checked against their manifest ------------------------------------------------------------
@pytest.fixture
def export_copy(tiny_export, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    return folder


def _edit_manifest(folder: Path, edit):
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("graph, mode", [("seq_fused", "sequence"), ("tto_fused", "frame")])
def test_a_changed_graph_is_named_and_never_run(export_copy, work, capsys, graph, mode):
    path = export_copy / f"{graph}.onnx"  # the graph the mode runs at the export's K (checked as it opens)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(work)
    assert_refused(uao(capsys, "infer", work / "x.npz", "-o", work / "out.npz", "--engine", export_copy, "--no-progress",
                       "--mode", mode, "--tto-iters", "2"), f"{graph}.onnx was changed after export")
    assert snapshot(work) == before


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m["graphs"]["forward"].update(file=7), "names no file"),
    (lambda m: m["graphs"].update(forward="forward.onnx"), "names no file"),
    (lambda m: m["graphs"]["forward"].pop("file"), "names no file"),
    (lambda m: m["graphs"]["forward"].update(file="../forward.onnx"), "names no file"),
    (lambda m: m["graphs"]["forward"].pop("sha256"), "has no sha256"),
    (lambda m: m["graphs"].pop("tto_step"), "does not list the frame objective's graphs tto_step"),
    (lambda m: m.update(metadata=["a list"]), "'metadata' is not a mapping"),
    (lambda m: m.update(checkpoint_sha256="0" * 64), "contradicts the graphs' metadata (checkpoint_sha256)"),
    (lambda m: m["model_config"].update(channels=512), "contradicts the graphs' metadata (model_config)"),
    (lambda m: m["tto"].update(iters=8), "contradicts the graphs' metadata (tto)"),
    (lambda m: m["graphs"]["tto_fused"]["outputs"][1].update(shape=[8, "B"]), "(graphs.tto_fused.outputs (K))"),
])
def test_a_manifest_that_contradicts_its_graphs_is_refused(export_copy, work, capsys, edit, needle):
    _edit_manifest(export_copy, edit)
    assert_refused(uao(capsys, "infer", work / "x.npz", "-o", work / "out.npz", "--engine", export_copy, "--no-progress"),
                   needle)
    assert not (work / "out.npz").exists()


@pytest.mark.parametrize("sidecar, needle", [
    ('["forward"]', "holds a JSON list, not the object an engine's sidecar is"),
    ("{not json", "is not valid JSON"),
    (b"\xff\xfe binary", "is not a text (UTF-8) file"),
    ("7", "holds a JSON int"),
    (None, "is a folder, not a file"),
])
def test_an_engine_sidecar_that_is_not_a_json_object_is_one_error(tmp_path, sidecar, needle):
    from uao_deploy.engines.tensorrt import read_sidecar

    path = tmp_path / "forward.engine.json"
    if sidecar is None:
        path.mkdir()
    elif isinstance(sidecar, bytes):
        path.write_bytes(sidecar)
    else:
        path.write_text(sidecar)
    with pytest.raises(UaoError, match=re.escape(needle)) as error:
        read_sidecar(tmp_path / "forward.engine")
    assert "\n" not in str(error.value)


def test_an_export_whose_sequence_graphs_fit_a_focal_scale_is_refused(export_copy, work, capsys):
    """Exports made before the focal length was estimated only on the host: their sequence graphs take a
    log_focal input and their metadata records fit_focal. Each is one line saying to export again."""
    from uao_deploy.contract import export_settings, read_manifest

    manifest = read_manifest(export_copy)
    _edit_manifest(export_copy, lambda m: m["graphs"]["seq_step"]["inputs"].insert(3, {"name": "log_focal",
                                                                                      "shape": ["W", 1]}))
    assert_refused(uao(capsys, "infer", work / "x.npz", "-o", work / "out.npz", "--engine", export_copy, "--no-progress"),
                   "its seq_step graph takes z, z_flip, root, log_focal, x")
    metadata = manifest["metadata"]
    old = {**json.loads(metadata["uao.sequence"]), "fit_focal": False, "lr_focal": 0.02}
    with pytest.raises(UaoError, match=r"settings this version does not know \(fit_focal, lr_focal\); made by "
                                       r"another uao-deploy version: export again with `uao export`"):
        export_settings({**metadata, "uao.sequence": json.dumps(old)}, manifest["graphs"], "old")


def test_a_damaged_cache_entry_is_rebuilt(tiny_checkpoint, tiny_export, tmp_path, monkeypatch):
    from uao_deploy.export import cache
    from uao_deploy.tto import TTOConfig

    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path / "cache"))
    exports = []

    def export_by_copy(checkpoint, staging, tto, precision):
        exports.append(staging)
        shutil.copytree(tiny_export, staging, dirs_exist_ok=True)

    monkeypatch.setattr("uao_deploy.export.export_onnx", export_by_copy)
    stale = tmp_path / "cache" / "export" / ".0123456789abcdef.uao-tmp-999999999.k2x8q0zz"  # a killed run's staging
    stale.mkdir(parents=True)
    (stale / "forward.onnx").write_bytes(b"half")
    folder = cache.exported_graphs(tiny_checkpoint, TTOConfig(iters=2))
    assert not stale.exists()
    assert cache.exported_graphs(tiny_checkpoint, TTOConfig(iters=2)) == folder and len(exports) == 1
    (folder / "tto_step.onnx").unlink()
    assert cache.exported_graphs(tiny_checkpoint, TTOConfig(iters=2)) == folder and len(exports) == 2
    assert (folder / "tto_step.onnx").is_file()
    (folder / "forward.onnx").write_bytes(b"flipped")
    cache.exported_graphs(tiny_checkpoint, TTOConfig(iters=2))
    assert len(exports) == 3 and file_sha256(folder / "forward.onnx") == file_sha256(tiny_export / "forward.onnx")
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]  # nothing left aside

    def full_disk(checkpoint, staging, tto, precision):
        (staging / "forward.onnx").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("uao_deploy.export.export_onnx", full_disk)
    with pytest.raises(UaoError, match="cannot write the cache entry .*: No space left on device"):
        cache.exported_graphs(tiny_checkpoint, TTOConfig(iters=3))
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]


# --- 7. K bounded, the cache listed and cleared -----------------------------------------------------------
@pytest.mark.parametrize("command", ["infer", "export", "verify", "eval"])
def test_an_absurd_iteration_count_is_a_usage_error(tmp_path, capsys, command):
    args = [command, "--tto-iters", "1000000000"] + (["x.npz", "-o", "y.npz"] if command == "infer" else [])
    code, _, stderr = uao(capsys, *args)
    assert code == 2 and "--tto-iters" in stderr and "Traceback" not in stderr


def test_the_library_bounds_iterations_too(tmp_path, monkeypatch):
    from uao_deploy.export.cache import exported_graphs
    from uao_deploy.tto import TTOConfig

    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path))
    with pytest.raises(UaoError, match="TTO iterations must be an integer from 0 to 64"):
        exported_graphs(None, TTOConfig(iters=1_000_000_000))
    assert not any(tmp_path.iterdir())


def test_uao_cache_lists_and_clears(tiny_export, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path))
    from uao_deploy.export.cache import _cached

    entry = _cached(tmp_path / "export" / "0123456789abcdef",
                    lambda staging: shutil.copytree(tiny_export, staging, dirs_exist_ok=True))
    (tmp_path / "export" / ".0123456789abcdef.uao-tmp-999999999.stale").mkdir()  # a killed run's staging
    code, stdout, _ = uao(capsys, "cache")
    assert code == 0 and str(entry) in stdout and "K = 2" in stdout and "1 entries" in stdout
    code, stdout, _ = uao(capsys, "cache", "--clear")
    assert code == 0 and "removed 2 cache entries" in stdout
    assert list((tmp_path / "export").iterdir()) == []


def test_smooth_root_is_bounded(work, capsys, checkpoint):
    assert_refused(infer(capsys, checkpoint, work / "x.npz", "-o", work / "out.npz", "--smooth-root", "1000000000"),
                   "root smoothing window must be 1 to 1001 frames")
    assert not (work / "out.npz").exists()


# --- 9. SIGTERM and the temporaries of killed runs ----------------------------------------------------------
def test_sigterm_during_a_write_leaves_no_temporary(work, checkpoint):
    """SIGTERM arrives while the output is being written: exit 143, one line, no temporary beside it."""
    script = (
        "import os, signal, numpy as np\n"
        "from uao_deploy.cli import main\n"
        "def killed_mid_write(handle, **arrays):\n"
        "    handle.write(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "np.savez = killed_mid_write\n"
        f"main(['infer', {str(work / 'x.npz')!r}, '-o', {str(work / 'out.npz')!r}, '--backend', 'torch',\n"
        f"      '--checkpoint', {str(checkpoint)!r}, '--tto-iters', '1', '--no-progress'])\n"
    )
    before = snapshot(work)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert run.stderr.strip() == "Terminated."
    assert snapshot(work) == before


def test_stale_temporaries_of_killed_runs_are_swept(work, capsys, checkpoint):
    dead_pid = 999_999_999  # above any pid_max
    stale = work / f".out.npz.uao-tmp-{dead_pid}.abcdefgh.tmp"
    stale.write_bytes(b"left by a killed run")
    live = work / f".out.npz.uao-tmp-{os.getppid()}.abcdefgh.tmp"  # a running process's: kept
    live.write_bytes(b"still being written")
    unrelated = work / f".notes.txt.{dead_pid}.abcdefgh.tmp"  # not of our naming
    unrelated.write_text("not ours")
    code, _, stderr = infer(capsys, checkpoint, work / "x.npz", "-o", work / "out.npz")
    assert code == 0, stderr
    assert not stale.exists() and live.exists() and unrelated.exists()


# --- 10. smaller departures from "one line, exit 1" --------------------------------------------------------
def test_nan_weights_are_named_as_such(work, capsys, tmp_path):
    model = GUMLP(GUMLPConfig(channels=32, layers=1)).eval()
    with torch.no_grad():
        model.encoder.fc5.weight[0, 0] = float("nan")
    path = save_checkpoint(model, tmp_path / "nan.pth")
    assert_refused(infer(capsys, path, work / "x.npz", "-o", work / "out.npz"),
                   "holds NaN or infinite weights (in encoder.fc5.weight)")


def test_a_good_run_succeeds_with_finite_output(work, capsys, checkpoint):
    code, stdout, stderr = infer(capsys, checkpoint, work / "x.npz", "-o", work / "out" / "x_3d.npz")
    assert code == 0, stderr
    assert_finite_output(work / "out" / "x_3d.npz")


@pytest.mark.parametrize("args, needle", [
    (("export", "--out", "{tmp}/plain.txt/export"), "is a file, not a folder"),
    (("train", "--data", "{tmp}/clips.npz", "--val", "{tmp}/clips.npz", "--out", "{tmp}/plain.txt/run"),
     "is a file, not a folder"),
    (("verify", "--json", "/proc/uao_report.json"), "cannot write in /proc"),
    (("demo", "--out", "/proc/uao_demo"), "cannot write in /proc"),
    (("eval", "--data", "{tmp}/clips.npz", "--json", "{tmp}/clips.npz"), "refusing to overwrite an input"),
    (("eval", "--json", "{tmp}/plain.txt/report.json"), "is a file, not a folder"),
])
def test_other_commands_check_their_outputs_before_any_work(tmp_path, capsys, args, needle):
    (tmp_path / "plain.txt").write_text("a file")
    (tmp_path / "report.json").mkdir()
    np.savez(tmp_path / "clips.npz", walk=np.zeros((5, 17, 3), np.float32))
    before = snapshot(tmp_path)
    assert_refused(uao(capsys, *[arg.format(tmp=tmp_path) for arg in args]), needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("damage", ["huge claim", "not a pickle of dicts"])
def test_broken_human36m_files_are_named(tmp_path, capsys, damage):
    path = tmp_path / "data_3d_h36m.npz"
    if damage == "huge claim":
        _npz_with_member(path, "positions_3d", _claiming((10 ** 9, 32, 3), 64))
    else:
        np.savez(path, positions_3d=np.zeros(3))
    assert_refused(uao(capsys, "eval", "--h36m-3d", path, "--h36m-2d", path), "data_3d_h36m.npz")


@pytest.mark.parametrize("args, needle", [
    (("eval", "--data", "{tmp}/clips.npz", "--noise", "nan"), "detector noise must be finite"),
    (("eval", "--data", "{tmp}/clips.npz", "--noise", "-3"), "detector noise"),
    (("verify", "--data", "{tmp}/clips.npz", "--noise", "inf"), "detector noise"),
    (("verify", "--tol-pose", "nan"), "tolerances must be finite and >= 0; got --tol-pose nan"),
    (("verify", "--tol-pose-mean", "-1"), "--tol-pose-mean -1"),
    (("eval", "--device", "banana"), "unknown device 'banana'"),
    (("eval", "--device", "cuda:7"), "device 'cuda:7'"),
    (("train", "--data", "{tmp}/clips.npz", "--val", "{tmp}/clips.npz", "--out", "{tmp}/run", "--device", "mps"),
     "device 'mps' is not supported"),
    (("train", "--data", "{tmp}/clips.npz", "--val", "{tmp}/clips.npz", "--out", "{tmp}/run", "--noise", "5", "3"),
     "sigma min <= sigma max"),
    (("train", "--data", "{tmp}/clips.npz", "--val", "{tmp}/clips.npz", "--out", "{tmp}/run", "--lr", "nan"),
     "learning rate"),
    (("train", "--data", "{tmp}/clips.npz", "--val", "{tmp}/clips.npz", "--out", "{tmp}/run", "--lr-decay", "0"),
     "decay in (0, 1]"),
])
def test_absurd_option_values_are_refused_before_any_work(tmp_path, capsys, args, needle):
    np.savez(tmp_path / "clips.npz", walk=np.zeros((5, 17, 3), np.float32) + np.float32([0, 0, 1]))
    before = snapshot(tmp_path)
    assert_refused(uao(capsys, *[arg.format(tmp=tmp_path) for arg in args]), needle)
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()


@pytest.mark.parametrize("option", ["--epochs", "--batch-size", "--stride", "--views", "--channels", "--max-batches"])
def test_train_counts_below_one_are_usage_errors(tmp_path, capsys, option):
    np.savez(tmp_path / "clips.npz", walk=np.zeros((5, 17, 3), np.float32))
    code, _, stderr = uao(capsys, "train", "--data", tmp_path / "clips.npz", "--val", tmp_path / "clips.npz",
                          "--out", tmp_path / "run", option, "0")
    assert code == 2 and f"'{option}'" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, needle, code", [
    (("--seconds", "nan"), "--seconds must be a positive number", 1),
    (("--seconds", "-1"), "--seconds must be a positive number", 1),
    (("--out", "/proc/uao_bench"), "cannot write in /proc", 1),
    (("--json", "{tmp}/clips.npz", "--data", "{tmp}/clips.npz"), "refusing to overwrite an input", 1),
    (("--tto-iters", "1000000000"), "'--tto-iters'", 2),
])
def test_bench_refuses_absurd_options_before_timing_anything(tmp_path, capsys, args, needle, code):
    np.savez(tmp_path / "clips.npz", walk=np.zeros((5, 17, 3), np.float32) + np.float32([0, 0, 1]))
    before = snapshot(tmp_path)
    exit_code, stdout, stderr = uao(capsys, "bench", "--backends", "torch", *[arg.format(tmp=tmp_path) for arg in args])
    assert exit_code == code and needle in stderr and "Traceback" not in stderr and stdout == ""
    if code == 1:
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert snapshot(tmp_path) == before


# --- 11. issue 27: every input read within a budget; a missing joint however spelled --------------------
@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail (rather than hang the suite) when a read blocks: a FIFO or /dev/zero read by mistake."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: an input that should be refused was read")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _listing(folder: Path) -> dict:
    """Every entry under ``folder`` with its kind, size and modification time (never opened: some
    are FIFOs, links to /dev/zero or sparse 2 GB files)."""
    return {str(path.relative_to(folder)): (path.lstat().st_mode, path.lstat().st_size, path.lstat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("name", list(hostile_files.CASES))
def test_hostile_detector_files(tmp_path, capsys, checkpoint, name):
    """Each case of tests/hostile_files.py through ``uao infer``: a finite result, or exit 1 with one
    line naming the problem; inputs untouched either way."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    case = hostile_files.CASES[name](inputs)
    out = tmp_path / "out" if case.batch else tmp_path / "out" / "result.npz"
    before = _listing(inputs)
    with _deadline(120):
        result = infer(capsys, checkpoint, *case.inputs, "-o", out, *case.options)
    if case.needle is None:
        assert result[0] == 0 and "RuntimeWarning" not in result[2], result[2]
        outputs = sorted(out.rglob("*.npz")) if case.batch else [out]
        assert outputs
        for output in outputs:
            assert_finite_output(output)
    else:
        assert_refused(result, case.needle)
        if not case.batch:  # a batch lifts its good files and lists the bad ones
            assert not out.exists()
    assert _listing(inputs) == before


def test_a_missing_joint_is_one_missing_joint(tmp_path):
    from uao_deploy.data.keypoints import read_keypoints

    spellings = {"null": [None, None, None], "inf": [float("inf"), 370.0, 0.9], "1e308": [1e308, 370.0, 0.9],
                 "NaN confidence": [430.0, 370.0, float("nan")], "0/0": [0.0, 0.0, 0.9]}
    clean, = read_keypoints(hostile_files.openpose_folder(tmp_path / "clean"))
    wrist = 4  # COCO-18 r_wrist -> Human3.6M r_wrist
    h36m_wrist = 16
    for name, values in spellings.items():
        def edit(frame, entry, values=values):
            if frame == 3:
                entry["pose_keypoints_2d"][3 * wrist:3 * wrist + 3] = values
        sequence, = read_keypoints(hostile_files.openpose_folder(tmp_path / name.replace("/", "_"), edit=edit))
        assert sequence.confidence[3, h36m_wrist] == 0 and np.isnan(sequence.pixels[3, h36m_wrist]).all(), name
        others = np.ones(17, bool)
        others[h36m_wrist] = False
        np.testing.assert_array_equal(sequence.pixels[:, others], clean.pixels[:, others])


def test_linking_a_crowd_of_3000_untracked_people(tmp_path):
    """3000 people per frame, each a little further each frame: one track each, all frames linked."""
    from uao_deploy.io.keypoints.common import Person, link_tracks

    base = hostile_files.person("coco")
    base[:, :2] = (base[:, :2] - base[:, :2].min(axis=0)) / 20  # 25 px tall people on a 60 px grid
    grid = np.stack(np.meshgrid(np.arange(60), np.arange(50)), -1).reshape(-1, 2) * 60.0
    people = [Person(frame, base + [*(corner + 2 * frame), 0], None, f"frame {frame} person {i}")
              for frame in range(3) for i, corner in enumerate(grid)]
    tracks = link_tracks(people)
    assert len(tracks) == 3000
    assert all([p.frame for p in track] == [0, 1, 2] and len({p.where.split()[-1] for p in track}) == 1
               for track in tracks.values())


def test_frame_numbers_are_bounded_by_the_records(tmp_path):
    from uao_deploy.io import budget

    records = 20
    limit = budget.FRAMES_PER_RECORD * records + budget.GAP_SLACK_FRAMES
    assert budget.frame_count([*range(records - 1), limit - 1], "x") == limit
    with pytest.raises(UaoError, match=f"jump from 18 to {limit:,}"):
        budget.frame_count([*range(records - 1), limit], "x")
    with pytest.raises(UaoError, match="about 10\\^400"):
        budget.frame_count([0, 10 ** 400], "x")


@pytest.mark.parametrize("value", ["0", "-3", "nan", "a lot"])
def test_the_input_budget_variable_is_checked(monkeypatch, value):
    from uao_deploy.io import budget

    monkeypatch.setenv("UAO_MAX_INPUT_MB", value)
    with pytest.raises(UaoError, match="UAO_MAX_INPUT_MB must be a"):
        budget.max_input_bytes()


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path, monkeypatch):
    """The budget is read from the zip directory: nothing is inflated before the refusal."""
    from uao_deploy.data.keypoints import read_keypoints

    monkeypatch.setenv("UAO_MAX_INPUT_MB", "1")
    hostile_files.zip_bomb(tmp_path / "bomb.npz", 2 << 20)
    inflated = []
    monkeypatch.setattr(zipfile.ZipExtFile, "read", lambda self, *a: inflated.append(self.name) or b"")
    with pytest.raises(UaoError, match=r"bomb.npz \(its arrays, inflated\) holds 2 MiB, more than the 1 MiB"):
        read_keypoints(tmp_path / "bomb.npz")
    assert inflated == []


def test_an_npz_of_too_many_members_is_refused_before_its_directory_is_parsed(tmp_path, monkeypatch):
    """The member count comes from the zip's end record (zip64's past 65,535): no directory is parsed."""
    from uao_deploy.data.keypoints import read_keypoints

    hostile_files.many_members(tmp_path / "many.npz", 70_000)
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: pytest.fail("the directory was parsed"))
    with pytest.raises(UaoError, match=r"many.npz holds 70,003 arrays \(zip members\), more than the 1,024"):
        read_keypoints(tmp_path / "many.npz")


@pytest.mark.parametrize("content, needle", [
    ('{"people": [' + "1" * 5000 + "]}", "is not JSON uao reads"),
    ("frame_number,landmark,x,y\n0,NOSE," + "1" * 200_000 + ",0.5\n", "is not a landmark CSV"),
])
def test_oversized_numbers_and_fields_are_one_error(tmp_path, content, needle):
    from uao_deploy.data.keypoints import read_keypoints

    path = tmp_path / ("x.csv" if content.startswith("frame") else "x.json")
    path.write_text(content)
    with pytest.raises(UaoError, match=needle):
        read_keypoints(path, width=640, height=480)


def test_frame_names_with_digits_int_cannot_read_are_ordered():
    """"²" is a digit to str.isdigit but no number to int(): names holding one sort as text."""
    from uao_deploy.io.keypoints.common import frame_numbers

    assert frame_numbers(["²", "1.jpg", "٣.jpg"]) == [2, 0, 1]  # "٣" (Arabic-Indic 3) is a decimal digit
