"""Long sequences as overlapping windows, stitched by cross-fading (numpy only, no torch).

A sequence is cut into the fewest windows of at most ``length`` frames that overlap their
neighbours by at least ``overlap`` frames, all of one length (as short as that allows, so a video
a little longer than one window costs little more than one) and spread evenly; a sequence shorter
than one window is one window of its own length. In an overlap the two windows' results are
blended with linear ramps, so no frame switches abruptly from one window's solution to the next
one's, and the frames near a window's edge (which see less of the motion) count least.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import UaoError


def window_layout(frames: int, length: int, overlap: int) -> tuple[list[int], int]:
    """(first frame of each window, the windows' length): the first starts at frame 0, the last ends
    at the last frame, neighbours share at least ``overlap`` frames."""
    if frames < 1:
        raise UaoError("a sequence needs at least one frame")
    if length < 3 or not 0 <= overlap < length - 1:
        raise UaoError(f"windows need length >= 3 and 0 <= overlap < length - 1; got {length} and {overlap}")
    if frames <= length:
        return [0], frames
    count = math.ceil((frames - overlap) / (length - overlap))
    size = math.ceil((frames + (count - 1) * overlap) / count)
    return [round(index * (frames - size) / (count - 1)) for index in range(count)], size


def blend_weights(length: int, overlap: int, first: bool, last: bool) -> np.ndarray:
    """Cross-fade weight (length,) of one window's frames: ramps of ``overlap`` frames where it overlaps."""
    ramp = (np.arange(length, dtype=np.float64) + 1) / (overlap + 1)
    weights = np.ones(length)
    if not first:
        weights = np.minimum(weights, ramp)
    if not last:
        weights = np.minimum(weights, ramp[::-1])
    return weights


class Stitcher:
    """Accumulates window results (any trailing shape) into per-frame cross-faded averages.

    Memory is one output array per quantity: an hour at 50 fps of (17, 3) float64 poses is 73 MB.
    """

    def __init__(self, frames: int, length: int, overlap: int):
        self.starts, self.length = window_layout(frames, length, overlap)
        self.frames, self.overlap = frames, overlap
        self._sums: dict[str, np.ndarray] = {}
        self._weights = np.zeros(frames)

    def add(self, index: int, values: dict[str, np.ndarray]) -> None:
        """Blend window ``index``'s results, arrays (length, ...) by name."""
        start = self.starts[index]
        span = slice(start, start + self.length)
        weights = blend_weights(self.length, self.overlap, index == 0, index == len(self.starts) - 1)
        for name, value in values.items():
            if name not in self._sums:
                self._sums[name] = np.zeros((self.frames,) + value.shape[1:])
            self._sums[name][span] += weights.reshape((-1,) + (1,) * (value.ndim - 1)) * value
        self._weights[span] += weights

    def result(self, name: str) -> np.ndarray:
        if (self._weights <= 0).any():
            raise UaoError("some frames were covered by no window")
        weights = self._weights.reshape((-1,) + (1,) * (self._sums[name].ndim - 1))
        return (self._sums[name] / weights).astype(np.float32)
