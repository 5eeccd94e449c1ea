"""Independent pieces of an export (the trace of each graph, the check of each graph) side by side.

Tracing and checking are mostly single-threaded Python, so on Linux the pieces run in forked worker
processes, one per core (at most 4; ``UAO_EXPORT_WORKERS`` sets the number, 1 runs them in this
process): a fork inherits the functions and the model, and only the results travel back.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable

import torch


def export_workers() -> int:
    """Worker processes: $UAO_EXPORT_WORKERS, else one per core (at most 4); 1 where fork is not safe
    (not Linux, or CUDA already started in this process)."""
    if sys.platform != "linux" or (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return 1
    if os.environ.get("UAO_EXPORT_WORKERS"):
        return max(1, int(os.environ["UAO_EXPORT_WORKERS"]))
    return min(4, len(os.sched_getaffinity(0)))


def side_by_side(work: Callable, jobs: dict, done: Callable[[str, object, float], None]) -> dict:
    """``{name: work(name, *jobs[name])}``, started in the order of ``jobs`` (longest first pays);
    ``done(name, result, seconds)`` runs here as each finishes. Results must pickle. A failure
    (or Ctrl-C, SIGTERM) stops the other workers and is raised here."""
    workers = min(len(jobs), export_workers())
    results = {}
    if workers < 2:
        for name, arguments in jobs.items():
            start = time.perf_counter()
            results[name] = work(name, *arguments)
            done(name, results[name], time.perf_counter() - start)
        return results
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
                               initargs=(work, jobs))
    try:
        for future in as_completed([pool.submit(_run_job, name) for name in jobs]):
            name, result, seconds = future.result()
            results[name] = result
            done(name, result, seconds)
    except BaseException:  # the other jobs are not waited for
        for process in list(pool._processes.values()):
            process.kill()
        raise
    finally:
        pool.shutdown(cancel_futures=True)
    return {name: results[name] for name in jobs}


_WORKER: dict = {}


def _start_worker(work: Callable, jobs: dict) -> None:
    _WORKER.update(work=work, jobs=jobs)
    torch.set_num_threads(1)  # small batches and symbolic tracing: the workers share the cores


def _run_job(name: str) -> tuple[str, object, float]:
    start = time.perf_counter()
    result = _WORKER["work"](name, *_WORKER["jobs"][name])
    return name, result, time.perf_counter() - start
