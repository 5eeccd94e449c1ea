"""Shared fixtures: the reference material in ../shared (skipped cleanly when it is absent), and the
tiny and seed exports, made once per run even when pytest-xdist runs the suite in several workers."""
import os
from pathlib import Path

import numpy as np
import pytest

from uao_deploy.contract import SequenceConfig

# The tiny export's sequence UAO: K = 2 and every variable moving (the default keeps the root still).
TINY_SEQUENCE = SequenceConfig(iters=2, lr_root=0.01)


# Fixtures that export ONNX graphs (tens of seconds each on 2 cores): a test that uses one is slow.
EXPORTING_FIXTURES = {"tiny_export", "seed_export", "tiny_cli_export"}


# The modules that take longest (CPU seconds of a full run, most first). They run first, so that two
# xdist workers (`pytest -n 2 --dist loadscope`: a module stays on one worker) finish together
# instead of one starting a long module while the other sits idle at the end.
LONGEST_MODULES = ("test_export", "test_bench", "test_plugplay", "test_tensorrt_build", "test_hostile_inputs",
                   "test_infer", "test_video", "test_gpu_kit", "test_registry")


def pytest_collection_modifyitems(items):
    """`pytest -m "not slow"` is the fast subset: tests that export graphs, train, build engines or
    start other processes carry the `slow` marker (by module, by test, or through an exporting
    fixture). The longest modules go first (stable: the order within a module is kept)."""
    for item in items:
        if EXPORTING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    rank = {name: index for index, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tests' models are small: one thread runs them fastest (thread hand-offs cost more than
    the maths) and leaves the CI machine's other core free."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# Real detector outputs copied from ../shared/data/formats (licences beside them): every reader is
# tested on a fresh clone.
FORMATS = Path(__file__).resolve().parent / "data" / "formats"


