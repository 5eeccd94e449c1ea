"""Sequence mode on a very long video with a real exported engine: time per frame and peak memory.

Lifts FRAMES frames (the embedded sample's keypoints repeated, with 2 px noise) through
:func:`uao_deploy.pipeline.lift` in sequence mode on the ONNX Runtime engine of an export folder,
as ``uao infer`` does, and prints the time per frame and the process's peak resident memory (read
from the kernel). What grows with the video is the core's per-frame arrays and banded solves; the
engine runs one window per call, so its memory is that of one window whatever the length.

    python benchmarks/infer_long.py [--frames 200000] [--engine EXPORT_DIR] [--threads 1] [--out benchmarks/results]

Without ``--engine`` the embedded model's cached export is used (exported on first use).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

import uao_deploy
from uao_deploy import engines
from uao_deploy.contract import read_manifest
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.pipeline import LiftSettings, camera_of, lift

# The embedded sample by path: uao_deploy.data.sample imports torch, which `uao infer` on an export does not hold.
SAMPLE_PATH = Path(uao_deploy.__file__).parent / "assets" / "sample_keypoints.npz"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--engine", type=Path, help="export folder (`uao export --out DIR`); default: the cached export")
    parser.add_argument("--out", type=Path, help="folder for <date>_infer_long.md and .json")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads [default: its own, one per core]")
    args = parser.parse_args()
    if args.engine is None:
        from uao_deploy.jobs.infer import default_export

        args.engine = default_export()
    sample, = read_keypoints(SAMPLE_PATH)
    repeats = -(-args.frames // len(sample))
    pixels = np.tile(sample.pixels, (repeats, 1, 1))[:args.frames]
    pixels = pixels + np.random.default_rng(0).normal(0, 2, pixels.shape).astype(np.float32)
    keypoints = np.concatenate([pixels, np.tile(sample.confidence, (repeats, 1))[:args.frames, :, None]], axis=-1)
    load = [os.getloadavg()[0]]
    with engines.load(args.engine, backend="onnxruntime", threads=args.threads) as engine:
        engine_mb = peak_rss_mb()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = lift(keypoints, engine, camera_of(sample), LiftSettings(engine.sequence_config.iters, "sequence"))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    load.append(os.getloadavg()[0])
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "frames": args.frames,
              "engine": str(args.engine), "architecture": engine.architecture,
              "model_config": read_manifest(args.engine).get("model_config"),
              "cores": os.cpu_count(), "ort_threads": args.threads, "load_average_1min": load, "lift_s": seconds, "lift_cpu_s": cpu_seconds,
              "ms_per_frame": 1000 * seconds / args.frames, "cpu_ms_per_frame": 1000 * cpu_seconds / args.frames,
              "peak_rss_mb_engine_open": engine_mb, "peak_rss_mb": peak_rss_mb(),
              "finite": bool(np.isfinite(result.poses_3d).all() and np.isfinite(result.root).all())}
    print(f"{args.frames} frames, sequence mode, ONNX Runtime ({args.engine}): {report['ms_per_frame']:.2f} ms/frame "
          f"({report['cpu_ms_per_frame']:.2f} CPU ms/frame), peak RSS {report['peak_rss_mb']:.0f} MB "
          f"({engine_mb:.0f} MB with the engine open), load {min(load):.1f}-{max(load):.1f}; "
          f"poses and root finite: {report['finite']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.out / f"{dt.datetime.now():%Y-%m-%d-%H%M}_infer_long_{args.frames}"
        Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
        Path(f"{stem}.md").write_text(
            f"# Sequence mode on {args.frames:,} frames, ONNX Runtime ({report['date']})\n\n"
            f"`python benchmarks/infer_long.py --frames {args.frames} --engine {args.engine}`; model "
            f"{report['architecture'].get('name')} {report['model_config']}; {report['cores']} cores, 1-min load "
            f"{min(load):.1f}-{max(load):.1f} (shared machine).\n\n"
            "| frames | ms/frame | CPU ms/frame | peak RSS MB | with the engine open, before lifting | finite |\n"
            "|---|---|---|---|---|---|\n"
            f"| {args.frames} | {report['ms_per_frame']:.2f} | {report['cpu_ms_per_frame']:.2f} | "
            f"{report['peak_rss_mb']:.0f} | {engine_mb:.0f} MB | {report['finite']} |\n")


if __name__ == "__main__":
    main()
