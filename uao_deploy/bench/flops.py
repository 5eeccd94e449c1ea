"""The nominal FLOPs of a pose (the counting rule in the package docstring) and the machine's matrix-product limit."""
from __future__ import annotations

import time

import torch

from torch.utils.flop_counter import FlopCounterMode

from .. import skeleton

TASKS = ("eval", "tto")


def forward_flops(model: torch.nn.Module) -> int:
    """FLOPs of one pose's forward pass: 2 x MACs of every matrix product (Linear, Conv1d, einsum),
    counted by PyTorch's FlopCounterMode, so any lifter is counted by the same rule."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, skeleton.NUM_JOINTS, 2))
    return counter.get_total_flops()


def flops_per_pose(forward: int, task: str, tto_iters: int = 4) -> int:
    """Useful FLOPs per pose of a task under the module's counting rule, from one ``forward``'s FLOPs."""
    if task == "eval":
        return 2 * forward
    if task == "tto":
        return (2 + 2 * tto_iters + 2) * forward + 2 * tto_iters * forward
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def share_of_peak(flops_pose: float, poses_s: float, peak_flops_s: float) -> float:
    """Achieved FLOP/s as a fraction of the measured peak."""
    return flops_pose * poses_s / peak_flops_s


def matmul_peak(dtype=torch.float32, device: str = "cpu", size: int | None = None, repeats: int = 3) -> float:
    """FLOP/s of the best of ``repeats`` timings of size^3 matrix products: this machine's practical limit.

    On a GPU the products are 8192^3, ten per timing: one 2048^3 product takes tens of microseconds
    there, about what the launch and the synchronisation cost, and would understate the card by half.
    """
    on_gpu = str(device).startswith("cuda")
    size = size or (8192 if on_gpu else 2048)
    products = 10 if on_gpu else 1
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=generator, device=device).to(dtype)
    b = torch.randn(size, size, generator=generator, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: library initialisation and page faults
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(products):
            torch.mm(a, b)
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 * products / best


def _synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
