"""Plug-and-play UAO: a lifter defined outside the package goes through export, every engine,
``uao infer --engine`` (frame and video mode) and ``uao verify``; modules that break the lifter
contract get one-line errors; the Martinez residual MLP's graphs equal PyTorch."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch

from uao_deploy import engines, skeleton
from uao_deploy.compare import max_abs, max_relative
from uao_deploy.inputs import sample_keypoints
from uao_deploy.errors import UaoError
from uao_deploy.model import MartinezConfig, MartinezMLP, ModelRef, resolve_model
from uao_deploy.tto import TTOConfig

from cli_runner import uao
from conftest import STANDING_POSE

# A user's lifter, as a file outside the package: a LayerNorm and GELU MLP over the whole pose.
USER_LIFTER = textwrap.dedent('''
    import torch
    from torch import nn


    class PoseMLP(nn.Module):
        def __init__(self, width=48):
            super().__init__()
            self.embed = nn.Linear(34, width)
            self.norm = nn.LayerNorm(width)
            self.mu = nn.Linear(width, 51)
            self.s = nn.Linear(width, 17)

        def forward(self, x):  # (B, 17, 2) -> (B, 17, 3), (B, 17, 1)
            h = nn.functional.gelu(self.norm(self.embed(x.flatten(1))))
            return self.mu(h).view(-1, 17, 3), self.s(h).view(-1, 17, 1) - 3


    def make():
        return PoseMLP()
''')
K = 2


@pytest.fixture(scope="module")
def user_lifter(tmp_path_factory):
    """(--model spec, its checkpoint): the user's file and seeded weights saved as a plain state dict."""
    folder = tmp_path_factory.mktemp("user_lifter")
    (folder / "pose_mlp.py").write_text(USER_LIFTER)
    spec = f"{folder / 'pose_mlp.py'}:make"
    torch.manual_seed(3)
    module = resolve_model(ModelRef(spec)).model.net
    with torch.no_grad():  # weights that lift to a standing person (camera frame: x right, y down, z ahead)
        world = torch.from_numpy(STANDING_POSE - STANDING_POSE[0])
        module.mu.bias.copy_(torch.stack([world[:, 0], -world[:, 2], world[:, 1]], dim=1).flatten())
        module.mu.weight.mul_(0.05)
    torch.save(module.state_dict(), folder / "pose_mlp.pth")
    return spec, folder / "pose_mlp.pth"


@pytest.fixture(scope="module")
def user_export(user_lifter, tmp_path_factory):
    """`uao export --model FILE.py:make --checkpoint W`: the folder (K = 2, verified in ONNX Runtime)."""
    from uao_deploy.cli import main

    spec, weights = user_lifter
    out = tmp_path_factory.mktemp("user_export") / "export"
    try:
        main(["export", "--model", spec, "--checkpoint", str(weights), "--out", str(out), "--tto-iters", str(K)])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    return out


def test_the_export_records_the_architecture_and_runs_without_torch_modules(user_lifter, user_export):
    spec, weights = user_lifter
    manifest = json.loads((user_export / "manifest.json").read_text())
    assert manifest["architecture"]["name"] == spec and manifest["architecture"]["source"] == "pose_mlp.py"
    assert len(manifest["architecture"]["source_sha256"]) == 64 and manifest["model_config"] == {}
    assert json.loads(manifest["metadata"]["uao.architecture"]) == manifest["architecture"]
    assert set(manifest["graphs"]) == {"forward", "tto_step", "tto_fused", "seq_step", "seq_fused"}
    # The folder alone is the engine: ONNX Runtime against the torch backend on the user's module.
    x, cam, root = sample_keypoints(6, seed=1)
    graphs = engines.load(user_export)
    reference = engines.load(ModelRef(spec, weights), backend="torch", tto=TTOConfig(iters=K))
    assert graphs.describe()["architecture"] == reference.describe()["architecture"] == manifest["architecture"]
    np.testing.assert_allclose(graphs.predict(x), reference.predict(x), atol=1e-5)
    np.testing.assert_allclose(graphs.tto(x, cam, root), reference.tto(x, cam, root), atol=1e-4)


