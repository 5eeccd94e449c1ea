"""``uao infer`` over many files in one process: input expansion, mirrored outputs, per-file
failures, ``--resume`` judged by the recorded input hash, engine and settings, interrupted writes."""
import json

import numpy as np
import pytest

from cli_runner import uao
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.errors import UaoError
from uao_deploy.fileio import file_sha256
from uao_deploy.jobs.batch import InputFile, JobSettings, expand_inputs, run_batch
from uao_deploy.jobs.infer import open_engine


def write_keypoints(path, start=0, frames=12):
    """A plain keypoint file: a slice of the embedded sample (pixels, confidence, image size)."""
    with np.load(SAMPLE_PATH) as sample:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, keypoints=sample["keypoints"][start:start + frames], width=sample["width"],
                 height=sample["height"])
    return path


@pytest.fixture
def corpus(tmp_path):
    """in/a.npz, in/walk/b.npz, in/walk/deep/c.npz and a corrupt in/broken.npz."""
    root = tmp_path / "in"
    for index, name in enumerate(["a.npz", "walk/b.npz", "walk/deep/c.npz"]):
        write_keypoints(root / name, start=10 * index)
    (root / "broken.npz").write_bytes(b"PK\x03\x04 cut short")
    return root


def infer(capsys, small_checkpoint, *args):
    return uao(capsys, "infer", *args, "--backend", "torch", "--engine", small_checkpoint, "--tto-iters", "2",
               "--no-progress")


def test_inputs_from_folders_globs_and_lists(corpus, tmp_path, monkeypatch):
    folder = expand_inputs([corpus])
    assert [(item.path.name, str(item.subfolder)) for item in folder] == [
        ("a.npz", "."), ("broken.npz", "."), ("b.npz", "walk"), ("c.npz", "walk/deep")]
    globbed = expand_inputs([f"{corpus}/walk/**/*.npz"])
    assert [(item.path.name, str(item.subfolder)) for item in globbed] == [("b.npz", "."), ("c.npz", "deep")]
    listing = corpus / "todo.txt"
    listing.write_text("# two of them\na.npz\n\nwalk/deep/c.npz\n")
    assert [item.path for item in expand_inputs([listing])] == [corpus / "a.npz", corpus / "walk/deep/c.npz"]
    missing = tmp_path / "missing.npz"
    assert expand_inputs([missing]) == [InputFile(missing)]  # reported as that file's failure, later


@pytest.mark.parametrize("make, message", [
    (lambda root: [root / "empty"], "holds no keypoint files"),
    (lambda root: [f"{root}/*.json"], "no file matches"),
    (lambda root: [root / "a.npz", root / "other" / "a.npz"], "would write the same outputs"),
])
def test_input_arguments_that_name_nothing_or_clash(tmp_path, make, message):
    (tmp_path / "empty").mkdir()
    write_keypoints(tmp_path / "a.npz")
    write_keypoints(tmp_path / "other" / "a.npz")
    with pytest.raises(UaoError, match=message):
        expand_inputs(make(tmp_path))


def test_folder_job_mirrors_names_and_reports_the_bad_file(corpus, tmp_path, capsys, small_checkpoint):
    out = tmp_path / "out"
    code, stdout, stderr = infer(capsys, small_checkpoint, corpus, "-o", out)
    assert code == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz")) == ["a.npz", "walk/b.npz",
                                                                                "walk/deep/c.npz"]
    assert "3 done, 0 skipped (already finished), 1 failed; 36 frames" in stdout
    assert f"failed: {corpus / 'broken.npz'}: {corpus / 'broken.npz'} is not a readable .npz" in stdout
    assert stderr.strip() == "Error: 1 of 4 input files failed (listed above)"
    with np.load(out / "walk/deep/c.npz") as result:
        job = json.loads(str(result["metadata"]))["job"]
        assert result["poses_3d"].shape == (12, 17, 3)
    assert job["input_sha256"] == file_sha256(corpus / "walk/deep/c.npz")
    assert job["settings"]["iters"] == 2 and job["engine"]["backend"] == "torch"


