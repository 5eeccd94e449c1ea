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
import smallort  # the wheel the pieces made, installed by gpu_device.sh
parser = argparse.ArgumentParser()
parser.add_argument("--out", type=Path)
parser.add_argument("--batches")
args = parser.parse_args()
(args.out / "onnx").mkdir(parents=True)
(args.out / "onnx" / "forward.onnx").write_text("graph")
(args.out / "small.pth").write_text("weights")
(args.out / "environment.json").write_text(json.dumps({"smallort": smallort.VERSION, "batches": args.batches}))
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

    for folder in folders[:-1]:
        carry(folder)
        assert call("gpu_device.sh", "stash", cwd=device, env=env).returncode == 0
    early = call("gpu_device.sh", "run", cwd=device, env=env)  # the last piece has not come yet
    assert early.returncode != 0 and "a piece is missing or damaged" in early.stderr
    assert not (tmp_path / "out" / "gpu_results.tar.gz").exists()

    carry(folders[-1])
    ran = call("gpu_device.sh", "run", "--batches", "1,64", cwd=device, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_check.log", "gpu_results.tar.gz"]
    with tarfile.open(tmp_path / "out" / "gpu_results.tar.gz") as results:
        names = {Path(name).name for name in results.getnames()}
        environment = json.load(results.extractfile("./environment.json"))
    assert environment == {"smallort": "1.0", "batches": "1,64"}  # installed, and the options passed on
    assert names.isdisjoint({"onnx", "forward.onnx", "small.pth"})  # exports stay behind
    assert call("gpu_device.sh", "unpack", cwd=device, env=env).returncode == 2
