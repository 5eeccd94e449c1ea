"""The pose prior that inferred joints start from (``uao_deploy/assets/pose_prior_2d.npz``, read by
:func:`uao_deploy.pipeline.missing.nearest_poses`), and the code that makes it. Regenerate with::

    python -m uao_deploy.jobs.pose_prior --mocap ../shared/data/cmu_h36m17/train.npz

Every ``STRIDE``-th frame of each CMU train clip in which the body stands (``STANDING``), placed in
the Human3.6M capture space as captured and seen by ``CAMERAS_PER_CLIP`` of the training subjects'
cameras (taken in turn), projected by a plain pinhole (the prior is compared up to a similarity
transform), centred and scaled to unit norm: ``poses_2d`` (N, 17, 2) float16, x right, y down.
Train clips and training cameras only: the val and test clips and the test cameras stay unseen.
"""
from __future__ import annotations

import argparse

import numpy as np

from ..data.cameras import TRAIN_SUBJECTS, cameras_of
from ..data.mocap import load_mocap
from ..pipeline.feet import LEGS  # (hip, knee, ankle) of each leg
from ..pipeline.missing import PRIOR_PATH

STRIDE = 10
CAMERAS_PER_CLIP = 4
# Only standing bodies: each hip at least this share of its leg's length above its ankle (91 % of
# the train frames). Legs nobody saw are guessed standing, as the template guessed them, with the
# step and turn of the bodies whose upper body looks like the frame's.
STANDING = 0.7
UP = 2  # the capture space's vertical axis


def make_pose_prior(clips) -> np.ndarray:
    """(N, 17, 2) float16: the prior's 2D poses (see the module docstring) of ``clips``, (T, 17, 3)
    world poses each (the CMU train split's, or a share of them when training fills hidden joints)."""
    cameras = cameras_of(TRAIN_SUBJECTS)
    views = []
    for index, world in enumerate(clips):
        world = world[::STRIDE]
        standing = np.all([world[:, hip, UP] - world[:, ankle, UP] >= STANDING * (
            np.linalg.norm(world[:, knee] - world[:, hip], axis=-1) + np.linalg.norm(world[:, ankle] - world[:, knee], axis=-1))
            for hip, knee, ankle in LEGS], axis=0)
        for turn in range(CAMERAS_PER_CLIP):
            points = cameras[(index * CAMERAS_PER_CLIP + turn) % len(cameras)].world_to_camera(world[standing])
            views.append(points[..., :2] / points[..., 2:3])
    poses = np.concatenate(views).astype(np.float64)
    poses -= poses.mean(axis=1, keepdims=True)
    poses /= np.sqrt((poses ** 2).sum(axis=(1, 2), keepdims=True))
    return poses.astype(np.float16)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mocap", required=True, help="the CMU train split (cmu_h36m17/train.npz)")
    args = parser.parse_args(argv)
    np.savez_compressed(PRIOR_PATH, poses_2d=make_pose_prior(load_mocap(args.mocap).values()))
    print(f"{PRIOR_PATH}: {PRIOR_PATH.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
