"""Root depth on EVERY clip of a split, per noise cell: sequence mode's trajectory and candidate corrections.

The evaluation grid scores a few clips per cell through the whole pipeline; a cell's depth bias then
carries the choice of clips (per-clip scatter 50-250 mm). This runs sequence mode only up to its root
trajectory (keypoint smoothing, flip-averaged lift, settling of inferred joints, the Gauss-Newton
trajectory with the calibrated depth scale: no UAO, no feet), cheap enough for all clips of a split,
and compares candidate depth corrections on the same lifts:

  base          the trajectory sequence mode fits (pipeline.sequence.root_trajectory)
  torso         the same fit on the torso's joints only (pelvis, hips, spine, thorax, neck, head, shoulders)
  torso-scale   base times the clip's median torso / all-joint depth ratio (one factor per clip)
  residual      base times exp(k max(0, r^2 - a n^2 - r0^2)), r the median reprojection residual over the
                2D spread, n the keypoint noise measured from the raw tracks (second differences: white,
                box and gross noise, not slow drift) over the same spread; (a, r0) those of a grid with the
                lowest mean root error over the --fit splits' cells, k by least squares on their noise
                response (each clip's change of log depth from its 0 px value)
  size          base times exp(a (c - log bone length)), the lifted skeleton pulled to the --fit
                splits' median size at 0 px, a = 0.5

    python benchmarks/root_depth_candidates.py --engine EXPORT --split train:20 --split val --split test \\
        --fit train,val --frames 120 --out benchmarks/results/NAME
Focal length known, one Human3.6M test camera per clip, noise seed 0, 1 ONNX Runtime thread.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import json

import numpy as np

from uao_deploy import engines, skeleton
from uao_deploy.data.cameras import TEST_SUBJECTS, cameras_of
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import video_clips
from uao_deploy.jobs.video_grid import EXACT, LEVELS, NOISE_MODELS, subsample
from uao_deploy.pipeline import camera_of, prepare
from uao_deploy.pipeline import sequence as steps
from uao_deploy.trajectory import estimate_root_trajectory

lift_module = importlib.import_module("uao_deploy.pipeline.lift")  # the strategy's own predict and settle steps
TORSO = np.isin(np.arange(17), [0, 1, 4, 7, 8, 9, 10, 11, 14]).astype(np.float32)
CELLS = [(EXACT, 0.0)] + [(noise, level) for level in LEVELS if level for noise in NOISE_MODELS]
SIZE_PULL = 0.5


def trajectory_of(engine, video) -> dict:
    """What sequence mode's step 1 sees and fits for one keypoint video, with the truth."""
    prepared = prepare(video.sequence, camera_of(video.sequence))
    weights = prepared.weights
    x, measured, noise_left = steps.denoise_keypoints(prepared.x, weights, prepared.detected)
    poses, uncertainty = lift_module._predict(engine, x, 64)
    cams = np.repeat(prepared.camera.normalized()[None], len(x), axis=0)
    scale = engine.calibration.root_depth_scale

    def trajectory(x, poses, uncertainty):
        return (steps.root_trajectory(x, cams, poses, uncertainty, weights, noise_left, scale),)

    x, poses, uncertainty, (root,), _ = lift_module._settle(prepared, x, cams, poses, uncertainty,
                                                            trajectory(x, poses, uncertainty), engine, 64, trajectory)
    torso = estimate_root_trajectory(poses, x, cams, steps.root_weights(weights, uncertainty) * TORSO,
                                     steps.ROOT_SMOOTHNESS, noise_left, steps.ROOT_GAUSS_NEWTON_STEPS) * scale
    placed = poses + (root / scale)[:, None]
    drawn = cams[:, None, :2] * placed[..., :2] / placed[..., 2:] + cams[:, None, 2:4]
    spread = np.sqrt(np.square(x - x.mean(1, keepdims=True)).sum(-1).mean(-1))
    residual = np.sqrt((np.square(drawn - x).sum(-1) * weights).sum(-1) / weights.sum(-1)) / spread
    bones = np.linalg.norm(poses[:, 1:] - poses[:, list(skeleton.PARENTS[1:])], axis=-1).sum(-1)
    return {"root": root, "torso": torso, "true": video.root, "residual": float(np.median(residual)),
            "noise": float(np.sqrt(measured) / np.median(spread)),
            "size": float(np.log(np.median(bones)))}


def dump(engine, split: str, count: int, frames: int) -> dict:
    clips = subsample(load_mocap(f"../shared/data/cmu_h36m17/{split}.npz"), count, frames)
    out = {}
    for noise, level in CELLS:
        model = dataclasses.replace(NOISE_MODELS["default" if noise == EXACT else noise], sigma=level)
        for video in video_clips(clips, cameras_of(TEST_SUBJECTS), model, 0, include_focal=True, cameras_per_clip=1):
            out[(f"{noise} {level:g}", video.clip)] = trajectory_of(engine, video)
        print(split, noise, level, flush=True)
    return out


def log_ratio(row, root) -> float:
    return float(np.log(np.median(row["true"][:, 2] / root[:, 2])))


