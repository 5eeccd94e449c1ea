"""Video modes side by side: per-frame UAO, sequence UAO and causal sequence UAO on one keypoint video.

Each mode lifts the same video with ``uao infer``'s own :func:`~uao_deploy.pipeline.lift` (frame:
per-frame root and fused UAO; sequence: smooth trajectory, fused sequence UAO in windows,
smoothing; causal: frame by frame, past frames only). The modes run in turns, so the machine's
drift hits all alike; the medians of the turns are reported as ms per frame, the ratio sequence /
frame (target: at most 1.3) and the causal mode's per-frame latency (25 fps at batch 1 needs < 40 ms).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ..fileio import atomic_write_bytes

MODES = ("frame", "sequence", "causal")
FRAME_BUDGET_MS = 40.0  # 25 fps


def video_speed(sequence, engine, iters: int = 4, turns: int = 3) -> dict:
    """Time every mode ``turns`` times in turns on ``sequence`` (a KeypointSequence) with ``engine``."""
    from ..pipeline import LiftSettings, camera_of, lift

    camera = camera_of(sequence)
    lift(sequence, engine, camera, LiftSettings(iters, "frame"))  # warm-up: sessions, caches
    ms_per_frame = {name: [] for name in MODES}
    latency = []
    load = [os.getloadavg()[0]]
    for _ in range(turns):
        for name in MODES:
            started = time.perf_counter()
            result = lift(sequence, engine, camera, LiftSettings(iters, name))
            ms_per_frame[name].append((time.perf_counter() - started) * 1000 / len(sequence))
            if name == "causal":
                latency.append(result.metadata["latency_ms"])
        load.append(os.getloadavg()[0])
    medians = {name: float(np.median(values)) for name, values in ms_per_frame.items()}
    return {
        "kind": "video", "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "load_average_1min": load,
        "engine": engine.describe(), "frames": len(sequence), "source": sequence.source, "iters": iters,
        "turns": turns, "ms_per_frame": ms_per_frame, "median_ms_per_frame": medians,
        "sequence_over_frame": medians["sequence"] / medians["frame"],
        "causal_latency_ms": {key: float(np.median([turn[key] for turn in latency])) for key in ("mean", "p95", "max")},
    }


def format_video_speed(report: dict) -> str:
    load = report["load_average_1min"]
    lines = [f"# Video-mode speed ({report['date']}, {report['cores']} cores, load {min(load):.1f}-{max(load):.1f})", "",
             f"{report['frames']} frames of {report['source']}; {report['engine']['backend']}, K = {report['iters']}; "
             f"modes in turns, {report['turns']} turns, medians", "",
             "| mode | ms per frame |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in report["median_ms_per_frame"].items()]
    lines += ["", f"- sequence / frame: **{report['sequence_over_frame']:.2f}x** (target <= 1.3x)",
              "- causal per-frame latency: mean {mean:.1f} ms, p95 {p95:.1f} ms, max {max:.1f} ms ".format(
                  **report["causal_latency_ms"]) + f"(25 fps needs < {FRAME_BUDGET_MS:.0f} ms)"]
    return "\n".join(lines) + "\n"


def write_video_speed(report: dict, out_dir, name: str) -> dict[str, Path]:
    """``<date>_video_speed_<name>.md|json`` under ``out_dir``."""
    stem = Path(out_dir) / f"{dt.datetime.now():%Y-%m-%d-%H%M}_video_speed_{name}"
    paths = {"markdown": Path(f"{stem}.md"), "json": Path(f"{stem}.json")}
    for key, text in (("markdown", format_video_speed(report)), ("json", json.dumps(report, indent=2) + "\n")):
        atomic_write_bytes(paths[key], lambda tmp, text=text: Path(tmp).write_text(text))
    return paths
