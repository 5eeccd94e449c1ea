"""uao_deploy.engines: one interface, the same numbers on every backend, clear errors."""
import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch

from uao_deploy import engines
from uao_deploy.camera import default_intrinsics
from uao_deploy.contract import graph_metadata
from uao_deploy.errors import UaoError
from uao_deploy.model import GUMLP, GUMLPConfig
from uao_deploy.fileio import file_sha256
from uao_deploy.tto import TTOConfig

SMALL = GUMLPConfig(channels=64, layers=1)


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    """GUMLP(SMALL) of seed 0: the suite's tiny model, whose export (K = 2) the ONNX Runtime tests share."""
    return tiny_checkpoint


@pytest.fixture(scope="module")
def torch_engine(checkpoint):
    return engines.load(checkpoint)


@pytest.fixture(scope="module")
def frames():
    """(x, cam, root) for 6 frames: keypoints around the image centre, a person 5 m away."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(6, 17, 2)) * 0.2).astype(np.float32)
    cam = np.tile(default_intrinsics(1000, 1000), (6, 1))
    root = np.tile(np.float32([0.1, -0.2, 5.0]), (6, 1))
    return x, cam, root


# --- torch backend and the shared host loop ------------------------------------------------
def test_load_picks_torch_for_a_checkpoint(torch_engine, checkpoint):
    info = torch_engine.describe()
    assert info["backend"] == "torch" and info["checkpoint"] == str(checkpoint)
    assert info["tto"] == TTOConfig().to_dict() and torch_engine.tto_config == TTOConfig()


def test_host_step_loop_matches_device_loop(torch_engine, frames):
    fused, fused_losses = torch_engine.tto(*frames, return_losses=True)
    assert torch_engine.last_tto_path == "fused"
    looped, looped_losses = torch_engine.tto(*frames, return_losses=True, fused=False)
    assert torch_engine.last_tto_path == "step-loop"
    assert fused.shape == (6, 17, 3) and fused_losses.shape == (4, 6)
    np.testing.assert_allclose(looped, fused, atol=1e-5)
    np.testing.assert_allclose(looped_losses, fused_losses, atol=1e-6)
    assert np.all(fused[:, 0] == 0)
    assert np.abs(fused - torch_engine.predict(frames[0])).max() > 1e-6  # TTO moved the pose


def test_seed_shapes_and_batch_chunks_give_the_same_numbers(torch_engine, frames, monkeypatch):
    x, cam, root = frames
    whole = torch_engine.tto(x, cam, root, iters=2, fused=False)
    monkeypatch.setattr(torch_engine, "max_batch", lambda graph: 4)  # 6 frames -> chunks 4 + 2 (forward: 12 -> 4 + 4 + 4)
    chunked = torch_engine.tto(x[:, None], cam, root[:, None, None], iters=2, fused=False)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    mu, s = torch_engine.forward(x[:, None], return_uncertainty=True)
    assert mu.shape == (6, 17, 3) and s.shape == (6, 17, 1)


def test_value_and_grad_is_per_sample(torch_engine, frames):
    x, cam, root = frames
    mu = torch_engine.forward(x)
    z = x + 0.01
    loss, grad_z, grad_z_flip = torch_engine.value_and_grad(z, z, x, mu, mu, cam, root)
    alone = torch_engine.value_and_grad(z[:1], z[:1], x[:1], mu[:1], mu[:1], cam[:1], root[:1])
    assert loss.shape == (6,) and grad_z.shape == grad_z_flip.shape == (6, 17, 2)
    np.testing.assert_allclose(alone[0], loss[:1], rtol=1e-6)
    np.testing.assert_allclose(alone[1], grad_z[:1], atol=1e-7)


def test_torch_backend_meets_the_golden_numbers(shared_dir, golden):
    engine = engines.load(shared_dir / "reference" / "gumlp_seed_format.pth")
    inputs = golden["x"][:4], golden["cam"][:4], golden["root"][:4]
    np.testing.assert_allclose(engine.forward(inputs[0]), golden["fwd_mu"][:4, 0], atol=1e-5)
    np.testing.assert_allclose(engine.tto(*inputs), golden["tto4_out"][:4, 0], atol=1e-4)


@pytest.mark.parametrize("change, message", [
    (lambda x, cam, root: (x[:, :16], cam, root), "16 joints"),
    (lambda x, cam, root: (x[..., :1], cam, root), "shape"),
    (lambda x, cam, root: (np.where(np.arange(17)[:, None] == 3, np.nan, x), cam, root), "NaN"),
    (lambda x, cam, root: (x, cam[:3], root), "cam holds 3 rows"),
    (lambda x, cam, root: (x, cam, root[:, :2]), "root must have shape"),
    (lambda x, cam, root: (x[:0], cam[:0], root[:0]), "no frames"),
    (lambda x, cam, root: (np.full(x.shape, "a"), cam, root), "not a numeric array"),
])
def test_bad_inputs_raise_uao_error(torch_engine, frames, change, message):
    with pytest.raises(UaoError, match=message):
        torch_engine.tto(*change(*frames))


def test_forward_and_value_and_grad_validate_too(torch_engine, frames):
    x, cam, root = frames
    with pytest.raises(UaoError, match="joints"):
        torch_engine.forward(x[:, :15])
    mu = torch_engine.forward(x)
    with pytest.raises(UaoError, match="mu0 holds 5 frames"):
        torch_engine.value_and_grad(x, x, x, mu[:5], mu, cam, root)


# --- load(): detection, overrides and their errors --------------------------------------
def test_load_errors_name_the_problem(tmp_path, checkpoint):
    with pytest.raises(UaoError, match="does not exist"):
        engines.load(tmp_path / "nothing")
    with pytest.raises(UaoError, match="neither a uao export"):
        engines.load(tmp_path)
    with pytest.raises(UaoError, match="unknown backend"):
        engines.load(checkpoint, backend="tflite")
    with pytest.raises(UaoError, match="no option providers"):
        engines.load(checkpoint, providers="cuda")
    with pytest.raises(UaoError, match="torch backend loads a checkpoint"):
        engines.load(tmp_path, backend="torch")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UaoError, match="not a readable PyTorch checkpoint"):
        engines.load(tmp_path / "garbage.pth")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised on machines without a GPU")
def test_tensorrt_backend_needs_a_gpu(tmp_path):
    for graph in ("forward", "tto_step", "tto_fused"):
        (tmp_path / f"{graph}.engine").write_bytes(b"engine")
    assert engines.detect_backend(tmp_path) == "tensorrt"
    with pytest.raises(UaoError, match="needs an NVIDIA GPU"):
        engines.load(tmp_path)
    with pytest.raises(UaoError, match="holds TensorRT engines .*, not ONNX graphs"):
        engines.load(tmp_path, backend="onnxruntime")


def test_torch_cuda_device_without_gpu_raises(checkpoint):
    if torch.cuda.is_available():
        pytest.skip("checks the error raised on machines without a GPU")
    with pytest.raises(UaoError, match="torch.cuda.is_available"):
        engines.load(checkpoint, device="cuda")


# --- onnxruntime backend: graphs exported by uao_deploy.export ------------------------------
def test_cuda_graph_modes_copy_the_network_outputs(checkpoint, frames):
    from uao_deploy.engines.torch import OutputsCopied

    # torch.compile is lazy: nothing compiles here. CUDA graphs free a call's outputs at the next
    # call, and TTO keeps the first prediction as its pseudo-targets: those modes copy them out.
    assert isinstance(engines.load(checkpoint, compile="reduce-overhead").model, OutputsCopied)
    assert not isinstance(engines.load(checkpoint, compile=True).model, OutputsCopied)
    torch.manual_seed(0)
    network = GUMLP(SMALL).eval()
    x = torch.from_numpy(frames[0]).requires_grad_(True)
    copied, direct = OutputsCopied(network)(x), network(x)
    for got, expected in zip(copied, direct, strict=True):
        assert torch.equal(got, expected) and got.data_ptr() != expected.data_ptr()
    gradient, = torch.autograd.grad(copied[0].sum(), x)
    assert torch.equal(gradient, torch.autograd.grad(direct[0].sum(), x)[0])


TINY_K = 2  # the tiny export's fused K (tests/conftest.py)


@pytest.fixture(scope="module")
def export_dir(tiny_export):
    """The tiny checkpoint's export (the session's one), K = TINY_K: tests copy it before changing it."""
    return tiny_export


@pytest.fixture(scope="module")
def ort_engine(export_dir):
    return engines.load(export_dir, threads=1)


@pytest.mark.slow
def test_onnxruntime_matches_torch(ort_engine, torch_engine, frames, checkpoint, export_dir):
    x, cam, root = frames
    for ort_out, torch_out in zip(ort_engine.forward(x, True), torch_engine.forward(x, True)):
        np.testing.assert_allclose(ort_out, torch_out, atol=1e-5)
    pose, losses = ort_engine.tto(*frames, return_losses=True)
    assert ort_engine.last_tto_path == "fused"
    reference, reference_losses = torch_engine.tto(*frames, iters=TINY_K, return_losses=True)
    np.testing.assert_allclose(pose, reference, atol=1e-4)
    np.testing.assert_allclose(losses, reference_losses, atol=1e-5)
    mu = torch_engine.forward(x)
    for ort_out, torch_out in zip(ort_engine.value_and_grad(x + 0.01, x, x, mu, mu, cam, root),
                                  torch_engine.value_and_grad(x + 0.01, x, x, mu, mu, cam, root)):
        np.testing.assert_allclose(ort_out, torch_out, atol=1e-5)
    info = ort_engine.describe()
    assert info["backend"] == "onnxruntime" and info["providers"] == ["CPUExecutionProvider"]
    assert info["graphs"]["tto_fused"] == str(export_dir / "tto_fused.onnx") and info["precision"] == "fp32"
    assert info["checkpoint_sha256"] == file_sha256(checkpoint) and ort_engine.tto_config == TTOConfig(iters=TINY_K)


@pytest.mark.slow
def test_onnxruntime_step_loop_matches_fused_graph(ort_engine, torch_engine, frames):
    fused = ort_engine.tto(*frames)
    looped = ort_engine.tto(*frames, fused=False)
    assert ort_engine.last_tto_path == "step-loop"
    np.testing.assert_allclose(looped, fused, atol=1e-4)
    three_steps = ort_engine.tto(*frames, iters=3)  # the fused graph has K = 2: loop the step graph
    assert ort_engine.last_tto_path == "step-loop"
    np.testing.assert_allclose(three_steps, torch_engine.tto(*frames, iters=3), atol=1e-4)
    with pytest.raises(UaoError, match="no fused TTO graph for 3 iterations"):
        ort_engine.tto(*frames, iters=3, fused=True)


def test_fused_graph_in_chunks_joins_losses_along_the_batch(ort_engine, frames, monkeypatch):
    whole, whole_losses = ort_engine.tto(*frames, return_losses=True)
    monkeypatch.setattr(ort_engine, "max_batch", lambda graph: 4)  # profile-limited engines split like this
    chunked, chunked_losses = ort_engine.tto(*frames, return_losses=True)
    assert ort_engine.last_tto_path == "fused" and chunked_losses.shape == (TINY_K, 6)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    np.testing.assert_allclose(chunked_losses, whole_losses, atol=1e-6)


def test_onnxruntime_frames_per_call_follow_the_model_width(ort_engine, export_dir):
    from uao_deploy.engines.onnxruntime import CHUNK_CHANNEL_FRAMES

    assert ort_engine.max_batch("tto_fused") == CHUNK_CHANNEL_FRAMES // SMALL.channels  # 64 channels: 64 frames
    assert engines.load(export_dir, threads=1, chunk=5).max_batch("tto_fused") == 5


def test_one_graph_file_loads_its_export(export_dir):
    assert engines.detect_backend(export_dir / "forward.onnx") == "onnxruntime"
    assert engines.load(export_dir / "tto_step.onnx").files == engines.load(export_dir).files
    with pytest.raises(UaoError, match="torch backend loads a checkpoint"):
        engines.load(export_dir, backend="torch")


def test_inactive_gpu_provider_is_an_error(export_dir, monkeypatch):
    with pytest.raises(UaoError, match="CUDAExecutionProvider was requested but is not active"):
        engines.load(export_dir, providers="cuda")
    # A provider this onnxruntime offers but cannot start: ORT falls back to the CPU with a warning.
    import onnxruntime

    offered = onnxruntime.get_available_providers() + ["CUDAExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: offered)
    with pytest.warns(UserWarning), pytest.raises(UaoError, match="forward.onnx runs on CPUExecutionProvider"):
        engines.load(export_dir, providers="cuda")
    with pytest.raises(UaoError, match="unknown onnxruntime providers"):
        engines.load(export_dir, providers="gpu")


# What onnxruntime-gpu 1.31 writes when CUDA is missing (seen on this CPU machine), colours included.
ORT_CUDA_LOG = (
    "\x1b[1;31m2026-12-02 06:39:19.342 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] "
    "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::ProviderLibrary::Get() "
    "[ONNXRuntimeError] : 1 : FAIL : Failed to load library /venv/onnxruntime/capi/libonnxruntime_providers_cuda.so "
    "with error: libcublasLt.so.13: cannot open shared object file: No such file or directory\n\x1b[m\n"
    "\x1b[0;93m2026-12-02 06:39:19.344 [W:onnxruntime:Default, onnxruntime_pybind_state.cc:1295 "
    "CreateExecutionProviderFactoryInstance] Failed to create CUDAExecutionProvider. Require cuDNN 9.* and CUDA 13.*.\x1b[m\n")


def test_gpu_provider_failure_is_read_from_onnxruntime_log():
    from uao_deploy.runtimes import provider_failure

    assert provider_failure(ORT_CUDA_LOG) == "libcublasLt.so.13: cannot open shared object file: No such file or directory"
    assert provider_failure(ORT_CUDA_LOG.split("\n", 2)[2]).startswith("Failed to create CUDAExecutionProvider.")
    tensorrt_missing = ("EP Error /onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void "
                        "onnxruntime::python::RegisterTensorRTPluginsAsCustomOps(PySessionOptions&, const "
                        "onnxruntime::ProviderOptions&) Please install TensorRT libraries as mentioned in the GPU "
                        "requirements page\n when using ['TensorrtExecutionProvider', 'CUDAExecutionProvider']\n")
    assert provider_failure(tensorrt_missing + ORT_CUDA_LOG).startswith("Please install TensorRT libraries")
    assert provider_failure("") == ""


def test_onnxruntime_output_is_held_back_and_restored(capfd):
    from uao_deploy.runtimes import output_held

    with output_held() as held:
        os.write(2, b"from C++\n")
        print("from Python")
    os.write(2, b"after\n")
    print("after")
    assert held() == "from Python\nfrom C++\n"
    assert capfd.readouterr() == ("after\n", "after\n")


def test_cuda_library_failures_are_kept_for_the_error(monkeypatch, capsys):
    import onnxruntime

    from uao_deploy import runtimes

    def preload_dlls():
        print("Failed to load /venv/nvidia/cu13/lib/libcudart.so.13: cannot open shared object file")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")

    monkeypatch.setattr(onnxruntime, "preload_dlls", preload_dlls, raising=False)
    runtimes.load_cuda_libraries.cache_clear()
    try:
        assert runtimes.load_cuda_libraries() == (
            "Failed to load /venv/nvidia/cu13/lib/libcudart.so.13: cannot open shared object file")
    finally:
        runtimes.load_cuda_libraries.cache_clear()
    assert capsys.readouterr().out == ""  # nothing on stdout, which may carry a --json - result


def with_metadata(path, **changes):
    """Rewrite graph metadata in place, as if the file came from another export."""
    model = onnx.load(path)
    for prop in model.metadata_props:
        prop.value = changes.get(prop.key.replace("uao.", ""), prop.value)
    onnx.save(model, path)


def rehash(folder):
    """Record the graphs' current sha256 in the manifest, as a hand-assembled folder would."""
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["graphs"].values():
        entry["sha256"] = file_sha256(folder / entry["file"])
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("changes, detail", [
    ({"checkpoint_sha256": "0" * 64}, "uao.checkpoint_sha256"),
    ({"tto": json.dumps(TTOConfig(iters=3).to_dict())}, "uao.tto"),
])
def test_graphs_of_different_exports_are_refused(export_dir, tmp_path, changes, detail):
    mixed = shutil.copytree(export_dir, tmp_path / "mixed")
    with_metadata(mixed / "tto_step.onnx", **changes)
    rehash(mixed)
    with pytest.raises(UaoError, match=f"mismatched engines: .*forward.onnx and .*tto_step.onnx .*{detail}"):
        engines.load(mixed)