def residual_excess(row, white: float, free: float) -> float:
    return max(0.0, row["residual"] ** 2 - white * row["noise"] ** 2 - free ** 2)


def root_errors(rows: dict, factor) -> list[float]:
    """Mean root error (mm) per cell with each clip's trajectory times ``factor(row)``."""
    cells = {}
    for (cell, _), row in rows.items():
        cells.setdefault(cell, []).append(1000 * np.linalg.norm(row["root"] * factor(row) - row["true"], axis=-1).mean())
    return [float(np.mean(errors)) for errors in cells.values()]


def fit_constants(rows: dict) -> dict:
    """The residual factor's (white, free, k) and the size prior's centre (the median log bone length at 0 px)."""
    clean = {clip: row for (cell, clip), row in rows.items() if cell == f"{EXACT} 0"}
    pairs = [(row, log_ratio(row, row["root"]) - log_ratio(clean[clip], clean[clip]["root"]))
             for (cell, clip), row in rows.items() if clip in clean]
    change = np.array([d for _, d in pairs])
    best = None
    for white in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0):
        for free in np.arange(0.0, 0.0801, 0.01):
            excess = np.array([residual_excess(row, white, free) for row, _ in pairs])
            k = float(excess @ change / max(float(excess @ excess), 1e-12))
            cost = float(np.mean(root_errors(rows, lambda row: np.exp(k * residual_excess(row, white, free)))))
            best = min(best or (cost, white, free, k), (cost, white, float(free), k))
    return {"residual_white": best[1], "residual_free": best[2], "residual_k": best[3],
            "size_centre": float(np.median([row["size"] for row in clean.values()]))}


def candidates(row, constants) -> dict:
    base = row["root"]
    ratio = float(np.median(row["torso"][:, 2] / base[:, 2]))
    excess = residual_excess(row, constants["residual_white"], constants["residual_free"])
    return {"base": base, "torso": row["torso"], "torso-scale": base * ratio,
            "residual": base * np.exp(constants["residual_k"] * excess),
            "size": base * np.exp(SIZE_PULL * (constants["size_centre"] - row["size"]))}


def table(rows: dict, constants: dict) -> tuple[str, dict]:
    cells = sorted({cell for cell, _ in rows}, key=lambda c: [f"{n} {l:g}" for n, l in CELLS].index(c))
    names = list(candidates(next(iter(rows.values())), constants))
    lines = ["| cell | clips | " + " | ".join(f"{n}: bias +- SE / root" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    summary = {}
    for cell in cells:
        picked = [row for (c, _), row in rows.items() if c == cell]
        values = []
        for name in names:
            roots = [candidates(row, constants)[name] for row in picked]
            bias = np.array([1000 * (r[:, 2] - row["true"][:, 2]).mean() for r, row in zip(roots, picked)])
            error = np.array([1000 * np.linalg.norm(r - row["true"], axis=-1).mean() for r, row in zip(roots, picked)])
            summary.setdefault(name, {})[cell] = {"bias": float(bias.mean()), "bias_se": float(bias.std() / np.sqrt(len(bias))),
                                                  "bias_sd": float(bias.std()), "root": float(error.mean())}
            values.append(f"{bias.mean():+.0f} +- {bias.std() / np.sqrt(len(bias)):.0f} / {error.mean():.0f}")
        lines.append(f"| {cell} | {len(picked)} | " + " | ".join(values) + " |")
    means = [f"{np.mean([abs(v['bias']) for v in summary[n].values()]):.0f} / {np.mean([v['root'] for v in summary[n].values()]):.0f}"
             f" ({sum(abs(v['bias']) <= 50 for v in summary[n].values())} cells <= 50)" for n in names]
    lines.append("| mean \\|bias\\| / root | | " + " | ".join(means) + " |")
    return "\n".join(lines), summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", required=True)
    parser.add_argument("--split", action="append", required=True, help="NAME or NAME:CLIPS (all clips by default)")
    parser.add_argument("--fit", default="train,val", help="splits whose noise response sets the constants")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--out", required=True, help="path stem for .md and .json")
    args = parser.parse_args()
    engine = engines.load(args.engine, backend="onnxruntime", providers="cpu", threads=1)
    rows = {}
    for spec in args.split:
        name, _, count = spec.partition(":")
        rows[name] = dump(engine, name, int(count or 10_000), args.frames)
    fit = {key: row for name in args.fit.split(",") for key, row in rows[name].items()}
    constants = fit_constants(fit)
    parts, summaries = [f"constants (fitted on {args.fit}): {json.dumps(constants)}"], {}
    for name, split_rows in rows.items():
        text, summaries[name] = table(split_rows, constants)
        parts.append(f"\n## {name}\n\n{text}")
    with open(f"{args.out}.md", "w") as handle:
        handle.write("\n".join(parts) + "\n")
    with open(f"{args.out}.json", "w") as handle:
        json.dump({"constants": constants, "frames": args.frames, "cells": summaries}, handle, indent=1)
    print("\n".join(parts))


if __name__ == "__main__":
    main()
