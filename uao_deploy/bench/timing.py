"""Timing several calls in turns, so their ratios share the machine's load."""
from __future__ import annotations

import time
from typing import Callable


def time_interleaved(calls: list[Callable[[], object]], warmup: int = 1, repeats: int | None = None,
                     seconds: float | None = None, min_calls: int = 3, slices: int = 5) -> list:
    """Seconds per call of each of ``calls``, timed in turns so that all of them meet the same machine.

    A shared machine's speed drifts (on the 2-core VM of this project by up to 2x within a minute):
    timing one case after the other puts that drift into their ratios. After ``warmup`` untimed
    calls each, rounds give every call a turn: one call when ``repeats`` is given (until each has
    ``repeats``), else calls for at least ``seconds / slices`` (until each has ``seconds`` in all and
    ``min_calls``). A call that raises leaves the rotation; its exception stands in its list's place.
    """
    if repeats is None and seconds is None:
        raise ValueError("give repeats or seconds")
    results: list = [[] for _ in calls]
    for index, call in enumerate(calls):
        try:
            for _ in range(warmup):
                call()
        except Exception as exc:  # reported in the caller's row for this call
            results[index] = exc

    def done(times) -> bool:
        if isinstance(times, Exception):
            return True
        if repeats is not None:
            return len(times) >= repeats
        return len(times) >= min_calls and sum(times) >= seconds

    while not all(done(times) for times in results):
        for index, call in enumerate(calls):
            times = results[index]
            turn_start = time.perf_counter()
            while not done(times):
                try:
                    start = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - start)
                except Exception as exc:
                    results[index] = exc
                    break
                if repeats is not None or time.perf_counter() - turn_start >= seconds / slices:
                    break
    return results