def test_verify_and_infer_in_frame_and_video_mode(user_lifter, user_export, tmp_path, capsys):
    spec, weights = user_lifter
    code, stdout, stderr = uao(capsys, "verify", "--model", spec, "--checkpoint", weights, "--engine", user_export,
                               "--tto-iters", K, "--frames", 32)
    assert code == 0, stdout + stderr
    keypoints = tmp_path / "walk.npz"
    x, _, _ = sample_keypoints(40, seed=2)  # normalized; written as pixels of a 1000 x 1000 image
    np.savez(keypoints, keypoints=((x + 1) * 500).astype(np.float32), width=1000, height=1000, fps=50)
    for mode in ("frame", "sequence"):
        out = tmp_path / f"{mode}.npz"
        code, stdout, stderr = uao(capsys, "infer", keypoints, "--engine", user_export, "--mode", mode,
                                   "--tto-iters", K, "-o", out, "--no-progress")
        assert code == 0, stderr
        poses = np.load(out)["poses_3d"]
        assert poses.shape == (40, 17, 3) and np.isfinite(poses).all()
        np.testing.assert_array_equal(poses[:, 0], 0)  # root-relative


def test_tensorrt_rtx_builds_the_user_graphs(user_export, tmp_path):
    pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install uao-deploy[rtx])")
    from uao_deploy.export import build_engines

    manifest = build_engines(user_export, tmp_path / "engines", profile=(1, 2, 4), flavour="tensorrt_rtx")
    assert set(manifest["graphs"]) == {"forward", "tto_step", "tto_fused", "seq_step", "seq_fused"}
    assert manifest["architecture"]["source"] == "pose_mlp.py"


BAD_LIFTERS = {  # body of forward(self, x) for x (B, 17, 2) -> the one-line error it gets
    "return self.mu(x.flatten(1)).view(-1, 17, 3)": "must return (mu, s), two tensors",
    "return self.mu(x.flatten(1)).view(-1, 51), self.s(x.flatten(1))": "returns mu of shape (3, 51)",
    "return self.mu(x.flatten(1)).view(-1, 17, 3).double(), self.s(x.flatten(1)).view(-1, 17, 1)": "is torch.float64",
    "return self.mu(x.flatten(1)).view(-1, 17, 3) / 0, self.s(x.flatten(1)).view(-1, 17, 1)": "NaN or infinite",
    "return self.mu(x.flatten(1).detach()).view(-1, 17, 3), self.s(x.flatten(1)).view(-1, 17, 1)": "not differentiable",
    "y = x - x.mean(0)\n        return self.mu(y.flatten(1)).view(-1, 17, 3), self.s(y.flatten(1)).view(-1, 17, 1)":
        "depends on the other frames of its batch",
    "y = x if bool((x > -100).all()) else -x\n        return self.mu(y.flatten(1)).view(-1, 17, 3), self.s(y.flatten(1)).view(-1, 17, 1)":
        "does not trace into the",
    "raise ValueError('bad input')": "does not run on 2D keypoints (3, 17, 2) (ValueError: bad input)",
}


@pytest.mark.parametrize("body", BAD_LIFTERS)
def test_a_module_that_breaks_the_contract_gets_one_line(tmp_path, capsys, body):
    source = textwrap.dedent('''
        import torch
        from torch import nn


        class Bad(nn.Module):
            def __init__(self):
                super().__init__()
                self.mu, self.s = nn.Linear(34, 51), nn.Linear(34, 17)

            def forward(self, x):
                BODY


        def make():
            return Bad()
    ''').replace("BODY", body)
    (tmp_path / "bad.py").write_text(source)
    code, stdout, stderr = uao(capsys, "export", "--model", f"{tmp_path / 'bad.py'}:make", "--out", tmp_path / "out")
    errors = [line for line in stderr.splitlines() if line.startswith("Error")]  # beside export progress lines
    assert code == 1 and "Traceback" not in stderr and len(errors) == 1 and BAD_LIFTERS[body] in errors[0]
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("spec, message", [
    ("{dir}/absent.py:make", "is not a file"),
    ("{dir}/lifter.py:missing", "defines no function missing"),
    ("{dir}/lifter.py:not_a_module", "returned int, not a torch.nn.Module"),
    ("{dir}/broken.py:make", "importing"),
    ("no_such_package.lifters:make", "importing no_such_package.lifters failed"),
    ("resnet", "name a registered architecture (gumlp, martinez)"),
])
def test_a_model_spec_that_names_nothing_usable_gets_one_line(tmp_path, capsys, spec, message):
    (tmp_path / "lifter.py").write_text("def not_a_module():\n    return 3\n")
    (tmp_path / "broken.py").write_text("import torch\nraise RuntimeError('half-written file')\n")
    code, stdout, stderr = uao(capsys, "export", "--model", spec.format(dir=tmp_path), "--out", tmp_path / "out")
    assert code == 1 and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and message in stderr


