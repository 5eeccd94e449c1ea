"""`--subject-height` on the evaluation grid: the root error with each clip's true height over without it.

The whole pipeline (sequence UAO, feet planted: the grid's ``sequence-uao``) lifts each video once; the
root is then scored without a height, with the true height (:func:`uao_deploy.pipeline.height.height_scales`,
as the grid's ``sequence-uao+height`` applies it) and with the best constant factor for the clip chosen
with the truth (the most a per-clip scale can do). Per clip it also keeps the log of the best factor times
the lifted-over-true size (``log_k_size``): zero where the root's depth follows the lifted skeleton's size
exactly; its scatter over clips is what a known height cannot take out.

    python benchmarks/subject_height_grid.py --engine EXPORT --split val --split test --clips 6 --frames 120 \\
        --focal both --out benchmarks/results/NAME
One Human3.6M test camera per clip, noise seed 0, 1 ONNX Runtime thread; the target is ratio <= 0.6.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from uao_deploy import engines
from uao_deploy.data.cameras import evaluation_cameras
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import video_clips
from uao_deploy.jobs.video_eval import lift_methods
from uao_deploy.jobs.video_grid import grid_cells, subsample
from uao_deploy.metrics import root_error_parts
from uao_deploy.pipeline.height import SIZE_BIAS, height_scales, skeleton_height

TARGET = 0.6
FACTORS = np.exp(np.linspace(-0.2, 0.2, 401))  # the best constant factor is searched within +-20 %


def root_error(root: np.ndarray, truth: np.ndarray) -> float:
    return 1000 * float(np.linalg.norm(root - truth, axis=-1).mean())


def score_video(video, engine, iters: int) -> dict:
    pose, root, _, _ = lift_methods(video, engine, iters, ["sequence-uao"])["sequence-uao"]
    _, root_scale = height_scales(pose, skeleton_height(video.target))
    best = float(FACTORS[np.argmin([np.linalg.norm(root * k - video.root, axis=-1).mean() for k in FACTORS])])
    size = root_scale / SIZE_BIAS  # true over lifted size
    with_height = root * root_scale
    return {"clip": video.clip, "none": root_error(root, video.root), "height": root_error(with_height, video.root),
            "best": root_error(root * best, video.root), "root_scale": root_scale, "best_factor": best,
            "log_k_size": float(np.log(best / size)),
            **{f"height_{name}": 1000 * value for name, value in root_error_parts(with_height, video.root).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--split", action="append", required=True, help="a split of ../shared/data/cmu_h36m17")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--focal", choices=("known", "unknown", "both"), default="both")
    parser.add_argument("--out", required=True, help="writes OUT.json")
    args = parser.parse_args()
    data = {split: subsample(load_mocap(f"../shared/data/cmu_h36m17/{split}.npz"), args.clips, args.frames)
            for split in args.split}
    cells = [cell for cell in grid_cells(args.split)
             if args.focal == "both" or cell.unknown_focal == (args.focal == "unknown")]
    engine = engines.load(args.engine, backend="onnxruntime", providers="cpu", threads=1)
    rows = []
    for cell in cells:
        started = time.perf_counter()
        videos = video_clips(data[cell.split], evaluation_cameras(), cell.noise_model(), 0,
                             include_focal=not cell.unknown_focal, cameras_per_clip=1)
        clips = [score_video(video, engine, args.iters) for video in videos]
        means = {key: float(np.mean([clip[key] for clip in clips])) for key in ("none", "height", "best")}
        rows.append({"cell": cell.name, **means, "ratio": means["height"] / means["none"],
                     "best_ratio": means["best"] / means["none"],
                     "log_k_size_std": float(np.std([clip["log_k_size"] for clip in clips])), "clips": clips})
        print(f"{cell.name}: root {means['none']:.0f} -> {means['height']:.0f} mm with the height "
              f"({rows[-1]['ratio']:.2f}x; best factor {rows[-1]['best_ratio']:.2f}x) "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    met = sum(row["ratio"] <= TARGET for row in rows)
    print(f"ratio <= {TARGET}: {met} / {len(rows)} cells")
    with open(f"{args.out}.json", "w") as file:
        json.dump({"engine": engine.describe(), "clips": args.clips, "frames": args.frames, "rows": rows}, file,
                  indent=1, default=str)


if __name__ == "__main__":
    main()
