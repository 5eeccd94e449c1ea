"""Latency statistics of timed calls."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Latency:
    """Per-call latency of one case, in milliseconds."""

    calls: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float


def latency(seconds: list[float]) -> Latency:
    """Percentiles (numpy's linear interpolation) and mean of per-call times given in seconds."""
    if not seconds:
        raise ValueError("no timed calls")
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    p50, p90, p99 = np.percentile(ms, PERCENTILES)
    return Latency(len(ms), float(ms.mean()), float(p50), float(p90), float(p99))


def poses_per_second(batch: int, p50_ms: float) -> float:
    """Throughput from the median call: robust to the other jobs of a shared machine."""
    return batch / (p50_ms / 1e3)
