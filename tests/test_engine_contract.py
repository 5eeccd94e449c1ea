"""The engine contract, run against every engine this machine has: one interface, the same numbers.

Each backend is loaded on the suite's tiny model (64 channels, one block; its export has K = 2) and
must meet the same behaviour: float32 numpy out, the seed's (B, 1, 17, C) shapes accepted, a root
joint at exactly 0, results per sample, fused TTO equal to the step loop, the torch reference's
numbers, and one UaoError naming bad input. The TensorRT backend joins where a GPU is present.
"""
import numpy as np
import pytest

from uao_deploy import engines
from uao_deploy.inputs import sample_keypoints
from conftest import TINY_SEQUENCE
from uao_deploy.contract import TTOConfig
from uao_deploy.errors import UaoError

K = 2  # the tiny export's fused iteration count


def _load(kind, tiny_checkpoint, tiny_export, tmp_path_factory):
    if kind == "torch":
        return engines.load(tiny_checkpoint, backend="torch", tto=TTOConfig(iters=K), sequence=TINY_SEQUENCE)
    if kind == "onnxruntime":
        return engines.load(tiny_export, threads=1)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("the tensorrt backend needs an NVIDIA GPU; none here")
    from uao_deploy.export import build_engines

    folder = tmp_path_factory.mktemp("contract_engines") / "engines"
    build_engines(tiny_export, folder, profile=(1, 8, 16))
    return engines.load(folder)


@pytest.fixture(scope="module", params=["torch", "onnxruntime", "tensorrt"])
def engine(request, tiny_checkpoint, tiny_export, tmp_path_factory):
    loaded = _load(request.param, tiny_checkpoint, tiny_export, tmp_path_factory)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return engines.load(tiny_checkpoint, backend="torch", tto=TTOConfig(iters=K), sequence=TINY_SEQUENCE)


@pytest.fixture(scope="module")
def windows():
    """(x, confidence, cam, root) for 2 windows of 7 frames, each frame its own pose and root."""
    x, cam, root = sample_keypoints(14, seed=4)
    confidence = np.random.default_rng(4).uniform(0.2, 1.0, (2, 7, 17)).astype(np.float32)
    return x.reshape(2, 7, 17, 2), confidence, cam[::7], root.reshape(2, 7, 3)


@pytest.fixture(scope="module")
def frames():
    """(x, cam, root) for 5 frames: a jittered standing person 4-6 m in front of a 1000 px camera."""
    return sample_keypoints(5, seed=3)


def test_outputs_are_float32_numpy_of_the_contract_shapes(engine, frames):
    x, cam, root = frames
    mu, s = engine.forward(x, return_uncertainty=True)
    pose, losses = engine.tto(x, cam, root, return_losses=True)
    loss, grad_z, grad_z_flip = engine.value_and_grad(x, x, x, mu, mu, cam, root)
    shapes = {"mu": (5, 17, 3), "s": (5, 17, 1), "pose": (5, 17, 3), "losses": (K, 5), "loss": (5,),
              "grad_z": (5, 17, 2), "grad_z_flip": (5, 17, 2)}
    for name, array in zip(shapes, (mu, s, pose, losses, loss, grad_z, grad_z_flip)):
        assert isinstance(array, np.ndarray) and array.dtype == np.float32, name
        assert array.shape == shapes[name], name
    assert np.all(pose[:, 0] == 0) and np.all(engine.predict(x)[:, 0] == 0)


def test_numbers_match_the_torch_reference(engine, reference, frames):
    x, cam, root = frames
    np.testing.assert_allclose(engine.forward(x), reference.forward(x), atol=1e-5)
    np.testing.assert_allclose(engine.predict(x), reference.predict(x), atol=1e-5)
    mu = reference.forward(x)
    for got, expected in zip(engine.value_and_grad(x + 0.01, x, x, mu, mu, cam, root),
                             reference.value_and_grad(x + 0.01, x, x, mu, mu, cam, root)):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(engine.tto(x, cam, root), reference.tto(x, cam, root), atol=1e-4)


def test_fused_equals_the_step_loop_and_says_which_ran(engine, frames):
    fused = engine.tto(*frames)
    assert engine.last_tto_path == "fused" and engine.path_notice(K) is None
    looped = engine.tto(*frames, fused=False)
    assert engine.last_tto_path == "step-loop"
    np.testing.assert_allclose(looped, fused, atol=1e-4)


def test_results_are_per_sample_and_accept_the_seed_shapes(engine, frames):
    x, cam, root = frames
    whole = engine.tto(x, cam, root)
    np.testing.assert_allclose(engine.tto(x[2:3], cam[2:3], root[2:3]), whole[2:3], atol=1e-5)
    np.testing.assert_allclose(engine.tto(x[:, None], cam, root[:, None, None]), whole, atol=1e-6)


def test_another_iteration_count_is_announced_not_silent(engine, frames):
    notice = engine.path_notice(K + 1)
    if engine.backend == "torch":  # the reference runs any K in one call
        assert notice is None
    else:
        assert notice and f"K = {K}" in notice and "step graph" in notice
    engine.tto(*frames, iters=K + 1)
    assert engine.last_tto_path == ("fused" if notice is None else "step-loop")


@pytest.mark.parametrize("change, message", [
    (lambda x, cam, root: (x[:, :16], cam, root), "16 joints"),
    (lambda x, cam, root: (np.where(np.arange(17)[:, None] == 3, np.nan, x), cam, root), "NaN"),
    (lambda x, cam, root: (x, cam[:3], root), "cam holds 3 rows"),
    (lambda x, cam, root: (x[:0], cam[:0], root[:0]), "no frames"),
])
def test_bad_input_is_one_uao_error(engine, frames, change, message):
    with pytest.raises(UaoError, match=message):
        engine.tto(*change(*frames))


def test_describe_names_backend_precision_and_tto(engine):
    info = engine.describe()
    assert info["backend"] == engine.backend and info["precision"] == "fp32"
    assert info["tto"]["iters"] == K


def test_sequence_uao_matches_the_torch_reference_fused_and_looped(engine, reference, windows):
    pose, trajectory, losses = engine.sequence_tto(*windows)
    assert engine.last_tto_path == "fused"
    shapes = {"pose": (2, 7, 17, 3), "trajectory": (2, 7, 3), "losses": (K, 2)}
    for name, array in zip(shapes, (pose, trajectory, losses)):
        assert isinstance(array, np.ndarray) and array.dtype == np.float32 and array.shape == shapes[name], name
    assert np.all(pose[..., 0, :] == 0)
    expected = reference.sequence_tto(*windows)
    for got, want in zip((pose, trajectory), expected):
        np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(losses, expected[2], rtol=1e-5)
    assert np.abs(trajectory - windows[3]).max() > 1e-4  # the root trajectory is a variable
    # K + 1 iterations: graph engines loop their step graph on the host, with the same numbers.
    looped = engine.sequence_tto(*windows, iters=K + 1)
    assert engine.last_tto_path == ("fused" if engine.backend == "torch" else "step-loop")
    for got, want in zip(looped[:2], reference.sequence_tto(*windows, iters=K + 1)):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_sequence_uao_names_bad_windows(engine, windows):
    x, confidence, cam, root = windows
    for args, message in (((x[0], confidence, cam, root), "windows of keypoints"),
                          ((x, confidence[:, :5], cam, root), "confidence must have shape"),
                          ((x, confidence, cam[:1], root), "cam must have shape")):
        with pytest.raises(UaoError, match=message):
            engine.sequence_tto(*args)
