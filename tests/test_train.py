"""Training: the loss goes down, checkpoints carry the seed format and a sidecar, runs resume."""
import json

import numpy as np
import pytest
import torch

from uao_deploy import load_checkpoint
from uao_deploy.data.cameras import TEST_SUBJECTS, TRAIN_SUBJECTS, cameras_of
from uao_deploy.data.mocap import MocapTrainingData, NoiseModel
from uao_deploy.model import GUMLPConfig
from uao_deploy.jobs.train import TrainConfig, train
from uao_deploy.tto.objective import gaussian_term

pytestmark = pytest.mark.slow  # trains models


@pytest.fixture(scope="module")
def mocap_files(tmp_path_factory):
    """Two tiny mocap files in the exact CMU format: clip -> (T, 17, 3) metres, Z up."""
    rng = np.random.default_rng(0)
    base = np.array([[0, 0, 1.0], [-.1, 0, 1], [-.1, 0, .55], [-.1, 0, .1], [.1, 0, 1], [.1, 0, .55], [.1, 0, .1],
                     [0, 0, 1.25], [0, 0, 1.5], [0, 0, 1.6], [0, 0, 1.75], [.2, 0, 1.5], [.45, 0, 1.5],
                     [.7, 0, 1.5], [-.2, 0, 1.5], [-.45, 0, 1.5], [-.7, 0, 1.5]], dtype=np.float32)
    folder = tmp_path_factory.mktemp("mocap")
    for split in ("train", "val"):
        clips = {}
        for name in ("01_01", "01_02"):
            phase = np.linspace(0, 4 * np.pi, 60)[:, None, None]
            wave = 0.1 * np.sin(phase + rng.uniform(0, 1, size=(1, 17, 3)))
            clips[name] = (base[None] + wave).astype(np.float32)
        np.savez(folder / f"{split}.npz", **clips)
    return folder / "train.npz", folder / "val.npz"


def _data(mocap_files):
    train_path, val_path = mocap_files
    return MocapTrainingData(train_path, val_path, cameras_of(TRAIN_SUBJECTS), cameras_of(TEST_SUBJECTS[:1]),
                             noise=NoiseModel(1.0, 2.0), stride=1, views_per_frame=4, val_stride=6)


def test_the_training_loss_is_the_papers_gaussian_nll():
    mu = torch.zeros(1, 2, 3)
    target = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]])
    s = torch.tensor([[[0.0], [1.0]]])
    assert gaussian_term(mu, s, target, hold_s=False).mean().item() == pytest.approx((5.0 * 1 + 0) / 2 + (0 + 1) / 2)


def test_short_training_lowers_the_loss_and_writes_a_seed_format_checkpoint(mocap_files, tmp_path):
    config = TrainConfig(model=GUMLPConfig(channels=32, layers=1, channel_hidden=32), epochs=3, lr=3e-3)
    history = train(_data(mocap_files), config, tmp_path, progress=False)
    losses = [epoch["train_loss"] for epoch in history["epochs"]]
    assert losses[-1] < losses[0]
    model = load_checkpoint(tmp_path / "best.pth")
    assert model.config.channels == 32
    sidecar = json.loads((tmp_path / "best.pth.json").read_text())
    assert sidecar["data"]["kind"] == "mocap" and sidecar["train"]["epochs"] == 3
    assert sidecar["metrics"]["epoch"] == history["best_epoch"]


def test_training_resumes_where_it_stopped(mocap_files, tmp_path):
    config = TrainConfig(model=GUMLPConfig(channels=16, layers=1, channel_hidden=16), epochs=1)
    train(_data(mocap_files), config, tmp_path, progress=False)
    config.epochs = 2
    history = train(_data(mocap_files), config, tmp_path, resume=True, progress=False)
    assert [epoch["epoch"] for epoch in history["epochs"]] == [1, 2]