def test_resume_skips_only_what_is_finished_with_the_same_input_engine_and_settings(corpus, tmp_path, capsys,
                                                                                     small_checkpoint):
    (corpus / "broken.npz").unlink()
    out = tmp_path / "out"
    assert infer(capsys, small_checkpoint, corpus, "-o", out)[0] == 0
    first = {p: p.read_bytes() for p in out.rglob("*.npz")}

    code, stdout, _ = infer(capsys, small_checkpoint, corpus, "-o", out, "--resume")
    assert code == 0 and "0 done, 3 skipped" in stdout
    assert {p: p.read_bytes() for p in out.rglob("*.npz")} == first  # nothing rewritten

    write_keypoints(corpus / "a.npz", start=50)  # a changed input
    (out / "walk/b.npz").write_bytes((out / "walk/b.npz").read_bytes()[:200])  # a truncated output
    code, stdout, _ = infer(capsys, small_checkpoint, corpus, "-o", out, "--resume")
    assert code == 0 and "2 done, 1 skipped" in stdout
    assert f"{corpus / 'walk/deep/c.npz'}: skipped" in stdout

    code, stdout, _ = infer(capsys, small_checkpoint, corpus, "-o", out, "--resume", "--mode", "frame")
    assert code == 0 and "3 done, 0 skipped" in stdout  # another setting: every output is stale


def test_interrupted_job_leaves_whole_outputs_and_resume_finishes_it(corpus, tmp_path, small_checkpoint,
                                                                     monkeypatch):
    (corpus / "broken.npz").unlink()
    inputs = expand_inputs([corpus])
    out = tmp_path / "out"
    settings = JobSettings(iters=2)
    real_savez, calls = np.savez, []

    def savez_then_interrupt(handle, **arrays):
        calls.append(handle)
        if len(calls) == 2:  # the user presses Ctrl-C while the second output is half written
            handle.write(b"PK\x03\x04 half")
            raise KeyboardInterrupt
        real_savez(handle, **arrays)

    monkeypatch.setattr(np, "savez", savez_then_interrupt)
    with open_engine("torch", checkpoint=small_checkpoint, iters=2) as engine, pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, engine, settings, log=lambda line: None)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.npz", "walk"]

    monkeypatch.setattr(np, "savez", real_savez)
    with open_engine("torch", checkpoint=small_checkpoint, iters=2) as engine:
        summary = run_batch(inputs, out, engine, settings, resume=True, log=lambda line: None)
    assert [outcome.status for outcome in summary.outcomes] == ["skipped", "done", "done"]


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2"], "--workers and --gpus-per-worker size a Ray job; add --ray"),
    (["--render", "anim.gif"], "--render/--video draw one file's animation"),
    (["--video", "clip.mp4"], "--render/--video draw one file's animation"),
])
def test_options_that_do_not_fit_a_folder_job(corpus, tmp_path, capsys, small_checkpoint, extra, message):
    code, _, stderr = infer(capsys, small_checkpoint, corpus, "-o", tmp_path / "out", *extra)
    assert code == 2 and message in stderr
    assert not (tmp_path / "out").exists()



def test_a_sequence_folder_in_a_corpus_is_one_input(corpus, formats, tmp_path, capsys, small_checkpoint):
    import shutil

    frames = formats / "openpose_body25_slp"
    (corpus / "broken.npz").unlink()
    shutil.copytree(frames, corpus / "walk" / "signer")
    assert [str(item.subfolder) for item in expand_inputs([corpus]) if item.path.is_dir()] == ["walk"]
    assert expand_inputs([corpus / "walk" / "signer"]) == [InputFile(corpus / "walk" / "signer")]

    out = tmp_path / "out"
    code, stdout, stderr = infer(capsys, small_checkpoint, corpus, "-o", out, "--width", 1280, "--height", 720)
    assert code == 0, stderr
    assert "4 done, 0 skipped (already finished), 0 failed" in stdout
    signer, = (out / "walk").glob("signer*.npz")
    with np.load(signer) as result:
        assert result["poses_3d"].shape == (9, 17, 3)
    code, stdout, _ = infer(capsys, small_checkpoint, corpus, "-o", out, "--width", 1280, "--height", 720, "--resume")
    assert code == 0 and "0 done, 4 skipped" in stdout


def test_outputs_never_overwrite_their_inputs(corpus, capsys, small_checkpoint):
    (corpus / "broken.npz").unlink()
    before = {p: p.read_bytes() for p in corpus.rglob("*.npz")}
    code, stdout, stderr = infer(capsys, small_checkpoint, corpus, "-o", corpus)  # refused before any work
    assert code == 1 and stdout == "" and "is the input" in stderr and "read them as inputs" in stderr
    assert {p: p.read_bytes() for p in corpus.rglob("*.npz")} == before
