"""The one check of a ``--device`` name against what this machine has."""
from __future__ import annotations

import torch

from .errors import UaoError


def torch_device(name) -> torch.device:
    """``name`` ("cpu", "cuda", "cuda:1", ...) as a torch device this machine has, else a UaoError."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UaoError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UaoError(f"device {name!r} was requested but torch.cuda.is_available() is False")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UaoError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise UaoError(f"device {name!r} is not supported; use cpu, cuda or cuda:N")
    return device
