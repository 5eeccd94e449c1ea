"""Truncated and occluded bodies, and false people (issue 23): what lifting does with joints the
detector never saw, model by model, as ``uao eval --video --occlusion MODEL`` scores it.

Val clips (CMU, ../shared/data/cmu_h36m17/val.npz) through the Human3.6M test cameras, with the
video noise model at 4 px and the focal length known, lifted with the default model in sequence
mode, under each model of :mod:`uao_deploy.jobs.truncation` (scored there).

    python benchmarks/truncation.py [--split val] [--clips N] [--max-frames F] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from uao_deploy.data.cameras import cameras_of
from uao_deploy.data.h36m import TEST_SUBJECTS
from uao_deploy.data.mocap import load_mocap
from uao_deploy.data.video_noise import VideoNoiseModel, video_clips
from uao_deploy.jobs.infer import open_engine
from uao_deploy.jobs.truncation import MODELS
from uao_deploy.jobs.video_eval import evaluate_videos, format_visibility_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_h36m17"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--clips", type=int, default=3, help="clips (the longest of at most --max-frames first)")
    parser.add_argument("--max-frames", type=int, default=500)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    motion = load_mocap(DATA / f"{args.split}.npz")
    names = sorted((name for name in motion if len(motion[name]) <= args.max_frames),
                   key=lambda name: -len(motion[name]))[:args.clips]
    clips = video_clips({name: motion[name] for name in names}, cameras_of(TEST_SUBJECTS), VideoNoiseModel(sigma=4.0),
                        seed=0, cameras_per_clip=1)
    engine = open_engine("torch")
    reports = {}
    started = time.perf_counter()
    for model in args.models.split(","):
        reports[model] = evaluate_videos(clips, engine, occlusion=model, methods=("sequence-uao",))
        print(format_visibility_table([(model, reports[model])]).splitlines()[-1], flush=True)
    print(format_visibility_table(list(reports.items())))
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "clips": names, "reports": reports}, indent=1) + "\n")


if __name__ == "__main__":
    main()
