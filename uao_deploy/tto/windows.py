"""Long sequences as overlapping windows, stitched by cross-fading (numpy only, no torch).

Windows of ``length`` frames overlap their neighbours by ``overlap`` frames; a sequence shorter
than one window is one window of its own length. In an overlap the two windows' results are
blended with linear ramps, so no frame switches abruptly from one window's solution to the next
one's, and the frames near a window's edge (which see less of the motion) count least.
"""
from __future__ import annotations

import numpy as np

from ..errors import UaoError


def window_starts(frames: int, length: int, overlap: int) -> list[int]:
    """First frame of each window; the last window ends at the last frame."""
    if frames < 1:
        raise UaoError("a sequence needs at least one frame")
    if length < 3 or not 0 <= overlap < length - 1:
        raise UaoError(f"windows need length >= 3 and 0 <= overlap < length - 1; got {length} and {overlap}")
    if frames <= length:
        return [0]
    starts = list(range(0, frames - length, length - overlap))
    return starts + [frames - length]


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
        self.starts = window_starts(frames, length, overlap)
        self.frames, self.length, self.overlap = frames, min(length, frames), overlap
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
