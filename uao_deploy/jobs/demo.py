"""``uao demo``: the embedded model on the embedded sample, end to end, with timings and MPJPE."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.keypoints import read_keypoints
from ..fileio import atomic_write_bytes, check_output_folder
from ..pipeline import LiftSettings, camera_of, lift
from .infer import open_engine


def demo(out="demo_out", backend: str = "onnxruntime", iters: int = 4, render: bool = True, render_step: int = 2,
         frames: int | None = None, log=print) -> dict:
    """Export the model (once, into the cache) unless ``backend`` is torch, lift the sample (its first
    ``frames`` frames when given), write OUT/sample_3d.npz (world frame included), OUT/sample_3d.gif
    (every ``render_step``-th frame) and OUT/summary.json; report MPJPE against the sample's ground
    truth and the time of each step; return the summary.
    """
    from ..data.sample import SAMPLE_PATH
    from ..metrics import mpjpe, p_mpjpe

    out = check_output_folder(out)
    settings = LiftSettings(iters=iters)
    timings = {}
    started = time.perf_counter()
    engine = open_engine(backend, iters=iters)
    timings["export_and_load"] = time.perf_counter() - started
    log(f"engine: {engine.backend} ({timings['export_and_load']:.1f} s to export or find in the cache, and load)")
    sequence, = read_keypoints(SAMPLE_PATH)
    sequence = replace(sequence, pixels=sequence.pixels[:frames], confidence=sequence.confidence[:frames])
    with engine:
        result = lift(sequence, engine, camera_of(sequence), settings)
    timings.update({f"lift_{k}": v for k, v in result.metadata["timings_s"].items()})
    path = result.write(out / "sample_3d.npz")
    log(f"lifted {len(sequence)} frames -> {path}: root {timings['lift_root']:.2f} s, "
        f"TTO ({iters} iterations) {timings['lift_tto']:.2f} s, {timings['lift_ms_per_frame']:.1f} ms/frame")

    with np.load(SAMPLE_PATH) as sample:
        truth, root_truth = sample["poses_3d_gt"][:frames], sample["root_gt"][:frames]
    metrics = {"mpjpe_mm_no_tto": float(mpjpe(result.poses_3d_initial, truth).mean() * 1000),
               "mpjpe_mm": float(mpjpe(result.poses_3d, truth).mean() * 1000),
               "p_mpjpe_mm": float(p_mpjpe(result.poses_3d, truth).mean() * 1000),
               "root_error_mm": float(np.linalg.norm(result.root - root_truth, axis=-1).mean() * 1000)}
    log(f"MPJPE {metrics['mpjpe_mm']:.1f} mm (without TTO {metrics['mpjpe_mm_no_tto']:.1f} mm), "
        f"P-MPJPE {metrics['p_mpjpe_mm']:.1f} mm, estimated root off by {metrics['root_error_mm']:.0f} mm on average")

    if render:
        from ..viz.render import render_animation

        started = time.perf_counter()
        animation = render_animation(result.keypoints_2d, result.poses_3d, out / "sample_3d.gif",
                                     sequence.width, sequence.height, fps=sequence.fps, title="uao demo",
                                     step=render_step, root=result.root)
        timings["render"] = time.perf_counter() - started
        log(f"animation -> {animation} ({timings['render']:.1f} s)")
    summary = {"metrics": metrics, "timings_s": timings, "engine": result.metadata["engine"],
               "sample": str(SAMPLE_PATH)}
    atomic_write_bytes(out / "summary.json",
                       lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2, default=str) + "\n"))
    return summary