def test_weights_of_another_architecture_are_refused_in_one_line(tmp_path):
    weights = tmp_path / "martinez.pth"
    torch.save(MartinezMLP(MartinezConfig(width=32, blocks=1)).state_dict(), weights)
    with pytest.raises(UaoError, match="not a GUMLP state dict.*--model"):
        resolve_model(weights)
    model = resolve_model(ModelRef("martinez", weights)).model
    assert isinstance(model, MartinezMLP) and model.config == MartinezConfig(width=32, blocks=1)


@pytest.fixture(scope="module")
def martinez_export(tmp_path_factory):
    """The package's Martinez checkpoint exported (K = 4, frame UAO only), verified in ONNX Runtime."""
    from uao_deploy.export import export_onnx

    out = tmp_path_factory.mktemp("martinez_export") / "export"
    manifest = export_onnx(ModelRef("martinez"), out, sequence=False)
    assert manifest["architecture"]["name"] == "martinez" and manifest["model_config"]["width"] == 512
    return out


def test_onnxruntime_equals_pytorch_on_the_martinez_lifter(martinez_export):
    from uao_deploy.tto import frame_graphs

    model = resolve_model(ModelRef("martinez")).model
    reference = frame_graphs.reference_functions(model.requires_grad_(False), TTOConfig())
    graphs = engines.load(martinez_export)
    x, cam, root = sample_keypoints(8, seed=4)
    rng = np.random.default_rng(0)
    z, z_flip = (x + rng.normal(0, 1e-3, x.shape).astype(np.float32),
                 skeleton.flip_pose(x) + rng.normal(0, 1e-3, x.shape).astype(np.float32))
    with torch.no_grad():
        mu0 = reference["forward"](torch.from_numpy(x))[0].numpy()
        mu0_flip = skeleton.flip_pose(reference["forward"](torch.from_numpy(skeleton.flip_pose(x)))[0].numpy())
    inputs = (z, z_flip, x, mu0, mu0_flip, cam, root)
    produced = graphs.value_and_grad(*inputs)
    expected = [t.detach().numpy() for t in reference["tto_step"](*(torch.from_numpy(a) for a in inputs))]
    assert max_abs(produced[0], expected[0]) < 1e-5  # the per-sample loss
    for name, got, want in zip(("grad_z", "grad_z_flip"), produced[1:], expected[1:]):
        # relative to each sample's largest gradient; float32 noise in the direction of ||m - mu0|| near
        # the start point reaches ~1e-5 (GUMLP's frame steps are held to rtol 1e-4 in test_export.py)
        assert max_relative(got, want) < 2e-5, name
    pose = graphs.tto(x, cam, root)
    want_pose = reference["tto_fused"](*(torch.from_numpy(a) for a in (x, cam, root)))[0].detach().numpy()
    np.testing.assert_allclose(pose, want_pose, rtol=0, atol=1e-4)


def test_the_docs_example_is_a_short_lifter_outside_the_package():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "joint_mixer.py"
    assert len(example.read_text().splitlines()) <= 30
    resolved = resolve_model(ModelRef(f"{example}:make"))
    assert resolved.architecture["source"] == "joint_mixer.py" and resolved.path is None
