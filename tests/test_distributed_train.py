"""``uao train`` under torchrun: two CPU processes (gloo) take the same steps as one process with the
same global batch, and only rank 0 writes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ddp_train_job import short_run
from test_train import _data, mocap_files  # noqa: F401 (the fixture)
from uao_deploy.jobs.distributed import Ranks

pytestmark = pytest.mark.slow  # starts torchrun processes

TESTS = Path(__file__).parent


def test_two_ranks_match_one_process_with_the_same_global_batch(mocap_files, tmp_path):
    train_path, val_path = mocap_files
    single = short_run(_data(mocap_files), tmp_path / "single")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               TESTS / "ddp_train_job.py", train_path, val_path, tmp_path / "ddp"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run(list(map(str, command)), capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]

    ddp = json.loads((tmp_path / "ddp" / "history.json").read_text())
    for mine, theirs in zip(single["epochs"], ddp["epochs"], strict=True):
        np.testing.assert_allclose(theirs["train_loss"], mine["train_loss"], rtol=1e-5)
        np.testing.assert_allclose(theirs["val_mpjpe_mm"], mine["val_mpjpe_mm"], rtol=1e-4)
    one = torch.load(tmp_path / "single" / "best.pth")
    two = torch.load(tmp_path / "ddp" / "best.pth")
    for name, weight in one.items():
        torch.testing.assert_close(two[name], weight, rtol=1e-4, atol=1e-6)
    sidecar = json.loads((tmp_path / "ddp" / "best.pth.json").read_text())
    assert sidecar["ranks"] == 2


def test_shares_cover_the_batch_and_the_scaled_losses_average_to_its_mean():
    batch = torch.arange(7.0)
    shares = [Ranks(rank, 3).shard(batch)[0] for rank in range(3)]
    assert sorted(torch.cat(shares).tolist()) == batch.tolist()
    # DDP averages the ranks' gradients; the ranks' scaled losses average the same way to the global mean.
    scaled = [Ranks(rank, 3).batch_loss(share, len(batch)) for rank, share in enumerate(shares)]
    assert torch.stack(scaled).mean().item() == pytest.approx(batch.mean().item(), rel=1e-6)


def test_uao_train_under_torchrun_reports_once_and_writes_the_checkpoint(mocap_files, tmp_path):
    train_path, val_path = mocap_files
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "uao_deploy", "train", "--data", train_path, "--val", val_path, "--out", tmp_path,
               "--channels", "16", "--layers", "1", "--epochs", "1", "--max-batches", "2", "--batch-size", "8"]
    run = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("best validation MPJPE") == 1  # rank 0 alone reports
    assert json.loads((tmp_path / "best.pth.json").read_text())["ranks"] == 2
