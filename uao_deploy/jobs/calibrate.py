"""``uao calibrate``: measure a model's root depth bias on mocap clips and record it with the checkpoint.

The root that sequence mode fits (:func:`uao_deploy.pipeline.sequence.root_trajectory`, noise-corrected,
without any depth scale) sits too far for a model whose poses spread wider than the truth, and for a
lens that shrinks the image; a person's size and distance cannot be told apart in 2D, so the fit
cannot see this bias itself. Calibration fits that root on keypoint videos made from mocap clips
(:mod:`uao_deploy.data.video_noise`, Human3.6M training cameras) at several levels of white noise
and takes the median over videos of each video's median ratio of true to fitted depth. Calibrate on the
clips the model was trained on, or on held-out clips, never on those you report results on.
"""
from __future__ import annotations

import numpy as np

from ..contract import Calibration
from ..errors import UaoError
from ..pipeline import camera_of, prepare
from ..pipeline import sequence as steps

NOISE_PX = (0.0, 4.0, 8.0)


def depth_ratio(engine, clip) -> float:
    """Median over frames of true / fitted root depth for one keypoint video with its truth."""
    prepared = prepare(clip.sequence, camera_of(clip.sequence))
    weights = prepared.weights
    x, _, noise_left = steps.denoise_keypoints(prepared.x, weights, prepared.detected)
    poses, uncertainty = steps.predict_with_uncertainty(engine, x)
    cams = np.repeat(prepared.camera.normalized()[None], len(x), axis=0)
    root = steps.root_trajectory(x, cams, poses, uncertainty, weights, noise_left)
    return float(np.median(clip.root[:, 2] / root[:, 2]))


def calibrate_root_depth(engine, mocap: dict[str, np.ndarray], source: str, noise_px=NOISE_PX, seed: int = 0,
                         progress: bool = False) -> Calibration:
    """The :class:`Calibration` of ``engine``'s model measured on the clips ``mocap`` (named ``source``)."""
    from tqdm import tqdm

    from ..data.cameras import TRAIN_SUBJECTS, cameras_of
    from ..data.video_noise import VideoNoiseModel, video_clips

    if not mocap:
        raise UaoError(f"{source} holds no clips to calibrate on")
    ratios = []
    for noise in noise_px:
        # White noise only: the pipeline measures and removes it (the noise correction); a detector's slow
        # drift and gross errors are not the model's bias, and would fold one noise model into it.
        noise_model = VideoNoiseModel(sigma=noise, drift=0.0, gross_rate=0.0)
        clips = video_clips(mocap, cameras_of(TRAIN_SUBJECTS), noise_model, seed, cameras_per_clip=1)
        ratios += [depth_ratio(engine, clip) for clip in tqdm(clips, desc=f"{noise:g} px", unit="video",
                                                              disable=not progress)]
    low, scale, high = np.percentile(ratios, [25, 50, 75])
    if not 0.75 <= scale <= 1.33:  # a trained model's is within a few per cent; an untrained one's 1.7-1.9
        raise UaoError(f"the fitted root depth is {1 / scale:.3g}x the true one on {source}: a bias that large is no "
                       "calibration; is the model trained, and for this skeleton?")
    levels = ", ".join(f"{noise:g}" for noise in noise_px)
    return Calibration(root_depth_scale=round(float(scale), 4),
                       measured_on=f"{source}: {len(mocap)} clips at {levels} px white keypoint noise, one Human3.6M "
                                   f"training camera each; median of {len(ratios)} videos' true/fitted root depth "
                                   f"(quartiles {low:.4f}-{high:.4f})")
