"""``uao bench``: latency and throughput of every backend on the same inputs, side by side, in one run.

Each backend contributes *cases*: a task ("eval": the flip-averaged prediction; "tto": UAO with K
iterations) run along one path (e.g. ONNX Runtime's fused TTO graph or its step graph looped on
the host). At every batch size all cases run on the same keypoints, timed in turns
(:func:`time_interleaved`), so speed-ups are ratios measured side by side under the same machine
load. The baseline is ``seed-eager``: PyTorch as a user of the seed runs it (see :class:`SeedStyleTorch`).

Counting rule for FLOPs (per pose): a forward pass costs 2 x the multiply-accumulates of its
Linear, Conv1d and einsum layers (biases, LayerNorm, GELU, the projection and Adam are not
counted); a backward pass to the *input* costs one forward (each layer's input gradient is one
product of the same size; weight gradients are not needed and not counted, even where the seed
computes them). Evaluation = 2 forwards (flip); TTO = (2 + 2K + 2) forwards + 2K backwards.
This is the method's nominal work, the same for every backend; an engine that skips some (the
fused graph shares the first step's forward with the pseudo-targets and leaves out the graph
convolution's products with zero rows of the adjacency) gets credit for it in its FLOP/s. Shares of
the machine's limit divide that rate by a matrix-product probe's best rate.
"""
from __future__ import annotations

import copy
import functools
import datetime as dt
import json
import os
import platform
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import skeleton
from ..errors import UaoError
from ..model import GUMLPConfig, default_checkpoint, load_checkpoint
from ..fileio import atomic_write_bytes, file_sha256
from ..tto import TTOConfig
from ..tto.objective import gaussian_term, projection_term

TASKS = ("eval", "tto")
DEFAULT_BATCHES = (1, 8, 64, 512)
DEFAULT_RESULTS = Path("benchmarks/results")
PERCENTILES = (50, 90, 99)
CPU_FEATURES = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}  # what decides fp32 / bf16 speed


# --- statistics ---------------------------------------------------------------------------------
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


