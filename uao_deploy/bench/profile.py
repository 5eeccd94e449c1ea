"""Where the time goes: operator profiles of PyTorch and ONNX Runtime."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..contract import FRAME, GRAPHS, TTOConfig
from ..inputs import load_pairs, tile
from ..model import load_checkpoint
from .cases import BACKENDS, Setup


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
    from ..runtimes import ort_session

    folder = Path(tempfile.mkdtemp(prefix="uao-ort-profile-"))
    try:
        session = ort_session(graph, "cpu", threads, profile_prefix=str(folder / "ort"))
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
    from ..export.cache import exported_graphs

    threads = threads or torch.get_num_threads()
    x, cam, root = tile(load_pairs() if pairs is None else pairs, batch)
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
        fused = GRAPHS[FRAME.fused]
        profiles[f"onnxruntime {fused.name}.onnx"] = profile_onnxruntime(
            folder / f"{fused.name}.onnx", dict(zip(fused.input_names, (x, cam, root))), threads)
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
