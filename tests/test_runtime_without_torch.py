"""The runtime needs neither PyTorch nor the exporter: ``uao --help`` and ``uao infer --engine DIR``
run in a process where importing torch (or onnx) fails, and lift the same poses as with torch present.

CI also installs ``uao-deploy[cpu]`` into a second environment without torch and points
UAO_RUNTIME_PYTHON at it; the last test then lifts with that interpreter.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from uao_deploy.data.sample import SAMPLE_PATH

pytestmark = pytest.mark.slow  # runs a second environment

# Run the CLI with torch, onnx and onnxscript unimportable (None in sys.modules makes `import` fail).
BLOCKED = ("torch", "onnx", "onnxscript")
WITHOUT_TORCH = ("import sys; sys.modules.update({name: None for name in %r}); "
                 "from uao_deploy.cli import main; main(sys.argv[1:])" % (BLOCKED,))


def run_without_torch(*args, python=sys.executable, blocked=True):
    code = WITHOUT_TORCH if blocked else "import sys; from uao_deploy.cli import main; main(sys.argv[1:])"
    return subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_help_imports_no_torch():
    code = "import sys; from uao_deploy.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "print(sorted(name for name in ('torch', 'onnx') if name in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_infer_on_an_export_folder_without_torch(tiny_export, tmp_path):
    out_free, out_torch = tmp_path / "free.npz", tmp_path / "torch.npz"
    args = ["infer", SAMPLE_PATH, "--engine", tiny_export, "--tto-iters", "2", "--no-progress"]
    free = run_without_torch(*args, "-o", out_free)
    assert free.returncode == 0, free.stderr
    with_torch = run_without_torch(*args, "-o", out_torch, blocked=False)
    assert with_torch.returncode == 0, with_torch.stderr
    a, b = np.load(out_free), np.load(out_torch)
    for key in ("poses_3d", "root", "uncertainty"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert json.loads(str(a["metadata"]))["tto_path"] == "fused"


def test_infer_finds_its_cached_export_without_torch(tiny_checkpoint, tiny_export, tmp_path, monkeypatch):
    """`uao infer --checkpoint` (no --engine) keys the export cache from files alone: with the export
    cached, PyTorch is never loaded, and the poses are those of the export folder itself."""
    import shutil

    import uao_deploy.export
    from uao_deploy.jobs.infer import default_export

    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(uao_deploy.export, "export_onnx", lambda checkpoint, out, tto, precision:
                        shutil.copytree(tiny_export, out, dirs_exist_ok=True))
    cached = default_export(tiny_checkpoint, 2)  # the entry `uao infer` looks up, filled with the tiny export
    args = ["infer", SAMPLE_PATH, "--tto-iters", "2", "--no-progress"]
    free = run_without_torch(*args, "--checkpoint", tiny_checkpoint, "-o", tmp_path / "free.npz")
    assert free.returncode == 0, free.stderr
    assert run_without_torch(*args, "--engine", tiny_export, "-o", tmp_path / "folder.npz").returncode == 0
    a, b = np.load(tmp_path / "free.npz"), np.load(tmp_path / "folder.npz")
    for key in ("poses_3d", "root", "uncertainty"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert json.loads(str(a["metadata"]))["engine"]["graphs"]["forward"].startswith(str(cached))


def test_a_command_that_needs_torch_names_the_extra(tmp_path):
    result = run_without_torch("export", "--out", tmp_path / "export")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith("Error: this needs ") and line.endswith("pip install 'uao-deploy[torch]'")
    assert not (tmp_path / "export").exists()


@pytest.mark.skipif(not os.environ.get("UAO_RUNTIME_PYTHON"),
                    reason="set UAO_RUNTIME_PYTHON to the python of an environment with only uao-deploy[cpu] (CI does)")
def test_separate_environment_without_torch_lifts_the_same(tiny_export, tmp_path):
    python = os.environ["UAO_RUNTIME_PYTHON"]
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    assert probe.returncode != 0, "UAO_RUNTIME_PYTHON must be an environment without torch"
    args = ["infer", SAMPLE_PATH, "--engine", tiny_export, "--tto-iters", "2", "--no-progress"]
    runtime = run_without_torch(*args, "-o", tmp_path / "runtime.npz", python=python, blocked=False)
    assert runtime.returncode == 0, runtime.stderr
    here = run_without_torch(*args, "-o", tmp_path / "here.npz", blocked=False)
    assert here.returncode == 0, here.stderr
    a, b = np.load(tmp_path / "runtime.npz"), np.load(tmp_path / "here.npz")
    for key in ("poses_3d", "root"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)