# --- FLOPs --------------------------------------------------------------------------------------
def forward_flops(config: GUMLPConfig) -> int:
    """FLOPs of one pose's forward pass: 2 x MACs of every Linear, Conv1d and einsum."""
    joints, channels, hidden = skeleton.NUM_JOINTS, config.channels, config.channel_hidden
    partitions = 4  # the adjacency's self, centripetal, centrifugal and symmetric parts
    spatial = [joints, 3 * joints, 6 * joints, 6 * joints, 3 * joints, joints]
    encoder = joints * (2 * 64 + 64 * channels)
    block = (joints * channels * partitions * channels  # 1x1 Conv1d C -> 4C
             + partitions * channels * joints * joints  # einsum with the adjacency
             + joints * (channels * hidden + hidden * hidden + hidden * channels)  # channel uMLP
             + channels * sum(a * b for a, b in zip(spatial, spatial[1:])))  # spatial uMLP
    heads = joints * (channels * (channels // 2) * 2 + (channels // 2) * (3 + 1))
    return 2 * (encoder + config.layers * block + heads)


def flops_per_pose(config: GUMLPConfig, task: str, tto_iters: int = 4) -> int:
    """Useful FLOPs per pose of a task under the module's counting rule."""
    forward = forward_flops(config)
    if task == "eval":
        return 2 * forward
    if task == "tto":
        return (2 + 2 * tto_iters + 2) * forward + 2 * tto_iters * forward
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def share_of_peak(flops_pose: float, poses_s: float, peak_flops_s: float) -> float:
    """Achieved FLOP/s as a fraction of the measured peak."""
    return flops_pose * poses_s / peak_flops_s


def matmul_peak(dtype=torch.float32, device: str = "cpu", size: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of the best of ``repeats`` size^3 matrix products: this machine's practical limit."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, generator=generator, device=device).to(dtype)
    b = torch.randn(size, size, generator=generator, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: library initialisation and page faults
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def _synchronize(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# --- timing -------------------------------------------------------------------------------------
def time_interleaved(calls: list[Callable[[], object]], warmup: int = 1, iters: int | None = None,
                     seconds: float | None = None, min_calls: int = 3, slices: int = 5) -> list:
    """Seconds per call of each of ``calls``, timed in turns so that all of them meet the same machine.

    A shared machine's speed drifts (on the 2-core VM of this project by up to 2x within a minute):
    timing one case after the other puts that drift into their ratios. After ``warmup`` untimed
    calls each, rounds give every call a turn: one call when ``iters`` is given (until each has
    ``iters``), else calls for at least ``seconds / slices`` (until each has ``seconds`` in all and
    ``min_calls``). A call that raises leaves the rotation; its exception stands in its list's place.
    """
    if iters is None and seconds is None:
        raise ValueError("give iters or seconds")
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
        if iters is not None:
            return len(times) >= iters
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
                if iters is not None or time.perf_counter() - turn_start >= seconds / slices:
                    break
    return results


# --- the seed's PyTorch evaluation, as its users run it ----------------------------------------
class SeedStyleTorch:
    """PyTorch eval as the seed's users have it; the baseline every speed-up is measured against.

    A faithful re-implementation of the seed's loop (shared/reference/METHOD.md), not
    :func:`uao_deploy.tto.refine`: the point is its cost. Eager model in eval mode with
    ``requires_grad`` left on for the weights, so every ``loss.backward()`` also computes weight
    gradients; separate forward passes for x and its flip; two initial forwards for the
    pseudo-targets; ``torch.optim.Adam`` over z and z_flip; a batch-mean loss (the seed's mean over
    batch and joints, built from the same terms as :func:`uao_deploy.tto.tto_objective`).
    """

    def __init__(self, model: torch.nn.Module, config: TTOConfig):
        self.model = copy.deepcopy(model).eval().requires_grad_(True)
        self.config = config

    def _unflipped(self, x):
        return skeleton.flip_pose(self.model(skeleton.flip_pose(x))[0])

    def predict(self, x: np.ndarray, *unused) -> np.ndarray:
        x = torch.from_numpy(x)
        with torch.no_grad():
            pose = (self.model(x)[0] + self._unflipped(x)) / 2
        return skeleton.zero_root(pose).numpy()

    def tto(self, x: np.ndarray, cam: np.ndarray, root: np.ndarray) -> np.ndarray:
        config, model = self.config, self.model
        x, cam, root = torch.from_numpy(x), torch.from_numpy(cam), torch.from_numpy(root)
        with torch.no_grad():
            mu0, mu0_flip = model(x)[0], self._unflipped(x)
        z = x.clone().requires_grad_(True)
        z_flip = skeleton.flip_pose(x).clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z, z_flip], lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)
        for _ in range(config.iters):
            optimizer.zero_grad()
            mu, s = model(z)
            mu_flip, s_flip = model(z_flip)
            mu_flip, s_flip = skeleton.flip_pose(mu_flip), skeleton.swap_lr(s_flip)
            gauss = gaussian_term(mu, s, mu0).mean() + gaussian_term(mu_flip, s_flip, mu0_flip).mean()
            proj = projection_term(mu, root, cam, x).mean() + projection_term(mu_flip, root, cam, x).mean()
            (config.w_gauss * gauss + config.w_proj * proj).backward()
            optimizer.step()
        with torch.no_grad():
            pose = (model(z)[0] + skeleton.flip_pose(model(z_flip)[0])) / 2
        return skeleton.zero_root(pose).numpy()


# --- backends -----------------------------------------------------------------------------------
@dataclass
class Case:
    """One timed thing: a task on a path of a backend, with where it really runs."""

    backend: str
    path: str
    task: str
    device: str
    precision: str
    run: Callable  # (x, cam, root) -> pose (B, 17, 3) numpy
    engine: object = None  # an engine whose last_tto_path is recorded after the timed calls
    info: dict = field(default_factory=dict)


@dataclass
class Setup:
    """What the backends are built from."""

    checkpoint: Path
    model: torch.nn.Module
    tto: TTOConfig
    threads: int
    batches: tuple[int, ...]


def _engine_cases(name: str, engine, device: str, tto_paths=(None,)) -> list[Case]:
    info = engine.describe()
    cases = [Case(name, "forward", "eval", device, engine.precision, lambda x, cam, root: engine.predict(x),
                  engine, info)]
    for fused in tto_paths:
        path = {None: "uao loop", True: "fused", False: "step-loop"}[fused]
        cases.append(Case(name, path, "tto", device, engine.precision,
                          lambda x, cam, root, fused=fused: engine.tto(x, cam, root, fused=fused), engine, info))
    return cases


def _seed_cases(setup: Setup) -> list[Case]:
    seed = SeedStyleTorch(setup.model, setup.tto)
    return [Case("seed-eager", "2 forwards", "eval", "cpu", "fp32", seed.predict),
            Case("seed-eager", "seed loop", "tto", "cpu", "fp32", seed.tto)]


def _torch_cases(setup: Setup, name: str = "torch", device: str = "cpu", compile: bool = False,
                 precision: str = "fp32") -> list[Case]:
    from .. import engines

    engine = engines.load(setup.model, backend="torch", device=device, compile=compile, tto=setup.tto,
                          precision=precision)
    return _engine_cases(name, engine, device)


def _torch_compile_cases(setup: Setup) -> list[Case]:
    return _torch_cases(setup, "torch-compile", compile=True)


def _torch_bf16_cases(setup: Setup) -> list[Case]:
    # Only TTO: its eval (the forward) is float32, the torch row's.
    return [case for case in _torch_cases(setup, "torch-bf16", precision="bf16") if case.task == "tto"]


def _torch_cuda_cases(setup: Setup) -> list[Case]:
    if not torch.cuda.is_available():
        raise UaoError("no CUDA GPU (torch.cuda.is_available() is False)")
    return _torch_cases(setup, "torch-cuda", device="cuda")


def _onnxruntime_cases(setup: Setup) -> list[Case]:
    from .. import engines
    from ..jobs.verify import exported_graphs

    engine = engines.load(exported_graphs(setup.checkpoint, setup.tto), backend="onnxruntime", providers="cpu",
                          threads=setup.threads)
    return _engine_cases("onnxruntime", engine, "cpu", tto_paths=(False, True))


def _tensorrt_cases(setup: Setup) -> list[Case]:
    from .. import engines
    from ..jobs.verify import built_engines, exported_graphs

    if not torch.cuda.is_available():
        raise UaoError("no CUDA GPU (torch.cuda.is_available() is False)")
    folder = built_engines(exported_graphs(setup.checkpoint, setup.tto), max_batch=max(setup.batches))
    engine = engines.load(folder, backend="tensorrt")
    return _engine_cases("tensorrt", engine, "cuda", tto_paths=(False, True))


# name -> (cases factory, what it is); the order is the table's order.
BACKENDS = {
    "seed-eager": (_seed_cases, "PyTorch eager as the seed runs it: weight gradients on, separate flip forwards, "
                                "torch.optim.Adam, batch-mean loss"),
    "torch": (_torch_cases, "PyTorch, frozen weights, no_grad forwards, the uao_deploy.tto loop"),
    "torch-compile": (_torch_compile_cases, "as torch, with torch.compile (compiles per batch size in warm-up)"),
    "torch-bf16": (_torch_bf16_cases, "as torch, TTO steps with the blocks' U-MLPs in bf16, final pose float32"),
    "onnxruntime": (_onnxruntime_cases, "ONNX Runtime CPU: forward graph, step graph looped on the host, "
                                        "fused TTO graph"),
    "tensorrt": (_tensorrt_cases, "TensorRT engines on the GPU: forward, step loop, fused TTO"),
    "torch-cuda": (_torch_cuda_cases, "as torch, on the GPU"),
}
DEFAULT_BACKENDS = tuple(name for name in BACKENDS if name != "torch-compile")


# --- the run ------------------------------------------------------------------------------------
def tile_inputs(pairs: dict, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, cam, root) of ``batch`` frames, repeating the available frames as needed."""
    rows = np.arange(batch) % len(pairs["x"])
    return tuple(np.ascontiguousarray(pairs[key][rows]) for key in ("x", "cam", "root"))


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
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    for device, precision in sorted(wanted):
        key = f"{device} {precision}"
        peaks[key] = max(peaks.get(key, 0.0), matmul_peak(dtypes.get(precision, torch.float32), device))


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
    """Each row's speed-up over seed-eager on the same task and batch (ratio of medians)."""
    baseline = {(r["task"], r["batch"]): r["p50_ms"] for r in rows
                if r["backend"] == "seed-eager" and r["status"] == "ok"}
    for row in rows:
        key = (row["task"], row["batch"])
        if row["status"] == "ok" and key in baseline:
            row["speedup_vs_seed"] = baseline[key] / row["p50_ms"]


def run_benchmark(checkpoint=None, backends=DEFAULT_BACKENDS, batches=DEFAULT_BATCHES, tto_iters: int = 4,
                  iters: int | None = None, seconds: float | None = 2.0, warmup: int = 1, threads: int | None = None,
                  pairs: dict | None = None, log: Callable[[str], None] = lambda message: None,
                  progress: Callable[[dict], None] = lambda report: None) -> dict:
    """Time every backend's cases at every batch size; returns the JSON-ready report.

    A backend that cannot start on this machine becomes a "skipped" entry with its reason and a
    case that fails (or would not fit in memory) becomes an "error" row; the others still run.
    ``pairs``: inputs as from :func:`uao_deploy.jobs.verify.load_pairs` (default: the embedded sample).
    ``progress(report)`` is called after each batch size with the rows so far (``complete`` False).
    """
    from ..jobs.verify import load_pairs

    unknown = [name for name in backends if name not in BACKENDS]
    if unknown:
        raise UaoError(f"unknown backend {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if not batches or min(batches) < 1 or tto_iters < 1 or warmup < 0 or (iters is not None and iters < 1):
        raise UaoError("batch sizes, --tto-iters and --iters must be at least 1 and --warmup at least 0")
    threads = threads or torch.get_num_threads()
    checkpoint = Path(default_checkpoint() if checkpoint is None else checkpoint)
    pairs = load_pairs() if pairs is None else pairs
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)  # every backend on the same number of cores, ORT included
    try:
        model = load_checkpoint(checkpoint)
        setup = Setup(checkpoint, model, TTOConfig(iters=tto_iters), threads, tuple(batches))
        cases, skipped = [], []
        for name in backends:
            try:
                cases += BACKENDS[name][0](setup)
                log(f"{name}: ready")
            except Exception as exc:  # no GPU, a missing package, a failed export: the others still run
                reason = str(exc) if isinstance(exc, UaoError) else f"failed to start: {type(exc).__name__}: {exc}"
                skipped.append({"backend": name, "reason": reason})
                log(f"{name}: skipped ({reason})")
        peaks = {}
        _probe_peaks(cases, peaks)
        report = {
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(threads),
            "checkpoint": {"path": str(checkpoint), "sha256": file_sha256(checkpoint),
                           "config": model.config.to_dict()},
            "tto": setup.tto.to_dict(),
            "settings": {"batches": list(batches), "iters": iters, "seconds": seconds, "warmup": warmup,
                         "threads": threads, "throughput": "batch / p50 latency"},
            "inputs": pairs.get("source"),
            "flops_per_pose": {"forward": forward_flops(model.config),
                               **{task: flops_per_pose(model.config, task, tto_iters) for task in TASKS}},
            "peak_gflop_per_s": {},
            "backends": {name: BACKENDS[name][1] for name in backends},
            "skipped": skipped,
            "rows": [],
            "complete": False,
        }
        for _ in _time_cases(cases, setup, pairs, iters, seconds, warmup, report["rows"], log):
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


def _time_cases(cases, setup, pairs, iters, seconds, warmup, rows, log):
    """Append one row per case to ``rows``, batch size by batch size; yields after each batch size.

    At each batch size every case first runs once alone (its result is compared with the torch
    reference and its memory measured), then all are timed in turns (:func:`time_interleaved`).
    """
    reference_engine = next((case.engine for case in cases if case.backend == "torch"), None)
    if reference_engine is None:
        from .. import engines
        reference_engine = engines.load(setup.model, backend="torch", tto=setup.tto)
    memory = {}  # case index -> (frames per call, extra bytes it needed)
    for batch in setup.batches:
        x, cam, root = tile_inputs(pairs, batch)
        reference = {"eval": reference_engine.predict(x).astype(np.float64),
                     "tto": reference_engine.tto(x, cam, root).astype(np.float64)}
        batch_rows, ready = [], []
        for index, case in enumerate(cases):
            row = {"backend": case.backend, "path": case.path, "task": case.task, "device": case.device,
                   "precision": case.precision, "batch": batch}
            try:
                _check_memory(memory.get(index), _frames_per_call(case, batch))
                before = _start_memory_watch()
                pose = case.run(x, cam, root)  # the first call: compared, and the first warm-up call
                memory[index] = (_frames_per_call(case, batch), max(_peak_rss() - before, 0))  # pages freed meanwhile
                ran = case.engine.last_tto_path if case.task == "tto" and case.engine is not None else None
                ready.append((len(batch_rows), case, pose, memory[index][1], ran))
            except Exception as exc:  # reported in its row; the other cases still run
                row.update(status="error", error=_message(exc))
            batch_rows.append(row)
        timings = time_interleaved([functools.partial(case.run, x, cam, root) for _, case, *_ in ready],
                                   max(warmup - 1, 0), iters, seconds)
        for (position, case, pose, extra, ran), times in zip(ready, timings):
            if isinstance(times, Exception):
                batch_rows[position].update(status="error", error=_message(times))
                continue
            row = _row(case, batch, latency(times), flops_per_pose(setup.model.config, case.task, setup.tto.iters), ran)
            row["extra_memory_mb"] = extra / 2 ** 20
            _differences(row, pose, reference[case.task])
            batch_rows[position] = row
        for row in batch_rows:
            rows.append(row)
            log(_line(row))
        yield batch


def _message(exc: Exception) -> str:
    return str(exc) if isinstance(exc, UaoError) else f"{type(exc).__name__}: {exc}"


# --- memory: a case that would not fit is reported, not run into the out-of-memory killer ----------
def _proc_kib(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _start_memory_watch() -> int:
    """Reset this process's peak RSS (Linux) and return the current RSS in bytes (0 if unknown)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _proc_kib("/proc/self/status", "VmRSS") or 0


def _peak_rss() -> int:
    return _proc_kib("/proc/self/status", "VmHWM") or 0


def _frames_per_call(case: Case, batch: int) -> int:
    """Frames one graph call of the case holds: engines split batches above their ``max_batch``."""
    if case.engine is None:
        return batch
    limits = [case.engine.max_batch(graph) for graph in ("forward", "tto_step", "tto_fused")]
    return min([batch] + [limit for limit in limits if limit])


def _check_memory(previous: tuple[int, int] | None, batch: int) -> None:
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


# --- where the time goes --------------------------------------------------------------------------
def _top_ops(durations: dict[str, float], calls: int, rows: int) -> list[dict]:
    total = sum(durations.values())
    top = sorted(durations.items(), key=lambda item: -item[1])[:rows]
    return [{"op": op, "ms_per_call": us / calls / 1e3, "share": us / total} for op, us in top]


def profile_torch(call: Callable[[], object], calls: int = 3, rows: int = 8) -> list[dict]:
    """Operators by self CPU time over ``calls`` calls (torch.profiler), largest first."""
    from torch.profiler import ProfilerActivity, profile

    call()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(calls):
            call()
    durations = {event.key: event.self_cpu_time_total for event in profiler.key_averages()}
    return _top_ops(durations, calls, rows)


def profile_onnxruntime(graph: Path, feeds: dict[str, np.ndarray], threads: int, calls: int = 3,
                        rows: int = 8) -> list[dict]:
    """Operator types by kernel time over ``calls`` runs of one ONNX graph (ONNX Runtime's profiler)."""
    import onnxruntime

    folder = Path(tempfile.mkdtemp(prefix="uao-ort-profile-"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "ort")
    try:
        session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        for _ in range(calls + 1):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    first_run = min((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    warm = first_run["ts"] + first_run["dur"]  # the first run is a warm-up: count only the later ones
    durations: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= warm:
            op = event["args"]["op_name"]
            durations[op] = durations.get(op, 0.0) + event["dur"]
    return _top_ops(durations, calls, rows)


def profile_backends(checkpoint=None, batch: int = 64, tto_iters: int = 4, threads: int | None = None,
                     pairs: dict | None = None) -> dict:
    """Where TTO spends its time at one batch size: seed-eager, torch and ONNX Runtime's graphs."""
    from ..jobs.verify import exported_graphs, load_pairs

    threads = threads or torch.get_num_threads()
    checkpoint = Path(default_checkpoint() if checkpoint is None else checkpoint)
    x, cam, root = tile_inputs(load_pairs() if pairs is None else pairs, batch)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        setup = Setup(checkpoint, load_checkpoint(checkpoint), TTOConfig(iters=tto_iters), threads, (batch,))
        profiles = {}
        for name in ("seed-eager", "torch"):
            for case in BACKENDS[name][0](setup):
                if case.task == "tto":
                    profiles[f"{name} {case.path}"] = profile_torch(lambda: case.run(x, cam, root))
        folder = exported_graphs(checkpoint, setup.tto)
        profiles["onnxruntime tto_fused.onnx"] = profile_onnxruntime(folder / "tto_fused.onnx",
                                                                     {"x": x, "cam": cam, "root": root}, threads)
    finally:
        torch.set_num_threads(previous_threads)
    return {"batch": batch, "threads": threads, "tto_iters": tto_iters, "profiles": profiles}


def format_profile(profile: dict) -> str:
    lines = [f"## Where TTO spends its time (batch {profile['batch']}, {profile['threads']} threads, "
             f"K = {profile['tto_iters']})", ""]
    for name, ops in profile["profiles"].items():
        lines += [f"**{name}**", "", "| op | ms per call | share |", "|---|---|---|"]
        lines += [f"| `{op['op']}` | {op['ms_per_call']:.2f} | {op['share']:.1%} |" for op in ops]
        lines.append("")
    return "\n".join(lines)


# --- output -------------------------------------------------------------------------------------
COLUMNS = (  # (header, row key, format)
    ("backend", "backend", "{}"), ("path", "path", "{}"), ("task", "task", "{}"), ("device", "device", "{}"),
    ("prec", "precision", "{}"), ("batch", "batch", "{}"), ("p50 ms", "p50_ms", "{:.2f}"),
    ("p90 ms", "p90_ms", "{:.2f}"), ("p99 ms", "p99_ms", "{:.2f}"), ("poses/s", "poses_per_s", "{:.1f}"),
    ("GFLOP/s", "gflop_per_s", "{:.1f}"), ("% peak", "share_of_peak", "{:.1%}"),
    ("x seed", "speedup_vs_seed", "{:.2f}"), ("max diff mm", "diff_max_mm", "{:.3f}"),
    ("mean diff mm", "diff_mean_mm", "{:.3f}"), ("extra MiB", "extra_memory_mb", "{:.0f}"),
)


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [fmt.format(row[key]) if key in row else "" for _, key, fmt in COLUMNS[:6]] + [row["error"]]
    return [fmt.format(row[key]) if row.get(key) is not None else "-" for _, key, fmt in COLUMNS]


def _line(row: dict) -> str:
    return "  ".join(_cells(row))


def format_table(report: dict) -> str:
    """Fixed-width text table of every row, then the skipped backends."""
    table = [[header for header, _, _ in COLUMNS]] + [_cells(row) for row in report["rows"]]
    # an error message fills the rest of its line and does not widen the columns it passes over
    widths = [max(len(cells[i]) for cells in table if len(cells) == len(COLUMNS)) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(cells)).rstrip()
             for cells in table]
    lines.insert(1, "-" * len(lines[0]))
    lines += [f"skipped {entry['backend']}: {entry['reason']}" for entry in report["skipped"]]
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as a self-contained markdown page (machine, settings, counting rule, tables)."""
    machine, settings = report["machine"], report["settings"]
    config = report["checkpoint"]["config"]
    flops = report["flops_per_pose"]
    gpu = f", GPU {machine['gpu']} (CUDA {machine['cuda']})" if machine.get("gpu") else ", no GPU"
    timing = (f"{settings['iters']} timed calls" if settings["iters"]
              else f"at least {settings['seconds']:g} s and 3 calls")
    lines = [
        f"# uao bench: GUMLP {config['channels']}x{config['layers']}, {report['date'][:10]}",
        "",
        f"- machine: {machine['cpu']} ({', '.join(machine['cpu_features']) or 'no AVX2'}), "
        f"{machine['logical_cores']} logical cores, {settings['threads']} threads used"
        f"{gpu}; load average at start {machine['load_average'][0]:.2f}",
        f"- software: torch {machine['torch']}, onnxruntime {machine.get('onnxruntime')}, python {machine['python']}",
        f"- checkpoint: `{Path(report['checkpoint']['path']).name}` (sha256 {report['checkpoint']['sha256'][:12]}), "
        f"TTO {report['tto']['iters']} iterations, flip {report['tto']['flip']}",
        f"- inputs: {report['inputs']}",
        f"- timing: {settings['warmup']} warm-up call(s), then {timing} per row, all rows of a batch size "
        "timed in turns; throughput = batch / p50",
        f"- FLOPs per pose: forward {flops['forward'] / 1e6:.1f} M, eval {flops['eval'] / 1e9:.3f} G, "
        f"TTO {flops['tto'] / 1e9:.3f} G (counting rule in `uao_deploy/bench.py`)",
        "- peak (best 2048^3 matrix product of probes at the start and after each batch size): "
        + ", ".join(f"{key} {value:.0f} GFLOP/s" for key, value in report["peak_gflop_per_s"].items()),
        "- `x seed`: the seed-eager row's p50 over this row's, same task and batch; `max diff mm`: largest "
        "coordinate difference to PyTorch float32 on the same inputs; `mean diff mm`: mean joint distance to it; "
        "`extra MiB`: peak resident memory of the row above what the process held before it",
        "",
    ]
    if not report.get("complete", True):
        lines[1:1] = ["", "**Partial run**: the rows below are all that finished.", ""]
    for task in TASKS:
        rows = [row for row in report["rows"] if row["task"] == task]
        if not rows:
            continue
        lines += [f"## {'Evaluation (flip-averaged forward)' if task == 'eval' else 'TTO'}", ""]
        headers = [header for header, _, _ in COLUMNS if header != "task"]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        for row in rows:
            cells = [cell for (header, _, _), cell in zip(COLUMNS, _cells(row)) if header != "task"]
            if row["status"] != "ok":
                cells = cells[:5] + [row["error"]] + [""] * (len(headers) - 6)
            lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
        lines.append("")
    if report["skipped"]:
        lines += ["## Skipped", ""] + [f"- {entry['backend']}: {entry['reason']}" for entry in report["skipped"]] + [""]
    if "profile" in report:
        lines.append(format_profile(report["profile"]))
    return "\n".join(lines)


def result_stem(report: dict) -> str:
    """``<date>-<hhmm>_<machine>_<model>``, e.g. ``2026-11-24-0303_amd-epyc-2c_gumlp256x3``."""
    machine = report["machine"]
    name = re.sub(r"[^a-z0-9]+", "-", machine["cpu"].lower()).strip("-")[:24] + f"-{machine['logical_cores']}c"
    if machine.get("gpu"):
        name += "_" + re.sub(r"[^a-z0-9]+", "-", machine["gpu"].lower()).strip("-")[:24]
    config = report["checkpoint"]["config"]
    started = report["date"][:10] + "-" + report["date"][11:16].replace(":", "")
    return f"{started}_{name}_gumlp{config['channels']}x{config['layers']}"


def plot(report: dict, path: Path) -> None:
    """Poses per second against batch size, one line per backend path, one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import NullLocator

    figure, axes = pyplot.subplots(1, len(TASKS), figsize=(12, 4.5))
    for axis, task in zip(axes, TASKS):
        series = {}
        for row in report["rows"]:
            if row["task"] == task and row["status"] == "ok":
                series.setdefault(f"{row['backend']} {row['path']} ({row['device']})", []).append(
                    (row["batch"], row["poses_per_s"]))
        for label, points in series.items():
            axis.plot(*zip(*sorted(points)), marker="o", label=label)
        axis.set(xscale="log", yscale="log", xlabel="batch", ylabel="poses / s",
                 title="evaluation (flip)" if task == "eval" else f"TTO, {report['tto']['iters']} iterations")
        axis.set_xticks(report["settings"]["batches"], [str(b) for b in report["settings"]["batches"]])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.grid(True, which="both", alpha=0.3)
        if series:
            axis.legend(fontsize=7)
    figure.suptitle(f"{result_stem(report)} ({report['settings']['threads']} threads)", fontsize=9)
    figure.tight_layout()
    atomic_write_bytes(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    pyplot.close(figure)


def write_results(report: dict, out_dir) -> dict[str, Path]:
    """Markdown, JSON and PNG named by date, machine and model under ``out_dir``, plus latest.md."""
    out_dir = Path(out_dir)
    stem = result_stem(report)
    markdown = format_markdown(report)
    paths = {"markdown": out_dir / f"{stem}.md", "json": out_dir / f"{stem}.json", "png": out_dir / f"{stem}.png",
             "latest": out_dir / "latest.md"}
    for key, text in (("markdown", markdown), ("json", json.dumps(report, indent=2) + "\n"), ("latest", markdown)):
        atomic_write_bytes(paths[key], lambda tmp, text=text: Path(tmp).write_text(text))
    plot(report, paths["png"])
    return paths