def skip_without_shared(what: str) -> None:
    """Skip with a reason that says how to get the project's shared data."""
    pytest.skip(f"{what} is absent: these tests need the project's shared data folder (reference/, data/) "
                f"checked out beside this repository as {SHARED}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        skip_without_shared("../shared")
    return SHARED


@pytest.fixture(scope="session")
def formats() -> Path:
    """The real detector outputs of tests/data/formats (one folder per detector family)."""
    return FORMATS


@pytest.fixture(scope="session")
def golden(shared_dir):
    return dict(np.load(shared_dir / "reference" / "golden.npz"))


# A standing person (17 joints, Z-up world metres, pelvis 0.95 m above the floor), facing -y.
STANDING_POSE = np.array([
    [0.0, 0.0, 0.95],
    [-0.12, 0.0, 0.93], [-0.13, 0.02, 0.50], [-0.13, 0.0, 0.08],
    [0.12, 0.0, 0.93], [0.13, 0.02, 0.50], [0.13, 0.0, 0.08],
    [0.0, 0.01, 1.18], [0.0, 0.0, 1.45], [0.0, -0.03, 1.55], [0.0, 0.0, 1.68],
    [0.18, 0.0, 1.43], [0.22, -0.10, 1.17], [0.24, -0.20, 0.95],
    [-0.18, 0.0, 1.43], [-0.22, -0.10, 1.17], [-0.24, -0.25, 1.00],
], dtype=np.float32)


def moving_person(frames: int, seed: int) -> np.ndarray:
    """(frames, 17, 3) world poses: the standing pose drifting and jittering a few centimetres."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(scale=0.01, size=(frames, 1, 3)), axis=0) * np.float32([1, 1, 0])
    return (STANDING_POSE + drift + rng.normal(scale=0.02, size=(frames, 17, 3))).astype(np.float32)


def synthetic_walk(frames: int, fps: float = 25.0) -> np.ndarray:
    """(frames, 17, 3) world poses: the standing pose walking 1.2 m/s along -y, legs swinging about the
    hips and forearms about the elbows (rigidly: the bones keep their lengths, as a body's do)."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * 0.9 * t  # 0.9 strides per second
    poses = np.repeat(STANDING_POSE[None], frames, axis=0).astype(np.float64)

    def swing(pivot, joints, angle):  # rotate joints about pivot in the sagittal (y-z) plane
        y, z = poses[:, joints, 1] - poses[:, [pivot], 1], poses[:, joints, 2] - poses[:, [pivot], 2]
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        poses[:, joints, 1] = poses[:, [pivot], 1] + cos * y - sin * z
        poses[:, joints, 2] = poses[:, [pivot], 2] + sin * y + cos * z

    for hip, sign in ((1, 1), (4, -1)):
        swing(hip, [hip + 1, hip + 2], sign * 0.3 * np.sin(phase))
    for elbow, sign in ((12, 1), (15, -1)):
        swing(elbow, [elbow + 1], sign * 0.4 * np.sin(phase))
    poses[..., 1] -= 1.2 * t[:, None]
    return poses.astype(np.float32)


@pytest.fixture(scope="session")
def walk_clip() -> np.ndarray:
    """A walk in the world frame at 25 fps: CMU's 02_01 (every 2nd frame) where ../shared is present,
    else a synthetic walk, so the writers are tested on a fresh clone too."""
    mocap = SHARED / "data" / "cmu_h36m17" / "test.npz"
    if mocap.is_file():
        from uao_deploy.data.mocap import load_mocap

        return load_mocap(mocap)["02_01"][::2]
    return synthetic_walk(120)


@pytest.fixture
def mocap_clips():
    """Three short clips in the mocap format (clip -> (T, 17, 3))."""
    return {"walk": moving_person(20, 0), "jump": moving_person(14, 1), "wave": moving_person(9, 2)}


@pytest.fixture
def person_motion():
    """The function ``moving_person(frames, seed)``, for tests that build their own files."""
    return moving_person


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` run once per test run: the first xdist worker to ask makes ``name`` (under a
    file lock, in the run's shared temporary folder) and the others wait for it and reuse it."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's folder sits in the run's
    path, done = root / "made_once" / name, root / "made_once" / f"{name}.done"
    done.parent.mkdir(exist_ok=True)
    with FileLock(str(root / "made_once" / f"{name}.lock")):
        if not done.exists():
            make(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A small random GUMLP (64 channels, 1 block) saved with save_checkpoint, for fast export tests."""
    def make(path):
        import torch

        from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

        torch.manual_seed(0)
        path.mkdir()
        save_checkpoint(GUMLP(GUMLPConfig(channels=64, layers=1)).eval(), path / "tiny.pth")

    return made_once(tmp_path_factory, "tiny_model", make) / "tiny.pth"


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory):
    """A random 32-channel, one-block GUMLP for the CLI and lifting tests (not exported at once)."""
    import torch

    from uao_deploy.model import GUMLP, GUMLPConfig, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(GUMLP(GUMLPConfig(channels=32, layers=1)).eval(),
                           tmp_path_factory.mktemp("small_model") / "small.pth")


@pytest.fixture(scope="session")
def tiny_export(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint exported to ONNX (verified in ONNX Runtime, K = 2; sequence UAO with
    TINY_SEQUENCE, every variable moving): the folder."""
    from uao_deploy.export import export_onnx
    from uao_deploy.tto import TTOConfig

    return made_once(tmp_path_factory, "tiny_export",
                     lambda out: export_onnx(tiny_checkpoint, out, tto=TTOConfig(iters=2), sequence=TINY_SEQUENCE))


# The `uao export` command line that tiny_cli_export runs (on the tiny checkpoint).
TINY_CLI_EXPORT = ("--tto-iters", "1", "--no-flip")


@pytest.fixture(scope="session")
def tiny_cli_export(tiny_checkpoint, tmp_path_factory):
    """(folder, what the command printed) of `uao export --checkpoint TINY --out folder TINY_CLI_EXPORT`,
    run once: its own test checks the graphs, the TensorRT build test builds engines from them."""
    import contextlib
    import io

    from uao_deploy.cli import main

    def make(path):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            main(["export", "--checkpoint", str(tiny_checkpoint), "--out", str(path / "export"), *TINY_CLI_EXPORT])
        (path / "printed.txt").write_text(printed.getvalue())

    path = made_once(tmp_path_factory, "tiny_cli_export", make)
    return path / "export", (path / "printed.txt").read_text()


@pytest.fixture(scope="session")
def seed_export(shared_dir, tmp_path_factory):
    """The 512-channel seed-format model exported to ONNX once per session (not verified here:
    tests/test_export.py checks these graphs against golden.npz and PyTorch itself): the folder."""
    from uao_deploy.export import export_onnx

    return made_once(tmp_path_factory, "seed_export",
                     lambda out: export_onnx(shared_dir / "reference" / "gumlp_seed_format.pth", out, verify=False))
