"""The objective registry: adding an objective is one module plus one entry, and K lives in its config.

A toy objective defined here (a gradient-descent loop pulling the network's pose towards a target)
is registered, exported with the model's graphs, checked by the export against PyTorch, and run by
the ONNX Runtime and torch engines through the generic ``Engine.run``; nothing else in the package
names it.
"""
import functools
import types
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
import torch

from uao_deploy import engines
from uao_deploy.compare import TOLERANCES, compare_outputs
from uao_deploy.contract import (BATCH, GRAPHS, ITERATIONS, OBJECTIVES, SEQUENCE, GraphSpec, Objective, SequenceConfig,
                                 Settings, TTOConfig, objective_of, read_manifest, register)
from uao_deploy.errors import UaoError
from uao_deploy.export import export_onnx
from uao_deploy.export import onnx as export_module
from uao_deploy.export.onnx import export_configs
from uao_deploy.inputs import sample_keypoints


@dataclass(frozen=True)
class ToyConfig(Settings):
    iters: int = 3
    step: float = 0.05
    weight: float = 2.0


def toy_score(model, x, target, config: ToyConfig):
    """Per-frame weighted squared distance of the network's pose to ``target``, and its gradient in x."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = config.weight * ((model(x)[0] - target) ** 2).sum(dim=(1, 2))
        grad, = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


def toy_fused_loop(graphs: dict, config: ToyConfig):
    forward, score = graphs["forward"], graphs["toy_score"]

    def run(x, target):
        losses = []
        for _ in range(config.iters):
            loss, grad = score(x, target)
            x = x - config.step * grad
            losses.append(loss)
        return forward(x)[0], torch.stack(losses)
    return run


def toy_reference_functions(model, config: ToyConfig) -> dict:
    graphs = {"forward": model, "toy_score": functools.partial(toy_score, model, config=config)}
    return {**graphs, "toy_fused": toy_fused_loop(graphs, config)}


def toy_sample_inputs(graph, forward, batch, seed=0):
    x = torch.from_numpy(sample_keypoints(batch, seed)[0])
    with torch.no_grad():
        target = forward(x)[0] + 0.01 * torch.randn(batch, 17, 3, generator=torch.Generator().manual_seed(seed))
    return x, target


_J = 17
TOY = Objective(
    name="toy",
    config=ToyConfig,
    metadata_key="uao.toy",
    graphs=(
        GraphSpec("toy_score", (("x", (BATCH, _J, 2)), ("target", (BATCH, _J, 3))),
                  (("loss", (BATCH,), "gradient"), ("grad_x", (BATCH, _J, 2), "gradient"))),
        GraphSpec("toy_fused", (("x", (BATCH, _J, 2)), ("target", (BATCH, _J, 3))),
                  (("pose", (BATCH, _J, 3), "pose"), ("losses", (ITERATIONS, BATCH), "gradient"))),
    ),
    step="toy_score",
    fused="toy_fused",
    reference=types.SimpleNamespace(reference_functions=toy_reference_functions, fused_loop=toy_fused_loop,
                                    sample_inputs=toy_sample_inputs),
)


@pytest.fixture
def toy_registered():
    """The toy objective in the registry for one test, the registry as it was afterwards."""
    objectives, graphs = dict(OBJECTIVES), dict(GRAPHS)
    try:
        yield register(TOY)
    finally:
        OBJECTIVES.clear()
        OBJECTIVES.update(objectives)
        GRAPHS.clear()
        GRAPHS.update(graphs)


def test_every_output_has_a_kind_and_a_batch_axis():
    for spec in GRAPHS.values():
        assert len(spec.batch_axes()) == len(spec.outputs) and all(tensor.kind for tensor in spec.outputs)
    assert GRAPHS[SEQUENCE.fused].batch_axes() == (0, 0, 1)  # losses are (K, W)
    with pytest.raises(ValueError, match="no kind"):
        GraphSpec("bad", (("x", (BATCH, 2)),), (("y", (BATCH,)),))


def test_registering_twice_or_a_taken_graph_name_is_refused(toy_registered):
    with pytest.raises(ValueError, match="registered already"):
        register(TOY)
    assert objective_of("toy_score") is TOY and objective_of("forward").name == "frame"


def test_export_configs_take_every_registered_objective(toy_registered):
    configs = export_configs(TTOConfig(iters=2))
    assert list(configs) == ["frame", "sequence", "toy"]
    assert configs["sequence"] == SequenceConfig(iters=2) and configs["toy"] == ToyConfig(iters=2)  # the export's K
    assert list(export_configs(TTOConfig(), sequence=False, toy=ToyConfig(iters=5))) == ["frame", "toy"]
    with pytest.raises(UaoError, match="choose from frame, sequence, toy"):
        export_configs(TTOConfig(), unknown=True)


def test_each_fused_graph_is_written_with_its_own_objectives_k(tiny_export, tiny_checkpoint, tmp_path, monkeypatch):
    """The manifest gives seq_fused's losses the sequence K, not the per-frame one."""
    saved = {name: onnx.load(str(tiny_export / f"{name}.onnx")) for name in GRAPHS}
    monkeypatch.setattr(export_module, "build_graphs", lambda *args: saved)  # the manifest is what is tested
    manifest = export_onnx(tiny_checkpoint, tmp_path / "export", tto=TTOConfig(iters=2),
                           sequence=SequenceConfig(iters=3), verify=False)
    losses = {graph: manifest["graphs"][graph]["outputs"][-1] for graph in ("tto_fused", "seq_fused")}
    assert losses["tto_fused"]["shape"] == [2, "B"] and losses["seq_fused"]["shape"] == [3, "W"]
    assert read_manifest(tmp_path / "export") == manifest


