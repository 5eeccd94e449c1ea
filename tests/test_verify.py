"""uao_deploy.jobs.verify: backends that agree pass, an injected difference fails with a non-zero exit."""
import json

import numpy as np
import pytest
import torch

from cli_runner import uao
from uao_deploy import engines
from uao_deploy import compare, inputs
from uao_deploy.contract import GRAPHS
from uao_deploy.jobs import verify
from uao_deploy.engines.torch import TorchEngine
from uao_deploy.errors import UaoError
from uao_deploy.fileio import file_sha256
from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint
from uao_deploy.tto import TTOConfig

SMALL = GUMLPConfig(channels=64, layers=1)


def small_checkpoint(path, seed):
    torch.manual_seed(seed)
    return save_checkpoint(GUMLP(SMALL), path)


@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoint, tmp_path_factory):
    """The suite's tiny checkpoint (exported once per session as ``tiny_export``) and another one."""
    return tiny_checkpoint, small_checkpoint(tmp_path_factory.mktemp("ckpt") / "other.pth", seed=1)


@pytest.fixture(scope="module")
def pairs():
    return inputs.load_pairs(frames=6)


class Perturbed(TorchEngine):
    """A backend stub whose forward graph is off by ``offset`` metres (the fused path is not)."""

    offset = 1e-3

    def _run(self, graph, *inputs):
        outputs = super()._run(graph, *inputs)
        return (outputs[0] + self.offset,) + outputs[1:] if graph == "forward" else outputs


def _failed(result):
    return {check["output"] for check in result["checks"] if not check["passed"]}


def test_agreeing_backends_pass(tiny_export, checkpoints, pairs):
    # ONNX Runtime on the export of the same checkpoint: float noise, well inside every tolerance
    reference = engines.load(checkpoints[0])
    report = verify.verify(reference, {"again": engines.load(tiny_export)}, pairs, iters=2)
    result = report["backends"]["again"]
    assert report["passed"] and result["passed"]
    outputs = [check["output"] for check in result["checks"]]
    assert outputs[:2] == ["forward mu", "forward s"]
    assert {"step grad_z @start", "step grad_z_flip @moved", "step loss @moved"} <= set(outputs)
    assert {"tto pose [fused]", "tto pose [step-loop]"} <= set(outputs)  # both paths of the engine
    assert result["tolerances"] == compare.TOLERANCES["fp32"].to_dict()
    assert set(result["mpjpe_mm"]) == {"plain", "tto"}
    for kind, value in result["mpjpe_mm"].items():
        assert value == pytest.approx(report["reference_mpjpe_mm"][kind], abs=0.01)
    assert 0 < max(check["max_diff"] for check in result["checks"])  # two backends, not one compared with itself
    assert "all backends agree" in verify.format_report(report)


def test_a_perturbed_backend_fails_on_the_outputs_it_changes(checkpoints, pairs):
    reference = engines.load(checkpoints[0])
    report = verify.verify(reference, {"perturbed": Perturbed(checkpoints[0])}, pairs, iters=2)
    result = report["backends"]["perturbed"]
    assert not report["passed"] and not result["passed"]
    assert _failed(result) == {"forward mu", "tto pose [step-loop]"}  # s, the step graph and the fused loop agree
    mu = next(check for check in result["checks"] if check["output"] == "forward mu")
    assert mu["max_diff"] == pytest.approx(1e-3, rel=1e-3)
    assert "outside tolerance: perturbed" in verify.format_report(report)
    # the same difference passes under a tolerance that allows it
    loose = verify.verify(reference, {"perturbed": Perturbed(checkpoints[0])}, pairs, iters=2,
                          overrides={"forward": 2e-3, "pose": 1.0})
    assert loose["passed"]


def test_a_mismatched_checkpoint_fails(checkpoints, pairs):
    report = verify.verify(engines.load(checkpoints[0]), {"other": engines.load(checkpoints[1])}, pairs, iters=1)
    result = report["backends"]["other"]
    assert not report["passed"]
    assert {"checkpoint", "forward mu", "forward s"} <= _failed(result)


