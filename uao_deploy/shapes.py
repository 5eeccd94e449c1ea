"""Validation of array shapes at the library's boundary, with errors that name the problem."""
from __future__ import annotations

import numpy as np

from .arrays import all_finite
from .errors import UaoError
from .skeleton import NUM_JOINTS


def as_joint_batch(array, channels: int, name: str):
    """Accept (B, 17, C) or the seed's (B, 1, 17, C) and return (B, 17, C); reject anything else.

    Works for numpy arrays and torch tensors; NaN or infinite values are refused too.
    """
    shape = tuple(array.shape)
    if len(shape) == 4 and shape[1] == 1:
        array = array[:, 0]
        shape = tuple(array.shape)
    if len(shape) != 3 or shape[2] != channels:
        raise UaoError(f"{name} must have shape (B, {NUM_JOINTS}, {channels}) or (B, 1, {NUM_JOINTS}, {channels}); got {tuple(shape)}")
    if shape[1] != NUM_JOINTS:
        raise UaoError(f"{name} has {shape[1]} joints; the Human3.6M skeleton has {NUM_JOINTS}")
    _check_finite(array, name)
    return array


def as_vector_batch(array, size: int, name: str, batch: int):
    """Accept (B, size) or any (B, 1, ..., size) and return (B, size) matching ``batch``."""
    shape = tuple(array.shape)
    if len(shape) < 2 or shape[-1] != size or int(np.prod(shape[1:-1], dtype=np.int64)) != 1:
        raise UaoError(f"{name} must have shape (B, {size}); got {shape}")
    array = array.reshape(shape[0], size)
    if shape[0] != batch:
        raise UaoError(f"{name} holds {shape[0]} rows but the keypoints hold {batch} frames")
    _check_finite(array, name)
    return array


def _check_finite(array, name: str) -> None:
    if not all_finite(array):
        raise UaoError(f"{name} contains NaN or infinite values")
