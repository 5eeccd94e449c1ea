"""benchmarks/gpu_kit.sh and gpu_device.sh, which carry onnxruntime-gpu to the GPU machine in pieces,
one device call each: rehearsed here with a small wheel and a stand-in for benchmarks/gpu_check.py."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (shutil.which("bash") and shutil.which("sha256sum") and shutil.which("split")),
                                reason="the scripts need bash and coreutils")

STAND_IN = '''
import argparse, json
from pathlib import Path
try:
    import smallort  # the wheel the pieces made, once gpu_device.sh has installed it
except ImportError:
    smallort = None
parser = argparse.ArgumentParser()
parser.add_argument("--out", type=Path)
parser.add_argument("--part", default="all")
parser.add_argument("--batches")
args = parser.parse_args()
(args.out / "onnx").mkdir(parents=True)
(args.out / "onnx" / "forward.onnx").write_text("graph")
(args.out / "small.pth").write_text("weights")
(args.out / "environment.json").write_text(json.dumps(
    {"smallort": smallort and smallort.VERSION, "part": args.part, "batches": args.batches}))
'''


def small_wheel(folder: Path) -> Path:
    wheel = folder / "smallort-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:  # stored, not compressed: the pieces keep its size
        archive.writestr("smallort/__init__.py", "VERSION = '1.0'\n" + "# padding\n" * 300)
        archive.writestr("smallort-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: smallort\nVersion: 1.0\n")
        archive.writestr("smallort-1.0.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("smallort-1.0.dist-info/RECORD", "")
    return wheel


def call(script: str, *args, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "benchmarks" / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_wheel_travels_in_pieces_and_runs_the_check(tmp_path):
    here, device = tmp_path / "here", tmp_path / "device"  # this machine's checkout, the device's copy
    for checkout in (here, device):
        (checkout / "benchmarks").mkdir(parents=True)
    (device / "benchmarks" / "gpu_check.py").write_text(STAND_IN)
    python_bin = tmp_path / "bin"  # python3 there is this interpreter, which has pip
    python_bin.mkdir()
    (python_bin / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{python_bin}{os.pathsep}{os.environ['PATH']}", "PIECE_SIZE": "1000",
           "GPU_WORK": str(tmp_path / "work"), "OUT": str(tmp_path / "out")}
    env.pop("PYTHONPATH", None)

    packed = call("gpu_kit.sh", str(small_wheel(tmp_path)), cwd=here, env=env)
    assert packed.returncode == 0, packed.stderr
    folders = sorted((here / ".device").iterdir())
    assert len(folders) >= 3 and "in %d pieces" % len(folders) in packed.stdout
    assert all(sorted(p.name for p in folder.iterdir())[0] == "SHA256SUMS" for folder in folders)

    def carry(folder):  # one call: its folder joins what the warm machine already holds
        shutil.copytree(folder, device / ".device" / folder.name)

    def results():
        with tarfile.open(tmp_path / "out" / "gpu_results.tar.gz") as archive:
            names = {Path(name).name for name in archive.getnames()}
            assert names.isdisjoint({"onnx", "forward.onnx", "small.pth"})  # exports stay behind
            return json.load(archive.extractfile("./environment.json"))

    carry(folders[0])  # the first call runs the PyTorch rows while the rest of the wheel travels
    first = call("gpu_device.sh", "torch", "--batches", "1", cwd=device, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert results() == {"smallort": None, "part": "torch", "batches": "1"}
    for folder in folders[1:-1]:
        carry(folder)
        assert call("gpu_device.sh", "stash", cwd=device, env=env).returncode == 0
    (tmp_path / "out" / "gpu_results.tar.gz").unlink()
    early = call("gpu_device.sh", "run", cwd=device, env=env)  # the last piece has not come yet
    assert early.returncode != 0 and "a piece is missing or damaged" in early.stderr
    assert not (tmp_path / "out" / "gpu_results.tar.gz").exists()

    carry(folders[-1])
    ran = call("gpu_device.sh", "run", "--part", "graphs", "--batches", "1,64", cwd=device, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_check.log", "gpu_results.tar.gz"]
    assert results() == {"smallort": "1.0", "part": "graphs", "batches": "1,64"}  # installed, options passed on
    assert call("gpu_device.sh", "unpack", cwd=device, env=env).returncode == 2


@pytest.mark.slow
def test_gpu_check_skips_every_gpu_row_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the run on a machine without a GPU")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path),
                           "--part", "torch", "--batches", "1,2", "--seconds", "0.01",
                           "--seed-checkpoint", str(tmp_path / "absent.pth")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    environment = json.loads((tmp_path / "environment.json").read_text())
    assert environment["gpu"] is None and environment["torch"] == torch.__version__
    rows = json.loads((tmp_path / "gpu_check_torch.json").read_text())
    assert list(rows) == ["torch-cuda"] and rows["torch-cuda"]["skipped"]
    reports = sorted(tmp_path.glob("*_gumlp*.json"))
    assert [path.name.rsplit("_", 1)[1] for path in reports] == ["gumlp256x3.json", "gumlp512x3.json"]
    for path in reports:
        report = json.loads(path.read_text())
        assert report["complete"] and report["rows"] == []  # no GPU row, and no CPU row in its place
        assert [entry["backend"] for entry in report["skipped"]] == ["seed-cuda", "torch-cuda", "torch-cuda-graphs",
                                                                     "torch-cuda-bf16", "torch-cuda-fp16"]
        assert all("no CUDA GPU" in entry["reason"] for entry in report["skipped"])
