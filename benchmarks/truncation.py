"""Truncated and occluded bodies (issue 23): what lifting does with joints the detector never saw.

Val clips (CMU, ../shared/data/cmu_h36m17/val.npz) through the Human3.6M test cameras, with the
video noise model at 4 px and the focal length known, lifted with the default model in sequence
mode, under each truncation model:

* ``full``: every joint detected (the reference);
* ``lower-out``: pelvis, hips, knees and ankles out of the frame for the whole clip;
* ``legs-gaps``: knees and ankles out for spans of 30-200 frames (about half the clip);

Reported per model: upper-body MPJPE (spine to wrists, mm; relative to the pelvis, and to the
thorax, which stays detected where the pelvis is inferred), the angle between the
lifted trunk (pelvis -> thorax) and the true trunk (median over frames, degrees), the angle between
the estimated world up and the true up (degrees), the floor error (|estimated - true| height of
the root above the floor, mean, cm) and the length variation of inferred shins (std / mean, %).

    python benchmarks/truncation.py [--clips N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from uao_deploy import skeleton
from uao_deploy.data.cameras import cameras_of
from uao_deploy.data.h36m import TEST_SUBJECTS
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
from uao_deploy.jobs.infer import open_engine
from uao_deploy.pipeline import lift
from uao_deploy.pipeline.world import add_world_frame

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_h36m17" / "val.npz"
LOWER = [0, 1, 2, 3, 4, 5, 6]
LEGS = [2, 3, 5, 6]
UPPER = list(range(7, 17))


def truncate(sequence, model: str, rng: np.random.Generator):
    """The sequence with the joints of ``model`` missing (NaN, confidence 0) and the (T, 17) mask of them."""
    frames = len(sequence)
    hidden = np.zeros((frames, 17), bool)
    if model == "lower-out":
        hidden[:, LOWER] = True
    elif model == "legs-gaps":
        frame = int(rng.integers(0, 30))
        while frame < frames:
            span = int(rng.integers(30, 201))
            hidden[frame:frame + span, LEGS] = True
            frame += span + int(rng.integers(30, 201))
    pixels = np.where(hidden[..., None], np.nan, sequence.pixels).astype(np.float32)
    confidence = np.where(hidden, 0, sequence.confidence).astype(np.float32)
    return replace(sequence, pixels=pixels, confidence=confidence), hidden


def angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1, 1)))


def scores(result, clip, camera, hidden) -> dict:
    pose = result.poses_3d
    arrays, metadata = add_world_frame(result.arrays(), result.metadata)
    up_true = camera.rotation[2]  # world Z (up) in camera coordinates
    frame = metadata["world_frame"]
    up = np.asarray(frame["up_in_camera"])
    true_height = clip.root @ camera.rotation[2] + camera.translation[2]  # world z of the root; floor z = 0
    height = arrays["root_world"][:, 1]
    shins = np.linalg.norm(pose[:, [3, 6]] - pose[:, [2, 5]], axis=-1)
    inferred = hidden[:, [3, 6]] | hidden[:, [2, 5]]
    return {
        "upper_mpjpe_mm": float(np.linalg.norm(pose[:, UPPER] - clip.target[:, UPPER], axis=-1).mean() * 1000),
        "upper_mpjpe_thorax_mm": float(np.linalg.norm((pose[:, UPPER] - pose[:, 8:9]) - (clip.target[:, UPPER]
                                                      - clip.target[:, 8:9]), axis=-1).mean() * 1000),
        "trunk_angle_deg": float(np.median(angle(pose[:, 8] - pose[:, 0], clip.target[:, 8] - clip.target[:, 0]))),
        "up_angle_deg": float(angle(up, up_true)),
        "floor_error_cm": float(np.abs(height - true_height).mean() * 100),
        "inferred_shin_variation_pct": float(shins[inferred].std() / shins[inferred].mean() * 100)
        if inferred.sum() > 10 else None,
        "seen_shin_variation_pct": float(shins[~inferred].std() / shins[~inferred].mean() * 100)
        if (~inferred).sum() > 10 else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3, help="val clips (the longest of at most --max-frames first)")
    parser.add_argument("--max-frames", type=int, default=500)
    parser.add_argument("--models", default="full,lower-out,legs-gaps")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    motion = load_mocap(VAL)
    names = sorted((name for name in motion if len(motion[name]) <= args.max_frames),
                   key=lambda name: -len(motion[name]))[:args.clips]
    cameras = cameras_of(TEST_SUBJECTS)
    clips = video_clips({name: motion[name] for name in names}, cameras, VideoNoiseModel(sigma=4.0), seed=0,
                        cameras_per_clip=1)
    engine = open_engine("torch")
    rows = {}
    started = time.perf_counter()
    for number, clip in enumerate(clips):
        camera = cameras[number % len(cameras)]
        for model in args.models.split(","):
            sequence, hidden = truncate(clip.sequence, model, np.random.default_rng(number))
            result = lift(sequence, engine)
            rows.setdefault(model, []).append(scores(result, clip, camera, hidden))
            print(clip.clip, model, {k: None if v is None else round(v, 2) for k, v in rows[model][-1].items()},
                  flush=True)
    summary = {model: {key: float(np.median([r[key] for r in values if r[key] is not None]))
                       if any(r[key] is not None for r in values) else None for key in values[0]}
               for model, values in rows.items()}
    print(json.dumps(summary, indent=1))
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"clips": names, "per_clip": rows, "median": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
