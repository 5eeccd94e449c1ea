"""Code that runs on numpy arrays and torch tensors alike, without importing torch.

The torch reference, the traced exporter and the torch-free runtime share the skeleton helpers and
the UAO loop; a tensor can only exist once its caller imported torch, so torch is looked up in
``sys.modules`` rather than imported here.
"""
from __future__ import annotations

import sys

import numpy as np


def is_tensor(array) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


def concat(arrays, axis: int = 0):
    """np.concatenate or torch.cat, by the type of the first array."""
    if is_tensor(arrays[0]):
        return sys.modules["torch"].cat(list(arrays), dim=axis)
    return np.concatenate(arrays, axis=axis)


def constant_like(values, like):
    """``values`` as an array of ``like``'s kind, dtype (and device)."""
    return like.new_tensor(values) if is_tensor(like) else np.asarray(values, dtype=like.dtype)


def exp(array):
    return sys.modules["torch"].exp(array) if is_tensor(array) else np.exp(array)


def zeros_like(array):
    return sys.modules["torch"].zeros_like(array) if is_tensor(array) else np.zeros_like(array)


def all_finite(array) -> bool:
    if is_tensor(array):
        return bool(sys.modules["torch"].isfinite(array).all())
    return bool(np.isfinite(array).all())
