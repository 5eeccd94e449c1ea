"""Training on several processes: ``torchrun --nproc-per-node N uao train ...``.

torchrun starts N processes and tells each its rank (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``);
they join one process group (gloo on CPUs, NCCL on GPUs, one GPU per process) and train one
DistributedDataParallel model.

**Sharding.** Every rank draws the same global batch from the same seeded generator (order, camera
views, detector noise and flips are cheap to make) and trains on its share, every N-th sample. The
loss is scaled so that DDP's average of the ranks' gradients is the gradient of the global batch's
mean, so N processes take the same steps as one process with the same global batch, up to float
rounding and dropout (each rank draws masks for its own samples). Checkpoints, state and history
are written by rank 0 only.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UaoError


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: rank ``rank`` of ``world_size`` (1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's share of each global-batch tensor: samples rank, rank + N, rank + 2N, ..."""
        return tuple(tensor[self.rank::self.world_size] for tensor in tensors)

    def batch_loss(self, per_sample: torch.Tensor, global_count: int) -> torch.Tensor:
        """The loss to back-propagate: this rank's part of the global mean, times N (DDP divides by N)."""
        if self.world_size == 1:
            return per_sample.mean()
        return per_sample.sum() * (self.world_size / global_count)

    def global_mean(self, loss: torch.Tensor) -> float:
        """The global batch's mean loss from every rank's :meth:`batch_loss`."""
        if self.world_size == 1:
            return loss.item()
        total = loss.detach().clone()
        dist.all_reduce(total)
        return total.item() / self.world_size  # the ranks sum N times the global mean


def current() -> Ranks:
    """The ranks of the joined process group, or a single process."""
    if not dist.is_initialized():
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def local_device(device: str) -> str:
    """``cuda`` means this process's own GPU (LOCAL_RANK) under torchrun."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return device


@contextmanager
def process_group(device: str):
    """Join torchrun's process group for the block when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", 1)) <= 1:
        yield Ranks()
        return
    kind = torch.device(device).type
    if kind not in ("cpu", "cuda"):
        raise UaoError(f"distributed training runs on cpu (gloo) or cuda (NCCL); got device {device}")
    if kind == "cuda":
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group("nccl" if kind == "cuda" else "gloo")
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def parallel(model: torch.nn.Module, ranks: Ranks) -> torch.nn.Module:
    """The model to train: DistributedDataParallel over the ranks, or the model itself alone."""
    if ranks.world_size == 1:
        return model
    device = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
