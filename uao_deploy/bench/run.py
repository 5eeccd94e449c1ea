"""The run: every case at every batch size on the same inputs, with speed-ups, shares of the limit and differences."""
from __future__ import annotations

import datetime as dt
import functools
import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..contract import TTOConfig
from ..errors import UaoError, one_line
from ..model import resolve_model
from ..model.precision import DTYPES
from . import flops
from ..inputs import load_pairs, tile
from .cases import BACKENDS, DEFAULT_BACKENDS, PRESETS, Case, Setup
from .flops import TASKS, flops_per_pose, forward_flops, share_of_peak
from .memory import check_memory, frames_per_call, peak_rss, start_memory_watch
from .report import format_row
from .stats import Latency, latency, poses_per_second
from .timing import time_interleaved

SEED_BACKENDS = ("seed-eager", "seed-cuda")  # the baselines, per device
REFERENCE_FRAMES = 256  # frames of each batch compared with the float32 CPU reference
CPU_FEATURES = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}  # what decides fp32 / bf16 speed


def machine_info(threads: int) -> dict:
    """The facts a reader needs to judge the numbers."""
    info = {
        "cpu": _cpuinfo("model name") or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(), "threads": threads,
        "cpu_features": sorted(set(_cpuinfo("flags").split()) & CPU_FEATURES),
        "os": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "load_average": list(os.getloadavg()),
    }
    try:
        import onnxruntime
        info["onnxruntime"] = onnxruntime.__version__
        info["onnxruntime_available_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def _cpuinfo(field: str) -> str:
    """``field`` of the first processor in /proc/cpuinfo ("" where unknown)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def _probe_peaks(cases: list[Case], peaks: dict[str, float]) -> None:
    """Raise ``peaks`` (FLOP/s per "device precision") to a new matrix-product probe where it is higher.

    Probed at the start and after every batch size: on a shared machine a single probe can land in
    a busy moment, and the best of all probes is the closest to what the hardware can do.
    """
    wanted = {(case.device, case.precision) for case in cases} | {("cpu", "fp32")}
    for device, precision in sorted(wanted):
        key = f"{device} {precision}"
        peaks[key] = max(peaks.get(key, 0.0), flops.matmul_peak(DTYPES.get(precision, torch.float32), device))


def _shares(report: dict, peaks: dict[str, float]) -> None:
    """Each row's share of its device's and precision's best probe so far."""
    report["peak_gflop_per_s"] = {key: value / 1e9 for key, value in peaks.items()}
    for row in report["rows"]:
        if row["status"] == "ok":
            peak = peaks.get(f"{row['device']} {row['precision']}", peaks["cpu fp32"])
            row["share_of_peak"] = share_of_peak(row["gflop_per_pose"] * 1e9, row["poses_per_s"], peak)


def _row(case: Case, batch: int, stats: Latency, flops_pose: int, ran: str | None = None) -> dict:
    rate = poses_per_second(batch, stats.p50_ms)
    row = {"backend": case.backend, "path": case.path, "task": case.task, "device": case.device,
           "precision": case.precision, "batch": batch, "status": "ok", "calls": stats.calls,
           "mean_ms": stats.mean_ms, "p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms, "p99_ms": stats.p99_ms,
           "poses_per_s": rate, "gflop_per_pose": flops_pose / 1e9, "gflop_per_s": flops_pose * rate / 1e9}
    if "providers" in case.info:
        row["providers"] = case.info["providers"]
    if ran is not None:
        row["ran"] = ran  # the engine's own word on fused graph vs step loop
    return row


def _differences(row: dict, pose: np.ndarray, reference: np.ndarray) -> None:
    distance = np.linalg.norm(pose.astype(np.float64) - reference, axis=-1)
    row["diff_max_mm"] = float(np.abs(pose.astype(np.float64) - reference).max() * 1e3)
    row["diff_mean_mm"] = float(distance.mean() * 1e3)


def _speedups(rows: list[dict]) -> None:
    """Each row's speed-up over the seed's loop on the same task, batch and device (ratio of medians):
    CPU rows against seed-eager, GPU rows against seed-cuda."""
    baseline = {(r["task"], r["batch"], r["device"]): r["p50_ms"] for r in rows
                if r["backend"] in SEED_BACKENDS and r["status"] == "ok"}
    for row in rows:
        key = (row["task"], row["batch"], row["device"])
        if row["status"] == "ok" and key in baseline:
            row["speedup_vs_seed"] = baseline[key] / row["p50_ms"]


def run_benchmark(checkpoint=None, backends=DEFAULT_BACKENDS, batches=PRESETS["cpu"][1], tto_iters: int = 4,
                  repeats: int | None = None, seconds: float | None = 2.0, warmup: int = 1, threads: int | None = None,
                  pairs: dict | None = None, log: Callable[[str], None] = lambda message: None,
                  progress: Callable[[dict], None] = lambda report: None) -> dict:
    """Time every backend's cases at every batch size; returns the JSON-ready report.

    A backend that cannot start on this machine becomes a "skipped" entry with its reason and a
    case that fails (or would not fit in memory) becomes an "error" row; the others still run.
    ``pairs``: inputs as from :func:`uao_deploy.inputs.load_pairs` (default: the embedded sample).
    ``progress(report)`` is called after each batch size with the rows so far (``complete`` False).
    """
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise UaoError(f"unknown backend {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if not batches or min(batches) < 1 or tto_iters < 1 or warmup < 0 or (repeats is not None and repeats < 1):
        raise UaoError("batch sizes, --tto-iters and --repeats must be at least 1 and --warmup at least 0")
    threads = threads or torch.get_num_threads()
    pairs = load_pairs() if pairs is None else pairs
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)  # every backend on the same number of cores, ORT included
    try:
        resolved = resolve_model(checkpoint)
        setup = Setup(checkpoint, resolved.model, TTOConfig(iters=tto_iters), threads, tuple(batches))
        forward = forward_flops(resolved.model)
        cases, skipped = [], []
        for name in backends:
            try:
                cases += BACKENDS[name][0](setup)
                log(f"{name}: ready")
            except Exception as exc:  # no GPU, a missing package, a failed export: the others still run
                reason = one_line(exc) if isinstance(exc, UaoError) else f"failed to start: {one_line(exc)}"
                skipped.append({"backend": name, "reason": reason})
                log(f"{name}: skipped ({reason})")
        peaks = {}
        _probe_peaks(cases, peaks)
        report = {
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(threads),
            "checkpoint": {"path": None if resolved.path is None else str(resolved.path), "sha256": resolved.sha256,
                           "architecture": resolved.architecture, "config": resolved.config},
            "tto": setup.tto.to_dict(),
            "settings": {"batches": list(batches), "repeats": repeats, "seconds": seconds, "warmup": warmup,
                         "threads": threads, "throughput": "batch / p50 latency"},
            "inputs": pairs.get("source"),
            "flops_per_pose": {"forward": forward,
                               **{task: flops_per_pose(forward, task, tto_iters) for task in TASKS}},
            "peak_gflop_per_s": {},
            "backends": {name: BACKENDS[name][1] for name in backends},
            "skipped": skipped,
            "rows": [],
            "complete": False,
        }
        for _ in _time_cases(cases, setup, pairs, repeats, seconds, warmup, report["rows"], log, forward):
            _probe_peaks(cases, peaks)
            _shares(report, peaks)
            _speedups(report["rows"])
            progress(report)
        log("peak: " + ", ".join(f"{key} {value:.0f} GFLOP/s" for key, value in report["peak_gflop_per_s"].items()))
    finally:
        torch.set_num_threads(previous_threads)
    report["complete"] = True
    report["machine"]["load_average_end"] = list(os.getloadavg())
    return report


def _time_cases(cases, setup, pairs, repeats, seconds, warmup, rows, log, forward):
    """Append one row per case to ``rows``, batch size by batch size; yields after each batch size.

    At each batch size every case first runs once alone (its result is compared with the torch
    reference and its memory measured), then all are timed in turns (:func:`time_interleaved`).
    """
    reference_engine = next((case.engine for case in cases if case.backend == "torch" and case.engine), None)
    if reference_engine is None:
        from .. import engines
        reference_engine = engines.load(setup.model, backend="torch", tto=setup.tto)
    memory = {}  # case index -> (frames per call, extra bytes it needed)
    for batch in setup.batches:
        x, cam, root = tile(pairs, batch)
        # Results are per frame, so the first frames stand for the batch: the CPU reference stays
        # cheap next to what a GPU does at batch 8192.
        checked = slice(0, min(batch, REFERENCE_FRAMES))
        reference = {"eval": reference_engine.predict(x[checked]).astype(np.float64),
                     "tto": reference_engine.tto(x[checked], cam[checked], root[checked]).astype(np.float64)}
        batch_rows, ready = [], []
        for index, case in enumerate(cases):
            row = {"backend": case.backend, "path": case.path, "task": case.task, "device": case.device,
                   "precision": case.precision, "batch": batch}
            try:
                check_memory(memory.get(index), frames_per_call(case, batch))
                before = start_memory_watch()
                pose = case.run(x, cam, root)  # the first call: compared, and the first warm-up call
                memory[index] = (frames_per_call(case, batch), max(peak_rss() - before, 0))  # pages freed meanwhile
                ran = case.engine.last_tto_path if case.task == "tto" and case.engine is not None else None
                ready.append((len(batch_rows), case, pose, memory[index][1], ran))
            except Exception as exc:  # reported in its row; the other cases still run
                row.update(status="error", error=one_line(exc))
            batch_rows.append(row)
        timings = time_interleaved([functools.partial(case.run, x, cam, root) for _, case, *_ in ready],
                                   max(warmup - 1, 0), repeats, seconds)
        for (position, case, pose, extra, ran), times in zip(ready, timings):
            if isinstance(times, Exception):
                batch_rows[position].update(status="error", error=one_line(times))
                continue
            row = _row(case, batch, latency(times), flops_per_pose(forward, case.task, setup.tto.iters), ran)
            row["extra_memory_mb"] = extra / 2 ** 20
            _differences(row, pose[checked], reference[case.task])
            batch_rows[position] = row
        for row in batch_rows:
            rows.append(row)
            log(format_row(row))
        yield batch
