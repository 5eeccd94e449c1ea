"""ONNX export: parity with the seed's golden numbers and with PyTorch, dynamic batch, metadata, errors."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from uao_deploy import skeleton
from uao_deploy.cli import main
from uao_deploy.errors import UaoError
from uao_deploy.export import GRAPHS, export_onnx, precision_error_mm, read_manifest
from uao_deploy.export import onnx as export_module
from uao_deploy.tto import frame_graphs
from uao_deploy.export import trace
from uao_deploy.inputs import sample_keypoints
from uao_deploy.export.verify import verify_graphs
from uao_deploy.runtimes import ort_session
from uao_deploy.model import GUMLP, GUMLPConfig, load_checkpoint
from uao_deploy.fileio import file_sha256
from uao_deploy.tto import TTOConfig
from conftest import TINY_SEQUENCE
from uao_deploy.contract import SequenceConfig
from uao_deploy.tto.optimize import frozen

pytestmark = pytest.mark.slow  # exports graphs

BATCHES = (1, 7, 64)  # none is the tracing batch: the graphs must not have fixed it
assert trace.TRACE_BATCH not in BATCHES


@pytest.fixture(scope="module")
def seed_checkpoint(shared_dir):
    return shared_dir / "reference" / "gumlp_seed_format.pth"


@pytest.fixture(scope="module")
def run_graph(seed_export):
    """run_graph(name, *arrays) -> outputs of the seed export's graph in ONNX Runtime (cached)."""
    sessions, results = {}, {}

    def run(name, *inputs):
        key = (name,) + tuple(array.tobytes() for array in inputs)
        if key not in results:
            if name not in sessions:
                sessions[name] = ort_session(seed_export / f"{name}.onnx")
            results[key] = sessions[name].run(None, dict(zip(GRAPHS[name].input_names, inputs)))
        return results[key]

    return run


@pytest.fixture(scope="module")
def golden_inputs(golden):
    """x (B, 17, 2), cam (B, 9), root (B, 3) of golden.npz, float32."""
    return golden["x"][:, 0], golden["cam"], golden["root"][:, 0, 0]


# --- parity with the seed's own numbers --------------------------------------------------------

