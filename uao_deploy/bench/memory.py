"""Memory: a case that would not fit is reported, not run into the out-of-memory killer."""
from __future__ import annotations

from pathlib import Path

from ..contract import FRAME
from ..errors import UaoError
from .cases import Case


def _proc_kib(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def start_memory_watch() -> int:
    """Reset this process's peak RSS (Linux) and return the current RSS in bytes (0 if unknown)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _proc_kib("/proc/self/status", "VmRSS") or 0


def peak_rss() -> int:
    return _proc_kib("/proc/self/status", "VmHWM") or 0


def frames_per_call(case: Case, batch: int) -> int:
    """Frames one graph call of the case holds: engines split batches above their ``max_batch``."""
    if case.engine is None:
        return batch
    limits = [case.engine.max_batch(graph) for graph in sorted(FRAME.graph_names)]
    return min([batch] + [limit for limit in limits if limit])


def check_memory(previous: tuple[int, int] | None, batch: int) -> None:
    """Refuse a case whose memory, scaled linearly from its last call size, exceeds what is free.

    ``previous`` is (frames per call, extra bytes) of the case's last run, ``batch`` the frames per
    call it would run now.
    """
    available = _proc_kib("/proc/meminfo", "MemAvailable")
    if previous is None or available is None:
        return
    last_frames, last_extra = previous
    needed = last_extra * batch / last_frames
    if needed > 0.8 * available:
        raise UaoError(f"not run: needs about {needed / 2 ** 30:.1f} GiB (scaled from {last_frames} frames per call), "
                       f"{available / 2 ** 30:.1f} GiB available")