def test_relative_error_uses_each_samples_own_scale():
    reference = np.array([[[1.0, -2.0]], [[1e-3, 0.0]]])
    value = reference + np.array([[[0.0, 2e-5]], [[1e-8, 0.0]]])
    # sample 0: 2e-5 / 2 = 1e-5; sample 1: 1e-8 / 1e-3 = 1e-5
    assert compare.max_relative(value, reference) == pytest.approx(1e-5)
    zeros = np.zeros((1, 3))
    assert compare.max_relative(zeros + 1e-9, zeros) == pytest.approx(1e-9 / compare.GRADIENT_SCALE_FLOOR)
    assert compare.max_relative(np.array([1.5, 3.0]), np.array([1.0, 3.0])) == pytest.approx(0.5)  # per-sample losses


def test_a_nan_output_never_passes():
    for name, kind_shape in (("mu", (1, 17, 3)), ("grad_z", (1, 17, 2))):
        spec = GRAPHS["forward" if name == "mu" else "tto_step"]
        checks = compare.compare_outputs(spec, {name: np.full(kind_shape, np.nan)}, {name: np.zeros(kind_shape)},
                                         compare.TOLERANCES["fp32"])
        assert len(checks) == 1 and not checks[0]["passed"]


def test_tolerance_class_follows_precision_and_real_device(checkpoints):
    engine = engines.load(checkpoints[0])
    assert verify.tolerance_class(engine) == "fp32"
    engine.precision = "fp16"
    assert verify.tolerance_class(engine) == "fp16"
    engine.precision = "bf16"
    assert verify.tolerance_class(engine) == "bf16"

    class OnCuda:
        precision = "fp32"

        def describe(self):
            return {"backend": "onnxruntime", "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
                    "precision": "fp32"}

    assert verify.tolerance_class(OnCuda()) == "fp32-gpu"
    assert verify.engine_label(OnCuda().describe()) == "onnxruntime CUDAExecutionProvider fp32"


def test_load_pairs_from_the_sample_and_from_mocap(tmp_path, pairs):
    assert pairs["x"].shape == (6, 17, 2) and pairs["cam"].shape == (6, 9) and pairs["root"].shape == (6, 3)
    assert pairs["target"].shape == (6, 17, 3) and np.all(pairs["target"][:, 0] == 0)
    strided = inputs.load_pairs(stride=10)
    np.testing.assert_array_equal(strided["x"][1], inputs.load_pairs()["x"][10])
    clip = np.cumsum(np.random.default_rng(0).normal(scale=0.01, size=(10, 17, 3)), axis=0) + [0, 0, 1]
    np.savez(tmp_path / "clips.npz", walk=clip.astype(np.float32))
    mocap = inputs.load_pairs(tmp_path / "clips.npz", noise=0.0, stride=2, frames=7)
    assert mocap["x"].shape == (7, 17, 2) and mocap["target"].shape == (7, 17, 3)
    assert "clips.npz" in mocap["source"]
    with pytest.raises(UaoError):
        inputs.load_pairs(frames=0)
    with pytest.raises(UaoError):
        inputs.load_pairs(tmp_path / "missing.npz")


def test_verify_needs_a_candidate(checkpoints, pairs):
    with pytest.raises(UaoError, match="no candidate"):
        verify.verify(engines.load(checkpoints[0]), {}, pairs)


# --- the export cache --------------------------------------------------------------------------
@pytest.fixture
def fake_export(monkeypatch, tmp_path):
    """export_onnx replaced by a stub that records its calls and writes only a manifest."""
    import uao_deploy.export

    calls = []

    def export_onnx(checkpoint, out_dir, tto, precision):
        calls.append((checkpoint, precision))
        if precision == "fp16":
            (out_dir / "forward.onnx").write_text("half written")
            raise UaoError("export failed")
        graphs = {}
        for name in ("forward", "tto_step", "tto_fused"):  # placeholder graphs, hashed as the exporter does
            (out_dir / f"{name}.onnx").write_text(f"{name} graph")
            graphs[name] = {"file": f"{name}.onnx", "sha256": file_sha256(out_dir / f"{name}.onnx")}
        (out_dir / "manifest.json").write_text(json.dumps({"tto": tto.to_dict(), "graphs": graphs}))

    monkeypatch.setattr(uao_deploy.export, "export_onnx", export_onnx)
    monkeypatch.setenv("UAO_CACHE_DIR", str(tmp_path / "cache"))
    return calls


