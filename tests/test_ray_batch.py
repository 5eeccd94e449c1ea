"""``uao infer --ray``: the many-files job on a local Ray cluster that this module starts (2 CPUs)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from test_batch import write_keypoints
from uao_deploy.errors import UaoError
from uao_deploy.jobs.batch import JobSettings, infer_many
from uao_deploy.jobs.ray_batch import infer_on_ray, init_address

pytestmark = pytest.mark.slow  # starts a Ray cluster

ray = pytest.importorskip("ray", reason="Ray is the optional extra uao-deploy[ray]")

SETTINGS = JobSettings(iters=2)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def quiet(line):
    pass


def test_ray_job_equals_one_process_and_reports_a_corrupt_file(cluster, tiny_export, tmp_path):
    corpus = tmp_path / "in"
    for index, name in enumerate(["a.npz", "b.npz", "clips/c.npz"]):
        write_keypoints(corpus / name, start=15 * index, frames=20)
    (corpus / "broken.npz").write_bytes(b"PK\x03\x04 cut short")

    with pytest.raises(UaoError, match="1 of 4 input files failed"):
        infer_many([corpus], tmp_path / "local", SETTINGS, engine_dir=tiny_export, log=quiet)
    lines = []
    with pytest.raises(UaoError, match="1 of 4 input files failed"):
        infer_on_ray([corpus], tmp_path / "ray", SETTINGS, workers=2, engine_dir=tiny_export, log=lines.append)
    assert any(line.startswith(f"  failed: {corpus / 'broken.npz'}: ") and "not a readable .npz" in line
               for line in lines)

    written = sorted(p.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").rglob("*.npz"))
    assert written == ["a.npz", "b.npz", "clips/c.npz"]
    for name in written:
        with np.load(tmp_path / "local" / name) as local, np.load(tmp_path / "ray" / name) as remote:
            for key in ("poses_3d", "poses_3d_initial", "root", "uncertainty"):
                np.testing.assert_allclose(remote[key], local[key], rtol=0, atol=1e-6)
            assert json.loads(str(remote["metadata"]))["job"] == json.loads(str(local["metadata"]))["job"]


def test_ray_resume_does_no_work_twice(cluster, tiny_export, tmp_path):
    corpus = tmp_path / "in"
    for index in range(3):
        write_keypoints(corpus / f"clip{index}.npz", start=10 * index)
    out = tmp_path / "out"
    first = infer_on_ray([corpus], out, SETTINGS, workers=2, engine_dir=tiny_export, log=quiet)
    assert first.count("done") == 3
    written = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.npz")}

    write_keypoints(corpus / "clip3.npz", start=40)  # one new file since the first run
    again = infer_on_ray([corpus], out, SETTINGS, engine_dir=tiny_export, resume=True, log=quiet)
    assert sorted((o.source.rsplit("/", 1)[-1], o.status) for o in again.outcomes) == [
        ("clip0.npz", "skipped"), ("clip1.npz", "skipped"), ("clip2.npz", "skipped"), ("clip3.npz", "done")]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in written} == written


def test_two_inputs_writing_one_output_lose_no_result_on_ray(cluster, tiny_export, tmp_path):
    """v.npz holds two people (v_person0, v_person1 with --person all) beside v_person0.npz: whichever
    worker claims v_person0.npz first keeps it; the other input fails naming both."""
    corpus = tmp_path / "in"
    track = np.load(write_keypoints(corpus / "v_person0.npz", frames=20))["keypoints"]
    np.savez(corpus / "v.npz", reconstruction=np.stack([track, track + np.float32([5, 0, 0])]))
    lines = []
    with pytest.raises(UaoError, match="1 of 2 input files failed"):
        infer_on_ray([corpus], tmp_path / "out", JobSettings(iters=2, person="all", width=1000, height=1002),
                     workers=2, engine_dir=tiny_export, log=lines.append)
    failed = [line for line in lines if line.startswith("  failed: ")]
    assert len(failed) == 1 and "v_person0.npz is also the output of" in failed[0], lines
    with np.load(tmp_path / "out" / "v_person0.npz") as kept:
        kept_source = json.loads(str(kept["metadata"]))["source"].split("#")[0]
    assert kept_source != failed[0].split(": ")[1]  # the result there is the winner's, not lost


def test_interrupted_ray_job_leaves_no_half_written_output(cluster, tiny_export, tmp_path):
    corpus = tmp_path / "in"
    for index in range(8):
        write_keypoints(corpus / f"clip{index}.npz", start=5 * index, frames=60)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "uao_deploy", "infer", corpus, "-o", out, f"--ray={cluster}", "--workers", "2",
               "--engine", tiny_export, "--tto-iters", "2", "--no-progress"]
    job = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env={**os.environ, "RAY_ADDRESS": ""})
    while job.poll() is None and not list(out.glob("*.npz")):
        time.sleep(0.1)
    job.send_signal(signal.SIGINT)  # Ctrl-C once the first output is written
    job.communicate(timeout=120)

    for path in out.glob("*.npz"):  # every output present is whole and says what made it
        with np.load(path) as result:
            assert result["poses_3d"].shape == (60, 17, 3)
            assert json.loads(str(result["metadata"]))["job"]["settings"]["iters"] == 2
    resumed = infer_on_ray([corpus], out, SETTINGS, engine_dir=tiny_export, resume=True, log=quiet)
    assert resumed.count("done") + resumed.count("skipped") == 8
    assert resumed.count("skipped") == len(resumed.outcomes) - resumed.count("done") >= 1


@pytest.mark.parametrize("address, expected", [("default", None), ("auto", "auto"), ("10.0.0.5:6379", "10.0.0.5:6379"),
                                               ("ray://head:10001", "ray://head:10001")])
def test_ray_addresses(address, expected):
    assert init_address(address) == expected


def test_a_file_taken_for_the_address_is_a_clear_error():
    with pytest.raises(UaoError, match="put --ray after the input files"):
        init_address("videos/")
