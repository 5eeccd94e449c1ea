"""Accuracy and CPU time of cheaper sequence-UAO variants against the default, on mocap splits as keypoint videos.

Each variant is an export folder (``uao export``; e.g. one made with a cheaper sequence config),
optionally with another window overlap. Every variant lifts the same videos (`uao eval --video`'s:
the default noise model at ``--noise`` px, focal known, one test camera per clip) in sequence mode,
clip by clip in turn (so all see the same machine load), on ONNX Runtime with one thread. The table
gives MPJPE, P-MPJPE, root error and acceleration error (mm) per split, each variant's difference
from the first with its standard error over clips (paired: same clips, same noise), and CPU seconds.

    python benchmarks/sequence_cuts.py --data ../shared/data/cmu_h36m17/val.npz [--data test.npz] \\
        --variant default=EXPORT_DIR --variant cheaper=OTHER_EXPORT_DIR[:OVERLAP] [--out benchmarks/results]

Writes <out>/<date>_sequence_cuts.md and .json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

from report_files import write_report

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("mpjpe", "p_mpjpe", "root_error", "accel_error")


def parse_variant(text: str) -> tuple[str, Path, int | None]:
    """'label=DIR[:OVERLAP]' -> (label, DIR, overlap or None for the default)."""
    label, _, rest = text.partition("=")
    folder, _, overlap = rest.partition(":")
    return label, Path(folder), int(overlap) if overlap else None


def lift_clip(clip, engine, overlap: int | None) -> tuple[dict, float]:
    """(sequence-uao metrics of one video, CPU seconds) with the window ``overlap`` (None: the default)."""
    from uao_deploy.jobs.video_eval import lift_methods, video_metrics
    from uao_deploy.pipeline import camera_of, prepare, sequence

    defaults = sequence.refine_video.__defaults__
    if overlap is not None:
        sequence.refine_video.__defaults__ = (defaults[0], defaults[1], overlap, defaults[3])
    try:
        keypoints = prepare(clip.sequence, camera_of(clip.sequence))
        started = time.process_time()
        pose, root, contacts = lift_methods(clip, engine, methods=("sequence-uao",), keypoints=keypoints)["sequence-uao"]
        cpu = time.process_time() - started
    finally:
        sequence.refine_video.__defaults__ = defaults
    values = video_metrics(pose, root, clip, keypoints.detected, contacts)
    return {metric: float(values[metric]) for metric in METRICS}, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True, type=Path, help="mocap split .npz (repeat)")
    parser.add_argument("--variant", action="append", required=True, help="label=EXPORT_DIR[:OVERLAP] (repeat)")
    parser.add_argument("--noise", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    from uao_deploy import engines
    from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
    from uao_deploy.data.mocap import load_mocap
    from uao_deploy.data.video_noise import VideoNoiseModel, video_clips

    variants = [parse_variant(text) for text in args.variant]
    opened = {label: engines.load(folder, backend="onnxruntime", threads=1) for label, folder, _ in variants}
    rows, load = [], [os.getloadavg()[0]]
    for path in args.data:
        clips = video_clips(load_mocap(path), cameras_of(TEST_SUBJECTS), VideoNoiseModel(sigma=args.noise),
                            args.seed, include_focal=True, cameras_per_clip=1)
        per_clip = {label: [] for label, _, _ in variants}
        cpu = dict.fromkeys(per_clip, 0.0)
        for clip in clips:
            for label, _, overlap in variants:
                scores, seconds = lift_clip(clip, opened[label], overlap)
                per_clip[label].append(scores)
                cpu[label] += seconds
            load.append(os.getloadavg()[0])
            print(path.stem, clip.clip, {label: scores[-1] for label, scores in per_clip.items()}, flush=True)
        first = variants[0][0]
        for label, _, overlap in variants:
            row = {"split": path.stem, "variant": label, "overlap": overlap, "videos": len(clips),
                   "frames": int(sum(len(clip.root) for clip in clips)), "cpu_s": cpu[label]}
            for metric in METRICS:
                values = np.array([scores[metric] for scores in per_clip[label]])
                difference = values - np.array([scores[metric] for scores in per_clip[first]])
                row[metric] = float(values.mean())
                row[f"{metric}_diff"] = float(difference.mean())
                row[f"{metric}_diff_se"] = float(difference.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "noise_px": args.noise,
              "seed": args.seed, "data": [str(path) for path in args.data], "load_average_1min": load,
              "variants": {label: {"export": str(folder), "overlap": overlap} for label, folder, overlap in variants},
              "rows": rows}
    write_report(args.out, "sequence_cuts", report, markdown(report))


def markdown(report: dict) -> str:
    load = report["load_average_1min"]
    lines = [f"# Cheaper sequence UAO: accuracy and CPU time ({report['date']})", "",
             f"Mocap splits as keypoint videos (`uao eval --video`'s default noise model at {report['noise_px']:g} px, "
             f"seed {report['seed']}, focal known, one test camera per clip), lifted in sequence mode on ONNX "
             f"Runtime with one thread, the variants clip by clip in turn (1-min load {min(load):.1f}-{max(load):.1f}). "
             "mm; in brackets the difference from the first variant, +- its standard error over clips "
             "(paired: the same videos and noise). CPU s: the sequence-mode lifts of the whole split.", "",
             "| split | variant | MPJPE | P-MPJPE | root error | accel error | CPU s |", "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        cells = [f"{row[metric]:.2f} ({row[f'{metric}_diff']:+.2f} +- {row[f'{metric}_diff_se']:.2f})"
                 for metric in METRICS]
        lines.append(f"| {row['split']} | {row['variant']} | " + " | ".join(cells) + f" | {row['cpu_s']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