def test_forward_matches_golden(run_graph, golden, golden_inputs):
    x = golden_inputs[0]
    mu, s = run_graph("forward", x)
    np.testing.assert_allclose(mu, golden["fwd_mu"][:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(s, golden["fwd_s"][:, 0], rtol=0, atol=1e-5)
    mu_flip, s_flip = run_graph("forward", skeleton.flip_pose(x))
    np.testing.assert_allclose(mu_flip, golden["fwd_mu_flipped_input"][:, 0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(s_flip, golden["fwd_s_flipped_input"][:, 0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("iteration", [0, 1])
def test_tto_step_matches_golden_gradients(run_graph, golden, golden_inputs, iteration):
    """Per-sample gradients / B are the seed's batch-mean gradients, at z = x and after one Adam step."""
    x, cam, root = golden_inputs
    mu0 = golden["fwd_mu"][:, 0]
    mu0_flip = skeleton.flip_pose(golden["fwd_mu_flipped_input"][:, 0])
    if iteration == 0:
        z, z_flip = x, skeleton.flip_pose(x)
    else:
        z, z_flip = golden["z_it1"][:, 0], golden["zf_it1"][:, 0]
    loss, grad_z, grad_z_flip = run_graph("tto_step", z, z_flip, x, mu0, mu0_flip, cam, root)
    batch = len(x)
    np.testing.assert_allclose(grad_z / batch, golden[f"grad_z_it{iteration}"][:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(grad_z_flip / batch, golden[f"grad_zf_it{iteration}"][:, 0], rtol=0, atol=1e-6)
    if iteration == 0:
        np.testing.assert_allclose(loss.mean(), golden["tto4_losses"][0], rtol=0, atol=1e-5)


def test_tto_fused_matches_golden(run_graph, golden, golden_inputs):
    pose, losses = run_graph("tto_fused", *golden_inputs)
    assert losses.shape == (4, len(pose))
    np.testing.assert_allclose(pose, golden["tto4_out"][:, 0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(losses.mean(axis=1), golden["tto4_losses"], rtol=0, atol=1e-5)


# --- parity with the PyTorch reference at batch sizes never traced -----------------------------

@pytest.fixture(scope="module")
def seed_reference(seed_checkpoint):
    model = load_checkpoint(seed_checkpoint)
    with frozen(model):
        yield frame_graphs.reference_functions(model, TTOConfig())


@pytest.mark.parametrize("batch", BATCHES)
def test_graphs_match_pytorch(run_graph, seed_reference, golden_inputs, batch):
    x, cam, root = (array[:batch] for array in golden_inputs)
    torch_x, torch_cam, torch_root = (torch.from_numpy(array) for array in (x, cam, root))

    mu, s = run_graph("forward", x)
    want_mu, want_s = seed_reference["forward"](torch_x)
    np.testing.assert_allclose(mu, want_mu.numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(s, want_s.numpy(), rtol=0, atol=1e-5)

    # a point one small step away from x, where every term of the objective has a gradient
    rng = np.random.default_rng(batch)
    z = x + rng.normal(0, 1e-3, x.shape).astype(np.float32)
    z_flip = skeleton.flip_pose(x) + rng.normal(0, 1e-3, x.shape).astype(np.float32)
    mu0, mu0_flip = want_mu.numpy(), skeleton.flip_pose(seed_reference["forward"](torch.from_numpy(skeleton.flip_pose(x)))[0].numpy())
    step_inputs = (z, z_flip, x, mu0, mu0_flip, cam, root)
    produced = run_graph("tto_step", *step_inputs)
    expected = seed_reference["tto_step"](*(torch.from_numpy(array) for array in step_inputs))
    np.testing.assert_allclose(produced[0], expected[0].numpy(), rtol=0, atol=1e-5)
    for got, want in zip(produced[1:], expected[1:]):  # float32 noise of a 512-wide network: ~2e-5 relative
        np.testing.assert_allclose(got / batch, want.numpy() / batch, rtol=1e-4, atol=1e-6)

    pose, losses = run_graph("tto_fused", x, cam, root)
    want_pose, want_losses = seed_reference["tto_fused"](torch_x, torch_cam, torch_root)
    np.testing.assert_allclose(pose, want_pose.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose(losses, want_losses.numpy(), rtol=0, atol=1e-5)


def test_frames_do_not_depend_on_their_batch_neighbours(run_graph, golden_inputs):
    x, cam, root = golden_inputs
    alone = run_graph("tto_fused", x[3:4], cam[3:4], root[3:4])[0]
    in_batch = run_graph("tto_fused", x[:7], cam[:7], root[:7])[0][3:4]
    np.testing.assert_allclose(alone, in_batch, rtol=0, atol=1e-5)


# --- the files: dynamic batch, metadata, manifest ------------------------------------------------

def test_graphs_are_valid_with_a_dynamic_batch_and_metadata(seed_export, seed_checkpoint):
    manifest = read_manifest(seed_export)
    for name, spec in GRAPHS.items():
        path = seed_export / f"{name}.onnx"
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
        assert max(opset.version for opset in model.opset_import if opset.domain in ("", "ai.onnx")) >= 17
        signature = [(value.name, [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim],
                      value.type.tensor_type.elem_type) for value in (*model.graph.input, *model.graph.output)]
        expected = [(entry["name"], entry["shape"], onnx.TensorProto.FLOAT)
                    for entry in (*manifest["graphs"][name]["inputs"], *manifest["graphs"][name]["outputs"])]
        assert signature == expected
        assert [entry["name"] for entry in manifest["graphs"][name]["inputs"]] == spec.input_names
        meta = {prop.key: prop.value for prop in model.metadata_props}
        assert meta["uao.graph"] == name
        assert meta["uao.checkpoint_sha256"] == file_sha256(seed_checkpoint)
        assert json.loads(meta["uao.tto"]) == TTOConfig().to_dict()
        assert json.loads(meta["uao.sequence"]) == SequenceConfig().to_dict()
        assert json.loads(meta["uao.joints"]) == list(skeleton.JOINT_NAMES)
        assert json.loads(meta["uao.model_config"]) == GUMLPConfig().to_dict()
        assert meta["uao.precision"] == "fp32" and meta["uao.version"] and "u / w * 2 - 1" in meta["uao.normalization"]
        assert {key: value for key, value in meta.items() if key != "uao.graph"} == manifest["metadata"]
        assert manifest["graphs"][name]["sha256"] == file_sha256(path)
    assert manifest["graphs"]["tto_fused"]["outputs"][1]["shape"] == [4, "B"]
    # The signature above is the graphs' own: named symbolic dimensions are dynamic.
    assert manifest["graphs"]["seq_fused"]["inputs"][0]["shape"] == ["W", "T", 17, 2]
    assert manifest["graphs"]["seq_fused"]["outputs"][2]["shape"] == [4, "W"]


def test_fused_graph_stores_the_weights_once(seed_export):
    sizes = {name: (seed_export / f"{name}.onnx").stat().st_size for name in GRAPHS}
    assert sizes["tto_fused"] < sizes["forward"] + sizes["tto_step"]
    assert sizes["seq_fused"] < sizes["forward"] + sizes["seq_step"]


# --- the tiny model: verification, options, errors, fp16 ----------------------------------------

def test_export_verifies_every_graph(tiny_export):
    manifest = read_manifest(tiny_export)
    assert set(manifest["verification"]) == set(GRAPHS)
    assert all(error < 1e-4 for graph in manifest["verification"].values() for error in graph.values())
    assert manifest["tto"]["iters"] == 2 and manifest["objectives"]["sequence"]["config"] == TINY_SEQUENCE.to_dict()
    # Sequence UAO: ONNX Runtime within 1e-5 of PyTorch on every gradient (relative to its scale).
    sequence_step = manifest["verification"]["seq_step"]
    assert all(sequence_step[name] < 1e-5 for name in ("grad_z", "grad_z_flip", "grad_root"))


def test_a_mismatch_is_an_error_and_writes_nothing(tiny_export, tmp_path, monkeypatch):
    """Graphs of one model checked against another fail, and the target folder is left alone."""
    with pytest.raises(UaoError, match="differs from PyTorch"):
        verify_graphs(tiny_export, GUMLP(GUMLPConfig(channels=64, layers=1)), {"frame": TTOConfig(iters=2)}, "fp32",
                      batches=(2,))
    saved = {name: onnx.load(str(tiny_export / f"{name}.onnx")) for name in GRAPHS}
    monkeypatch.setattr(export_module, "build_graphs", lambda *args: saved)  # skip the slow tracing
    out = tmp_path / "export"
    out.mkdir()
    (out / "README.md").write_text("kept")
    with pytest.raises(UaoError, match="nothing was written"):
        export_onnx(GUMLP(GUMLPConfig(channels=64, layers=1)), out, tto=TTOConfig(iters=2))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export"]  # no staging folder left
    assert sorted(path.name for path in out.iterdir()) == ["README.md"]


def test_export_keeps_other_files_and_replaces_graphs(tiny_export, tiny_checkpoint, tmp_path, monkeypatch):
    saved = {name: onnx.load(str(tiny_export / f"{name}.onnx")) for name in GRAPHS}
    monkeypatch.setattr(export_module, "build_graphs", lambda *args: saved)
    out = tmp_path / "export"
    out.mkdir()
    (out / "README.md").write_text("kept")
    (out / "forward.onnx.data").write_bytes(b"weights of an older export")
    manifest = export_onnx(tiny_checkpoint, out, tto=TTOConfig(iters=2), verify=False)
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["README.md", "manifest.json"] + [f"{name}.onnx" for name in GRAPHS])
    assert manifest == read_manifest(out)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None, "foreign"])
def test_bad_checkpoints_are_refused(tmp_path, content):
    path = tmp_path / "model.pth"
    if content == "foreign":
        torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(UaoError, match="model.pth|GUMLP"):
        export_onnx(path, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(UaoError, match="iterations"):
        export_onnx(GUMLP(GUMLPConfig(channels=8, layers=1)), tmp_path / "export", tto=TTOConfig(iters=0))
    with pytest.raises(UaoError, match="precision"):
        export_onnx(GUMLP(GUMLPConfig(channels=8, layers=1)), tmp_path / "export", precision="int8")
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("args, message", [
    (["--batch", "1:64:1024"], "trt only"),
    (["--format", "trt", "--batch", "1:64"], "MIN:OPT:MAX"),
    (["--format", "trt", "--batch", "8:4:16"], "MIN <= OPT <= MAX"),
])
def test_cli_refuses_bad_options(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--out", str(tmp_path / "out")] + args)
    assert exit_info.value.code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("iters", ["0", "65", "1000000000"])
def test_cli_bounds_the_iteration_count_before_any_work(iters, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--tto-iters", iters, "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2  # a usage error, from click's option parser
    assert "--tto-iters" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_unknown_precision(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--precision", "int8", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "int8" in capsys.readouterr().err


def test_cli_exports_without_flip(tiny_checkpoint, tiny_cli_export):
    """`uao export` end to end (--tto-iters 1 --no-flip); without flip the graphs keep the full signature."""
    out, printed = tiny_cli_export
    assert "tto_fused.onnx" in printed
    manifest = read_manifest(out)
    assert manifest["tto"]["flip"] is False and manifest["tto"]["iters"] == 1
    for name, spec in GRAPHS.items():
        model = onnx.load(str(out / f"{name}.onnx"))
        assert [value.name for value in model.graph.input] == spec.input_names
    x, cam, root = sample_keypoints(3)
    model = load_checkpoint(tiny_checkpoint)
    with frozen(model):
        want = frame_graphs.reference_functions(model, TTOConfig(iters=1, flip=False))["tto_fused"](
            *(torch.from_numpy(array) for array in (x, cam, root)))[0].numpy()
    got = ort_session(out / "tto_fused.onnx").run(["pose"], {"x": x, "cam": cam, "root": root})[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_fp16_export(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_fp16") / "export"
    export_onnx(tiny_checkpoint, out, tto=TTOConfig(iters=2), precision="fp16")
    return out


def _matmul_input_types(model: onnx.ModelProto) -> list[int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {value.name: value.type.tensor_type.elem_type
             for value in (*inferred.graph.value_info, *inferred.graph.input)}
    types.update({tensor.name: tensor.data_type for tensor in inferred.graph.initializer})
    return [types.get(node.input[0]) for node in inferred.graph.node if node.op_type in ("MatMul", "Gemm")]


def test_fp16_graphs_compute_products_in_half_with_float32_io(tiny_fp16_export, tiny_export):
    for name in GRAPHS:
        model = onnx.load(str(tiny_fp16_export / f"{name}.onnx"))
        assert all(value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
                   for value in (*model.graph.input, *model.graph.output))
        assert {prop.key: prop.value for prop in model.metadata_props}["uao.precision"] == "fp16"
        kinds = _matmul_input_types(model)
        assert kinds.count(onnx.TensorProto.FLOAT16) > kinds.count(onnx.TensorProto.FLOAT) > 0  # encoder stays fp32
    assert all(kind == onnx.TensorProto.FLOAT for kind in _matmul_input_types(onnx.load(str(tiny_export / "forward.onnx"))))


def test_fp16_error_in_mm_is_measured(tiny_fp16_export, tiny_export, tiny_checkpoint):
    x, cam, root = sample_keypoints(8)
    half = precision_error_mm(tiny_fp16_export, tiny_checkpoint, x, cam, root)
    full = precision_error_mm(tiny_export, tiny_checkpoint, x, cam, root)
    for graph in ("forward", "tto_fused"):
        assert full[graph]["max_mm"] < 0.01  # fp32 graphs: float noise
        assert 0 < half[graph]["mean_mm"] <= half[graph]["max_mm"] < 10
        assert half[graph]["mean_mm"] > full[graph]["mean_mm"]


def test_inlining_keeps_every_output_of_a_body_that_repeats_one():
    """A graph whose output list holds one value twice (a step whose two pseudo-targets are one
    tensor, as without the flip) and an input: each of the placeholder's outputs is still made."""
    from onnx import TensorProto, helper

    def value(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [2])

    body = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "body", [value("x")],
                                              [value("y"), value("y"), value("x")]))
    call = helper.make_node("body", ["a"], ["first", "second", "passed"], domain=trace.PLACEHOLDER_DOMAIN)
    outline = helper.make_model(helper.make_graph(
        [call, helper.make_node("Add", ["first", "second"], ["sum"])], "outline", [value("a")],
        [value("sum"), value("passed")]), opset_imports=[helper.make_opsetid("", 20)])
    merged = export_module.inline_graphs(outline, {"body": body})
    onnx.checker.check_model(merged)
    import onnxruntime

    session = onnxruntime.InferenceSession(merged.SerializeToString())
    a = np.float32([-1.0, 2.0])
    total, passed = session.run(None, {"a": a})
    np.testing.assert_array_equal(total, [0.0, 4.0])
    np.testing.assert_array_equal(passed, a)


@pytest.mark.parametrize("flag, flip_steps", [("--sequence-flip-steps", True), ("--no-sequence-flip-steps", False)])
def test_cli_passes_the_sequence_flip_choice_to_the_export(flag, flip_steps, tmp_path, monkeypatch):
    import uao_deploy.export as export_package

    seen = {}

    def export(format_name, checkpoint, out, **options):
        seen.update(options)
        return {"graphs": {}, "opset": trace.OPSET}

    monkeypatch.setattr(export_package, "export", export)  # the choice, not the slow tracing, is tested here
    main(["export", flag, "--tto-iters", "3", "--out", str(tmp_path / "out")])
    assert seen["sequence"] == SequenceConfig(iters=3, flip_steps=flip_steps)


@pytest.mark.slow
def test_sequence_steps_without_the_flip_export_and_match_pytorch(tiny_checkpoint, tmp_path):
    """The export check runs the graphs of the cheaper objective against PyTorch; the engine then runs
    it as the torch backend does."""
    from uao_deploy import engines

    config = SequenceConfig(iters=2, lr_root=0.01, flip_steps=False)
    manifest = export_onnx(tiny_checkpoint, tmp_path / "export", tto=TTOConfig(iters=2), sequence=config)
    assert manifest["objectives"]["sequence"]["config"] == config.to_dict()
    assert manifest["verification"]["seq_step"]["grad_z_flip"] == 0.0
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.2, (2, 7, 17, 2)).astype(np.float32)
    confidence = rng.uniform(0.3, 1.0, (2, 7, 17)).astype(np.float32)
    cam = np.tile(np.float32([2.3, 2.3, 0, 0, 0, 0, 0, 0, 0]), (2, 1))
    root = np.tile(np.float32([0, 0, 5]), (2, 7, 1))
    with engines.load(tmp_path / "export") as graphs, engines.load(tiny_checkpoint, backend="torch",
                                                                  sequence=config) as reference:
        assert graphs.sequence_config == config
        for ours, theirs in zip(graphs.sequence_tto(x, confidence, cam, root), reference.sequence_tto(x, confidence, cam, root)):
            np.testing.assert_allclose(ours, theirs, atol=2e-5)