def test_exported_graphs_are_cached_per_checkpoint_and_config(fake_export, checkpoints, tmp_path):
    first = verify.exported_graphs(checkpoints[0])
    assert first.parent == tmp_path / "cache" / "export" and (first / "manifest.json").is_file()
    assert verify.exported_graphs(checkpoints[0]) == first and len(fake_export) == 1  # reused, not re-exported
    assert verify.exported_graphs(checkpoints[1]) != first
    assert verify.exported_graphs(checkpoints[0], TTOConfig(iters=2)) != first
    assert len(fake_export) == 3


def test_a_changed_exporter_does_not_reuse_cached_graphs(fake_export, checkpoints, monkeypatch):
    import uao_deploy.export.cache as cache

    assert cache.exporter_fingerprint() == cache.exporter_fingerprint() and len(cache.exporter_fingerprint()) == 64
    first = verify.exported_graphs(checkpoints[0])
    monkeypatch.setattr(cache, "exporter_fingerprint", lambda: "another exporter")
    assert verify.exported_graphs(checkpoints[0]) != first and len(fake_export) == 2


def test_a_failed_export_leaves_nothing_in_the_cache(fake_export, checkpoints, tmp_path):
    with pytest.raises(UaoError, match="export failed"):
        verify.exported_graphs(checkpoints[0], precision="fp16")
    assert list((tmp_path / "cache" / "export").iterdir()) == []
    with pytest.raises(UaoError, match="not found"):
        verify.exported_graphs(tmp_path / "missing.pth")


# --- the real graphs: ONNX Runtime against PyTorch --------------------------------------------------
def test_onnxruntime_agrees_with_torch(tiny_export, checkpoints, pairs):
    reference = engines.load(checkpoints[0], tto=TTOConfig(iters=2))
    report = verify.verify(reference, {"ort": engines.load(tiny_export)}, pairs, iters=2)
    assert report["passed"], verify.format_report(report)
    outputs = {check["output"] for check in report["backends"]["ort"]["checks"]}
    assert {"tto pose [fused]", "tto pose [step-loop]"} <= outputs


def test_cli_verify_passes_then_fails_on_a_mismatched_checkpoint(tiny_export, checkpoints, capsys):
    code, stdout, stderr = uao(capsys, "verify", "--checkpoint", checkpoints[0], "--engine", tiny_export,
                               "--frames", "4", "--tto-iters", "2", "--json", "-")
    assert code == 0, stderr
    assert json.loads(stdout)["passed"] is True
    code, stdout, _ = uao(capsys, "verify", "--checkpoint", checkpoints[1], "--engine", tiny_export,
                          "--frames", "4", "--tto-iters", "2")
    assert code == verify.EXIT_MISMATCH != 0  # through the real entry point, which once dropped it
    assert "FAIL" in stdout and "checkpoint" in stdout


def test_bf16_steps_are_judged_by_their_poses(tmp_path):
    # the embedded model on its sample: the gradients are not compared, the mean pose change is
    sample = inputs.load_pairs(frames=48)
    reference = engines.load(None)
    report = verify.verify(reference, {"bf16": engines.load(None, precision="bf16")}, sample)
    result = report["backends"]["bf16"]
    assert report["passed"] and result["tolerances"] == compare.TOLERANCES["bf16"].to_dict()
    checks = {check["output"]: check for check in result["checks"]}
    assert not any(name.startswith("step") for name in checks)
    assert checks["forward mu"]["max_diff"] == 0  # its forward is float32
    for path in ("fused", "step-loop"):
        mean = checks[f"tto pose mean [{path}]"]
        assert 0 < mean["max_diff"] <= 5e-4 and mean["metric"] == "mean m"
    strict = verify.verify(reference, {"bf16": engines.load(None, precision="bf16")}, sample,
                           overrides={"pose_mean": 1e-6})
    assert _failed(strict["backends"]["bf16"]) == {"tto pose mean [fused]", "tto pose mean [step-loop]"}


def test_cli_verify_bf16(tmp_path, capsys):
    code, stdout, stderr = uao(capsys, "verify", "--precision", "bf16", "--frames", "8", "--tto-iters", "2")
    assert code == 0, stderr
    assert "torch cpu bf16: PASS" in stdout and "tto pose mean [fused]" in stdout
    code, _, stderr = uao(capsys, "verify", "--precision", "bf16", "--engine", tmp_path)
    assert code == 1 and stderr.strip() == "Error: --precision bf16 checks the torch backend's bf16 steps; " \
                                           "it takes no --engine"
