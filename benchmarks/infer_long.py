"""Peak memory of sequence mode on a very long video: the lifting core's own arrays, with a stand-in engine.

The real engine's memory does not grow with the video (one 100-frame window per call; see
benchmarks/infer_real.py for its peak on real files); what grows is the core's per-frame arrays and
banded solves. This lifts FRAMES frames (the embedded sample's keypoints repeated, with 2 px noise)
through :func:`uao_deploy.pipeline.lift` with an engine that returns the sample's poses instead of
running the network, and prints the process's peak resident memory and the time of the host steps.

    python benchmarks/infer_long.py [--frames 200000]
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from uao_deploy import skeleton
from uao_deploy.contract import Calibration, SequenceConfig, TTOConfig
from uao_deploy.data.keypoints import read_keypoints
from uao_deploy.data.sample import SAMPLE_PATH
from uao_deploy.pipeline import LiftSettings, camera_of, lift


class StandInEngine:
    """The engine interface the sequence strategy uses, answering with fixed poses (no network)."""

    backend = "stand-in"
    tto_config = TTOConfig()
    calibration = Calibration()
    last_tto_path = "fused"

    def __init__(self, pose: np.ndarray):
        self.pose = pose.astype(np.float32)

    def forward(self, x, return_uncertainty=False):
        mu = np.broadcast_to(self.pose, (len(x), 17, 3)).copy()
        return mu, np.full((len(x), 17, 1), np.log(0.03), np.float32)

    def sequence_tto(self, x, confidence, cam, root, iters=None):
        windows, frames = x.shape[:2]
        pose = skeleton.zero_root(np.broadcast_to(self.pose, (windows, frames, 17, 3)).copy())
        return pose, root, np.ones((windows, 1), np.float32), np.zeros((SequenceConfig().iters, windows), np.float32)

    def describe(self):
        return {"backend": self.backend}

    def path_notice(self, iters):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    sample, = read_keypoints(SAMPLE_PATH)
    with np.load(SAMPLE_PATH) as arrays:
        pose = arrays["poses_3d_gt"][0]
    repeats = -(-args.frames // len(sample))
    pixels = np.tile(sample.pixels, (repeats, 1, 1))[:args.frames]
    pixels = pixels + np.random.default_rng(0).normal(0, 2, pixels.shape).astype(np.float32)
    keypoints = np.concatenate([pixels, np.tile(sample.confidence, (repeats, 1))[:args.frames, :, None]], axis=-1)
    started = time.perf_counter()
    result = lift(keypoints, StandInEngine(pose), camera_of(sample), LiftSettings(4, "sequence"))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.frames} frames, sequence mode with a stand-in engine: peak RSS {peak_mb:.0f} MB, host steps "
          f"{seconds:.1f} s ({1000 * seconds / args.frames:.3f} ms/frame); root finite: "
          f"{bool(np.isfinite(result.root).all())}")


if __name__ == "__main__":
    main()
