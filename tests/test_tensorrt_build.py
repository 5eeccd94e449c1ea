"""TensorRT engines from the exported graphs: parser acceptance, builds, sidecars, cache reuse, errors.

Building needs no GPU with TensorRT-RTX (ahead-of-time, for RTX-class GPUs). The last test runs only
on a machine with an NVIDIA GPU and compares built engines with ONNX Runtime.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import TINY_CLI_EXPORT
from uao_deploy.cli import main
from uao_deploy.errors import UaoError
from uao_deploy.export import GRAPHS, build_engines, parse_profile, read_manifest
from uao_deploy.export.tensorrt import TIMING_CACHE
from uao_deploy.runtimes import trt_logger
from uao_deploy.fileio import file_sha256

pytestmark = pytest.mark.slow  # exports and builds engines

PROFILE = (1, 2, 4)


@pytest.fixture(scope="module")
def rtx():
    return pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx is not installed (pip install uao-deploy[rtx])")


@pytest.fixture(scope="module")
def tiny_engines(rtx, tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_engines") / "engines"
    return out, build_engines(tiny_export, out, profile=PROFILE, flavour="tensorrt_rtx")


def test_rtx_parser_accepts_the_seed_graphs(rtx, seed_export):
    """Every graph of the 512-channel seed model parses as a strongly typed network."""
    for name in GRAPHS:
        builder = rtx.Builder(trt_logger(rtx))
        network = builder.create_network(1 << int(rtx.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        parser = rtx.OnnxParser(network, trt_logger(rtx))
        assert parser.parse_from_file(str(seed_export / f"{name}.onnx")), [str(parser.get_error(i)) for i in range(parser.num_errors)]
        assert [network.get_input(i).name for i in range(network.num_inputs)] == GRAPHS[name].input_names
        for index, tensor in enumerate(GRAPHS[name].inputs):  # batch, windows and frames stay dynamic
            shape = tuple(network.get_input(index).shape)
            assert all((size == -1) == isinstance(dim, str) for size, dim in zip(shape, tensor.shape)), (name, shape)


def test_engines_are_built_with_sidecars_and_manifest(rtx, tiny_engines, tiny_export):
    out, manifest = tiny_engines
    graphs = read_manifest(tiny_export)
    assert manifest == read_manifest(out)
    assert manifest["flavour"] == "tensorrt_rtx" and manifest["tensorrt_version"] == rtx.__version__
    assert (out / TIMING_CACHE).is_file()
    assert manifest["metadata"] == graphs["metadata"]
    for name in GRAPHS:
        engine = out / f"{name}.engine"
        sidecar = json.loads((out / f"{name}.engine.json").read_text())
        assert engine.stat().st_size > 0
        assert sidecar["graph"] == name and sidecar["flavour"] == "tensorrt_rtx"
        assert sidecar["tensorrt_version"] == rtx.__version__ and "compute_capabilities" in sidecar["target"]
        assert sidecar["graph_sha256"] == graphs["graphs"][name]["sha256"]
        assert sidecar["engine_sha256"] == file_sha256(engine) == manifest["graphs"][name]["sha256"]
        assert sidecar["precision"] == "fp32"
        assert sidecar["profile"] == {"min": 1, "opt": 2, "max": 4}
    # What the runtime checks before deserializing: hashes, sidecars, manifest against its metadata.
    from uao_deploy.engines.tensorrt import read_engine_dir

    files, flavour, metadata = read_engine_dir(out)
    assert flavour == "tensorrt_rtx" and set(files) == set(GRAPHS) and metadata == graphs["metadata"]


def test_matching_engines_are_reused_and_stale_ones_rebuilt(tiny_engines, tiny_export):
    out, _ = tiny_engines
    stamps = {name: (out / f"{name}.engine").stat().st_mtime_ns for name in GRAPHS}
    build_engines(tiny_export, out, profile=PROFILE, flavour="tensorrt_rtx")
    assert {name: (out / f"{name}.engine").stat().st_mtime_ns for name in GRAPHS} == stamps

    sidecar_path = out / "forward.engine.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar_path.write_text(json.dumps({**sidecar, "graph_sha256": "0" * 64}))  # as if built from another graph
    build_engines(tiny_export, out, profile=PROFILE, flavour="tensorrt_rtx")
    after = {name: (out / f"{name}.engine").stat().st_mtime_ns for name in GRAPHS}
    assert after["forward"] != stamps["forward"]
    assert {name: after[name] for name in ("tto_step", "tto_fused")} == {name: stamps[name] for name in ("tto_step", "tto_fused")}
    assert json.loads(sidecar_path.read_text())["graph_sha256"] == sidecar["graph_sha256"]


def test_bad_requests_are_refused(tiny_export, tmp_path):
    with pytest.raises(UaoError, match="fp32 graphs, not fp16"):
        build_engines(tiny_export, tmp_path / "engines", profile=PROFILE, precision="fp16", flavour="tensorrt_rtx")
    with pytest.raises(UaoError, match="MIN <= OPT <= MAX"):
        build_engines(tiny_export, tmp_path / "engines", profile=(4, 2, 8), flavour="tensorrt_rtx")
    with pytest.raises(UaoError, match="flavour"):
        build_engines(tiny_export, tmp_path / "engines", profile=PROFILE, flavour="tensorrt_lite")
    with pytest.raises(UaoError, match="manifest.json"):
        build_engines(tmp_path, tmp_path / "engines", profile=PROFILE, flavour="tensorrt_rtx")
    assert not (tmp_path / "engines").exists()


@pytest.mark.parametrize("text", ["1:64", "a:b:c", "1:64:1024:2", "0:1:2", "8:4:16", ""])
def test_bad_profiles_are_refused(text):
    with pytest.raises(UaoError, match="MIN"):
        parse_profile(text)


def test_profile_is_parsed():
    assert parse_profile("1:64:1024") == (1, 64, 1024)


def test_cli_builds_engines(rtx, tiny_checkpoint, tiny_cli_export, tmp_path, capsys, monkeypatch):
    """`uao export --format trt`: the ONNX export it makes first is tiny_cli_export's (the same command line
    but for the format, checked in test_export), copied in rather than made again; the build is real."""
    import shutil

    import uao_deploy.export.tensorrt
    from uao_deploy.contract import SequenceConfig, TTOConfig

    def exported(checkpoint, onnx_dir, tto, precision, verify, **objectives):
        assert (checkpoint, tto, precision, verify) == (str(tiny_checkpoint), TTOConfig(iters=1, flip=False), "fp32", True)
        assert objectives == {"sequence": SequenceConfig(iters=1)}
        shutil.copytree(tiny_cli_export[0], onnx_dir, dirs_exist_ok=True)

    monkeypatch.setattr(uao_deploy.export.tensorrt, "export_onnx", exported)
    out = tmp_path / "engines"
    main(["export", "--format", "trt", "--checkpoint", str(tiny_checkpoint), "--out", str(out), *TINY_CLI_EXPORT,
          "--batch", "1:2:4", "--flavour", "tensorrt_rtx"])
    printed = capsys.readouterr().out
    assert f"tensorrt_rtx {rtx.__version__}" in printed
    manifest = read_manifest(out)
    assert manifest["tto"]["iters"] == 1 and manifest["profile"] == {"min": 1, "opt": 2, "max": 4}
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [f"{name}.engine{suffix}" for name in GRAPHS for suffix in ("", ".json")] + ["manifest.json", TIMING_CACHE])


def test_engines_match_onnxruntime_on_a_gpu(tiny_export, tmp_path):
    """On a GPU machine with datacenter TensorRT: built engines against ONNX Runtime on the same graphs."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorrt", reason="datacenter TensorRT is not installed (pip install uao-deploy[trt])")
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU and a CUDA build of torch")
    from uao_deploy import engines
    from uao_deploy.inputs import sample_keypoints
    from uao_deploy.runtimes import ort_session

    out = tmp_path / "engines"
    manifest = build_engines(tiny_export, out, profile=(1, 8, 16), flavour="tensorrt")
    assert manifest["flavour"] == "tensorrt" and manifest["target"]["gpu"]
    x, cam, root = sample_keypoints(16)
    expected_mu = ort_session(tiny_export / "forward.onnx").run(["mu"], {"x": x})[0]
    expected_pose = ort_session(tiny_export / "tto_fused.onnx").run(["pose"], {"x": x, "cam": cam, "root": root})[0]
    with engines.load(out, backend="tensorrt") as engine:
        np.testing.assert_allclose(engine.forward(x), expected_mu, rtol=0, atol=1e-4)
        np.testing.assert_allclose(engine.tto(x, cam, root), expected_pose, rtol=0, atol=1e-3)
        assert engine.last_tto_path == "fused"