def test_a_changed_graph_is_refused_when_its_session_opens(export_dir, frames, tmp_path):
    """Each graph's sha256 is checked as its session opens (a run opens two of the five graphs): the
    folder loads, and the changed graph is named at its first call, never run."""
    changed = shutil.copytree(export_dir, tmp_path / "changed")
    data = bytearray((changed / "tto_step.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the graph's weights: its metadata still reads
    (changed / "tto_step.onnx").write_bytes(bytes(data))
    engine = engines.load(changed)
    engine.tto(*frames)  # the fused graph is intact
    with pytest.raises(UaoError, match="tto_step.onnx was changed after export"):
        engine.tto(*frames, fused=False)
    (changed / "forward.onnx").write_bytes((changed / "tto_step.onnx").read_bytes())
    with pytest.raises(UaoError, match="forward.onnx was changed after export"):
        engines.load(changed)


def test_missing_or_foreign_files_are_named(export_dir, tmp_path):
    broken = shutil.copytree(export_dir, tmp_path / "broken")
    (broken / "tto_fused.onnx").unlink()
    with pytest.raises(UaoError, match="lacks tto_fused.onnx"):
        engines.load(broken)
    shutil.copy(broken / "tto_step.onnx", broken / "tto_fused.onnx")
    rehash(broken)
    with pytest.raises(UaoError, match="tto_fused.onnx is not a uao tto_fused graph"):
        engines.load(broken)
    (broken / "tto_fused.onnx").write_bytes(b"")
    rehash(broken)
    with pytest.raises(UaoError, match="tto_fused.onnx is not an ONNX graph"):
        engines.load(broken)
    (broken / "manifest.json").unlink()
    with pytest.raises(UaoError, match="no manifest.json"):
        engines.load(broken)


# --- tensorrt backend: the engine folder checks that run before any GPU work ----------------
def fake_engine_dir(folder):
    """An engine folder laid out as uao_deploy.export.tensorrt.build_engines writes it (dummy engine bytes)."""
    folder.mkdir()
    metadata = graph_metadata("0" * 64, {"channels": 64, "layers": 1}, {"frame": TTOConfig()}, "fp32")
    manifest = {"format": "uao-engines", "graphs": {}, "metadata": metadata}
    for graph in ("forward", "tto_step", "tto_fused"):
        path = folder / f"{graph}.engine"
        path.write_bytes(f"{graph} engine".encode())
        (folder / f"{graph}.engine.json").write_text(json.dumps({"graph": graph, "flavour": "tensorrt_rtx"}))
        manifest["graphs"][graph] = {"file": path.name, "sidecar": f"{path.name}.json", "sha256": file_sha256(path)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_engine_folder_checks(tmp_path):
    from uao_deploy.engines.tensorrt import read_engine_dir

    folder = fake_engine_dir(tmp_path / "engines")
    files, flavour, metadata = read_engine_dir(folder)
    assert flavour == "tensorrt_rtx" and files["tto_step"] == folder / "tto_step.engine"
    assert metadata["uao.precision"] == "fp32"
    (folder / "tto_step.engine").write_bytes(b"an engine of another build")
    with pytest.raises(UaoError, match="tto_step.engine was changed after export"):
        read_engine_dir(folder)
    folder = fake_engine_dir(tmp_path / "flavours")
    (folder / "forward.engine.json").write_text(json.dumps({"graph": "forward", "flavour": "tensorrt"}))
    with pytest.raises(UaoError, match="mismatched engines: built with different TensorRT flavours"):
        read_engine_dir(folder)
    (folder / "forward.engine.json").write_text(json.dumps({"graph": "tto_step", "flavour": "tensorrt_rtx"}))
    with pytest.raises(UaoError, match="describes a 'tto_step' engine, not forward"):
        read_engine_dir(folder)
    (folder / "forward.engine.json").unlink()
    with pytest.raises(UaoError, match="forward.engine has no sidecar"):
        read_engine_dir(folder)


# --- sessions opened in the background while the host works (open_ahead) ---------------------
def walking_sequence(frames=30):
    from conftest import moving_person
    from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
    from uao_deploy.data.video_noise import VideoNoiseModel, video_clips

    clip, = video_clips({"walk": moving_person(frames, 0)}, cameras_of(TEST_SUBJECTS)[:1], VideoNoiseModel(), seed=0)
    return clip.sequence


@pytest.mark.parametrize("strategy", ["sequence", "frame", "causal"])
def test_uao_graph_opens_in_the_background_with_the_same_results(export_dir, monkeypatch, strategy):
    import threading

    from uao_deploy.engines.onnxruntime import OnnxRuntimeEngine
    from uao_deploy.pipeline import LiftSettings, lift

    opened_by = {}
    session = OnnxRuntimeEngine._session

    def recording(self, graph, *args, **kwargs):
        opened_by[graph] = threading.current_thread().name
        return session(self, graph, *args, **kwargs)

    monkeypatch.setattr(OnnxRuntimeEngine, "_session", recording)
    sequence, settings = walking_sequence(), LiftSettings(TINY_K, strategy)
    with engines.load(export_dir, threads=1) as engine:
        graph = engine.uao_graph(TINY_K, sequence=strategy == "sequence")
        ahead = lift(sequence, engine, settings=settings)
    assert graph in ("seq_fused", "tto_fused") and opened_by[graph].startswith("uao-open")
    assert opened_by["forward"] == threading.main_thread().name
    monkeypatch.setattr(OnnxRuntimeEngine, "open_ahead", lambda self, *graphs: None)
    with engines.load(export_dir, threads=1) as engine:
        on_first_call = lift(sequence, engine, settings=settings)
    assert opened_by[graph] == threading.main_thread().name
    for name in ("poses_3d", "root", "uncertainty", "keypoints_2d"):
        np.testing.assert_array_equal(getattr(ahead, name), getattr(on_first_call, name))


def test_a_graph_that_fails_to_open_in_the_background_is_one_error_line(export_dir, tmp_path, capsys):
    """A seq_fused.onnx that carries the right metadata (so the engine loads) but is another graph: its
    session fails on the opening thread, and `uao infer` says so in one line when it needs it."""
    from cli_runner import assert_refused, uao
    from uao_deploy.data.sample import SAMPLE_PATH
    from uao_deploy.engines.onnxruntime import onnx_metadata

    broken = shutil.copytree(export_dir, tmp_path / "broken")
    model = onnx.load(broken / "forward.onnx")
    metadata = onnx_metadata(broken / "seq_fused.onnx")
    del model.metadata_props[:]
    model.metadata_props.extend(onnx.StringStringEntryProto(key=key, value=value) for key, value in metadata.items())
    onnx.save(model, broken / "seq_fused.onnx")
    rehash(broken)
    with engines.load(broken, threads=1) as engine:
        engine.open_ahead("seq_fused")
        with pytest.raises(UaoError, match="seq_fused.onnx is not a uao seq_fused graph: inputs"):
            engine.sequence_tto(*(np.zeros(shape, np.float32) for shape in ((1, 5, 17, 2), (1, 5, 17), (1, 9), (1, 5, 3))))
    stderr = assert_refused(uao(capsys, "infer", SAMPLE_PATH, "--engine", broken, "-o", tmp_path / "out.npz",
                                "--tto-iters", TINY_K, "--no-progress"), "seq_fused.onnx is not a uao seq_fused graph")
    assert not (tmp_path / "out.npz").exists(), stderr