@pytest.mark.slow
@pytest.mark.slow  # exports the tiny model's graphs and the toy's
def test_a_toy_objective_is_exported_verified_and_run_by_every_engine(toy_registered, tiny_checkpoint, tmp_path):
    manifest = export_onnx(tiny_checkpoint, tmp_path / "export", tto=TTOConfig(iters=2), sequence=False,
                           toy=ToyConfig(iters=3))
    assert set(manifest["graphs"]) == {"forward", "tto_step", "tto_fused", "toy_score", "toy_fused"}
    assert set(manifest["verification"]) == set(manifest["graphs"])  # checked against PyTorch at export
    assert manifest["graphs"]["toy_fused"]["outputs"][-1]["shape"] == [3, "B"]
    assert manifest["metadata"]["uao.toy"] == '{"iters": 3, "step": 0.05, "weight": 2.0}'

    x, cam, root = sample_keypoints(5, seed=7)
    target = np.random.default_rng(0).normal(0, 0.2, (5, 17, 3)).astype(np.float32)
    onnxruntime = engines.load(tmp_path / "export")
    torch_engine = engines.load(tiny_checkpoint, backend="torch")
    assert onnxruntime.configs["toy"] == torch_engine.configs["toy"] == ToyConfig()
    assert onnxruntime.sequence_config is None  # exported without it
    for graph in ("toy_score", "toy_fused"):
        spec = GRAPHS[graph]
        produced, expected = (dict(zip(spec.output_names, engine.run(graph, x, target)))
                              for engine in (onnxruntime, torch_engine))
        checks = compare_outputs(spec, produced, expected, TOLERANCES["fp32"])
        assert len(checks) == len(spec.outputs) and all(check["passed"] for check in checks), checks
    assert onnxruntime.run("toy_fused", x, target)[1].shape == (3, 5)
    # The registered objectives' own API is unchanged beside it.
    np.testing.assert_allclose(onnxruntime.tto(x, cam, root), torch_engine.tto(x, cam, root, iters=2), atol=1e-4)
    with pytest.raises(UaoError, match="takes 2 inputs"):
        onnxruntime.run("toy_score", x)
    with pytest.raises(UaoError, match="no seq_step graph"):
        onnxruntime.run("seq_step", x)
