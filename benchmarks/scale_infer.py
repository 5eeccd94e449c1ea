"""Frames per second of the many-files ``uao infer`` job: one process, Ray with 1 and 2 workers, and
what Ray adds per file.

The corpus is real motion: CMU clips from ../shared/data/cmu_h36m17/test.npz seen through a
Human3.6M test camera with 4 px detector noise (:func:`uao_deploy.data.mocap.evaluation_pairs`),
written as plain keypoint files (pixels, image size, focal length, principal point).

    python benchmarks/scale_infer.py                       # 16 files x 128 frames, 64 files x 8 frames
    python benchmarks/scale_infer.py --files 32 --frames 128 --tto-iters 4

Writes benchmarks/results/<date>-<hhmm>_<machine>_scale.md and .json. Every mode lifts the same
files with the same exported graphs (the embedded model's ONNX export, made once before timing).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from uao_deploy import engines
from uao_deploy.bench.run import machine_info
from uao_deploy.camera import image_coordinates
from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
from uao_deploy.data.mocap import NoiseModel, evaluation_pairs, load_mocap
from uao_deploy.fileio import write_json
from uao_deploy.jobs.batch import JobSettings, expand_inputs, run_batch
from uao_deploy.jobs.infer import default_export
from uao_deploy.jobs.ray_batch import infer_on_ray

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_h36m17" / "test.npz"


def write_corpus(folder: Path, files: int, frames: int) -> int:
    """``files`` keypoint files of ``frames`` consecutive frames each, cut from the test clips."""
    camera = cameras_of(TEST_SUBJECTS)[0]
    pairs = evaluation_pairs(load_mocap(DATA), [camera], NoiseModel(4.0, 4.0), seed=0)
    pixels = image_coordinates(pairs["x"], camera.width, camera.height)
    if files * frames > len(pixels):
        raise SystemExit(f"{DATA} has {len(pixels)} frames; asked for {files} x {frames}")
    focal = (camera.intrinsics[:2] * camera.width / 2).astype(np.float32)
    center = image_coordinates(camera.intrinsics[None, 2:4], camera.width, camera.height)[0]
    folder.mkdir(parents=True)
    for index in range(files):
        part = slice(index * frames, (index + 1) * frames)
        np.savez(folder / f"clip{index:04d}.npz", keypoints=pixels[part], width=camera.width, height=camera.height,
                 focal=focal, center=center)
    return files * frames


def one_process(corpus: Path, out: Path, export: Path, settings: JobSettings, threads: int) -> dict:
    started = time.perf_counter()
    with engines.load(export, backend="onnxruntime", threads=threads) as engine:
        loaded = time.perf_counter()
        summary = run_batch(expand_inputs([corpus]), out, engine, settings, log=lambda line: None)
    return {"wall_s": time.perf_counter() - started, "load_s": loaded - started, "job_s": summary.seconds,
            "frames": summary.frames, "files": summary.count("done")}


def on_ray(corpus: Path, out: Path, export: Path, settings: JobSettings, workers: int, resume: bool = False) -> dict:
    started = time.perf_counter()
    summary = infer_on_ray([corpus], out, settings, workers=workers, engine_dir=export, resume=resume,
                           log=lambda line: None)
    return {"wall_s": time.perf_counter() - started, "job_s": summary.seconds, "frames": summary.frames,
            "files": summary.count("done"), "skipped": summary.count("skipped")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--small-files", type=int, default=64, help="files of --small-frames for the per-file cost")
    parser.add_argument("--small-frames", type=int, default=8)
    parser.add_argument("--tto-iters", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="every mode runs once per round, in turns")
    args = parser.parse_args()

    import ray

    settings = JobSettings(iters=args.tto_iters)
    export = default_export(iters=args.tto_iters)
    work = Path(tempfile.mkdtemp(prefix="uao-scale-"))
    rows = []
    try:
        big = work / "big"
        small = work / "small"
        total = write_corpus(big, args.files, args.frames)
        write_corpus(small, args.small_files, args.small_frames)

        def record(mode, corpus, run):
            load = os.getloadavg()[0]  # the machine is shared: each row says how busy it was
            result = run()
            result.update(mode=mode, corpus=corpus, load_average=load, round=len(rows) // 6,
                          fps=result["frames"] / result["job_s"] if result["frames"] else 0)
            rows.append(result)
            print(json.dumps(result))

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        cluster_start = time.perf_counter() - started
        for round_ in range(args.rounds):
            fresh = work / f"round{round_}"
            record("one process, 1 thread", "big", lambda: one_process(big, fresh / "o", export, settings, 1))
            for workers in (1, 2):
                record(f"ray, {workers} worker(s)", "big",
                       lambda: on_ray(big, fresh / f"r{workers}", export, settings, workers))
            record("ray, 2 workers, --resume over finished outputs", "big",
                   lambda: on_ray(big, fresh / "r2", export, settings, 2, resume=True))
            record("one process, 1 thread", "small", lambda: one_process(small, fresh / "s1", export, settings, 1))
            record("ray, 1 worker(s)", "small", lambda: on_ray(small, fresh / "s2", export, settings, 1))
        ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def median_job_s(mode, corpus):
        return float(np.median([r["job_s"] for r in rows if r["mode"] == mode and r["corpus"] == corpus]))

    per_file_ms = 1000 * (median_job_s("ray, 1 worker(s)", "small")
                          - median_job_s("one process, 1 thread", "small")) / args.small_files
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(threads=0),
              "model": "embedded default (GUMLP 256x3), ONNX Runtime CPU, fused TTO",
              "tto_iters": args.tto_iters, "corpus": {"big": [args.files, args.frames], "small": [args.small_files,
                                                                                             args.small_frames]},
              "frames": total, "ray_cluster_start_s": cluster_start, "ray_overhead_per_file_ms": per_file_ms,
              "rows": rows}
    stem = datetime.now(timezone.utc).strftime("%Y-%m-%d-%H%M") + "_" + _machine_tag() + "_scale"
    write_json(RESULTS / f"{stem}.json", report)
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))


def _machine_tag() -> str:
    return f"{os.cpu_count()}c"


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [f"# uao infer over many files: one process and Ray, {report['date'][:10]}", "",
             f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores, no GPU; load average at start "
             f"{machine['load_average'][0]:.2f}",
             f"- model: {report['model']}, {report['tto_iters']} TTO iterations",
             f"- corpus: big = {report['corpus']['big'][0]} files x {report['corpus']['big'][1]} frames "
             f"({report['frames']} frames), small = {report['corpus']['small'][0]} files x "
             f"{report['corpus']['small'][1]} frames; CMU test clips through a Human3.6M test camera, 4 px noise",
             f"- `job s`: from the first file to the last result (Ray: the dataset's execution, with actor start-up); "
             f"`wall s`: the whole call (Ray: with the engine check on a worker); the local cluster took "
             f"{report['ray_cluster_start_s']:.1f} s to start (not in the rows)",
             f"- Ray's cost per file (small files, median job time of 1 worker minus one process with 1 thread): "
             f"{report['ray_overhead_per_file_ms']:.0f} ms",
             "- rows in the order they ran; `load` is the 1-minute load average when the row started", "",
             "| round | mode | corpus | files | frames | load | job s | wall s | frames/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        files = row["files"] if not row.get("skipped") else f"{row['skipped']} skipped"
        lines.append(f"| {row['round']} | {row['mode']} | {row['corpus']} | {files} | {row['frames']} | "
                     f"{row['load_average']:.1f} | {row['job_s']:.1f} | {row['wall_s']:.1f} | {row['fps']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
