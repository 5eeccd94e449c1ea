"""Truncated and occluded bodies (issue 23): what lifting does with joints the detector never saw.

Val clips (CMU, ../shared/data/cmu_h36m17/val.npz) through the Human3.6M test cameras, with the
video noise model at 4 px and the focal length known, lifted with the default model in sequence
mode, under each truncation model of :mod:`uao_deploy.jobs.truncation` (scored there).

    python benchmarks/truncation.py [--clips N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from uao_deploy.data.cameras import cameras_of
from uao_deploy.data.h36m import TEST_SUBJECTS
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
from uao_deploy.jobs.infer import open_engine
from uao_deploy.jobs.truncation import MODELS, truncate, truncation_scores
from uao_deploy.pipeline import lift

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_h36m17" / "val.npz"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3, help="val clips (the longest of at most --max-frames first)")
    parser.add_argument("--max-frames", type=int, default=500)
    parser.add_argument("--models", default=",".join(MODELS))
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
            rows.setdefault(model, []).append(truncation_scores(result, clip, camera, hidden))
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
