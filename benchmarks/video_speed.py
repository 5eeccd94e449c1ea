"""Speed of sequence mode against frame mode, and the per-frame latency of --causal, side by side.

    python benchmarks/video_speed.py [--data CLIPS.npz] [--turns 3] [--out benchmarks/results]

Lifts the same keypoint video with ``uao infer``'s own function (:func:`uao_deploy.jobs.infer.lift`)
in frame mode (per-frame root, fused UAO), sequence mode (smooth root trajectory, fused UAO through
it, smoothing) and causal sequence mode, on ONNX Runtime (CPU) with the embedded model, K = 4.
The modes run in turns, so the machine's drift hits all alike; the medians of the turns are
reported as ms per frame, the ratio sequence / frame (issue 12's target: at most 1.3) and the causal
mode's per-frame latency (the target: under 40 ms, i.e. keeping up with 25 fps at batch 1).
Default video: the embedded sample (143 frames of a CMU walk through a Human3.6M camera); with
``--data`` the first clip of a mocap npz through the first test camera with the video noise model.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.jobs.infer import lift, open_engine

MODES = {"frame": ("frame", False), "sequence": ("sequence", False), "causal": ("sequence", True)}


def video(data: Path | None):
    if data is None:
        sequence, = read_keypoints(SAMPLE_PATH)
        return sequence
    from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
    from uao_deploy.data.mocap import load_mocap
    from uao_deploy.data.video_noise import VideoNoiseModel, video_clips

    clips = video_clips(load_mocap(data), cameras_of(TEST_SUBJECTS), VideoNoiseModel(sigma=4.0), 0, cameras_per_clip=1)
    return clips[0].sequence


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="mocap clips (.npz); default: the embedded sample")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    sequence = video(args.data)
    engine = open_engine("onnxruntime", iters=args.iters)
    lift(sequence, engine, args.iters, mode="frame")  # warm-up: sessions, caches
    ms_per_frame = {name: [] for name in MODES}
    latency = []
    load = [os.getloadavg()[0]]
    for _ in range(args.turns):
        for name, (mode, causal) in MODES.items():
            started = time.perf_counter()
            result = lift(sequence, engine, args.iters, mode=mode, causal=causal)
            ms_per_frame[name].append((time.perf_counter() - started) * 1000 / len(sequence))
            if causal:
                latency.append(result.metadata["latency_ms"])
        load.append(os.getloadavg()[0])
    medians = {name: float(np.median(values)) for name, values in ms_per_frame.items()}
    report = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": platform.processor()
        or platform.machine(), "cores": os.cpu_count(), "load_average_1min": load, "frames": len(sequence),
        "source": sequence.source, "iters": args.iters, "ms_per_frame": ms_per_frame, "median_ms_per_frame": medians,
        "sequence_over_frame": medians["sequence"] / medians["frame"],
        "causal_latency_ms": {key: float(np.median([turn[key] for turn in latency])) for key in ("mean", "p95", "max")},
    }
    lines = [f"# Video-mode speed ({report['date']}, {report['cores']} cores, load {min(load):.1f}-{max(load):.1f})", "",
             f"{report['frames']} frames of {report['source']}; ONNX Runtime CPU, embedded model, K = {args.iters}; "
             f"modes in turns, {args.turns} turns, medians", "",
             "| mode | ms per frame |", "|---|---|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in medians.items()]
    lines += ["", f"- sequence / frame: **{report['sequence_over_frame']:.2f}x** (target <= 1.3x)",
              "- causal per-frame latency: mean {mean:.1f} ms, p95 {p95:.1f} ms, max {max:.1f} ms "
              "(25 fps needs < 40 ms)".format(**report["causal_latency_ms"])]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{dt.datetime.now():%Y-%m-%d-%H%M}_video_speed_{args.data.stem if args.data else 'sample'}"
    Path(f"{stem}.md").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
