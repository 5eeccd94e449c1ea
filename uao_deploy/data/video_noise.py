"""Keypoint videos from mocap clips: each clip seen through a calibrated camera, with a detector's errors.

**Video detector-noise model** (pixels of a 1000-pixel-wide image, Human3.6M's width), per joint:

* white noise: Gaussian, standard deviation ``sigma`` in u and v, new every frame;
* slow drift: a Gaussian process of standard deviation ``drift * sigma`` that changes over
  ``drift_frames`` frames (first-order autoregressive), as a detector's bias on a body part that
  follows the appearance rather than the frame;
* short gross errors: with probability ``gross_rate`` per joint and frame an error of ``gross_px``
  pixels in a random direction starts and lasts 1 to ``gross_frames`` frames (a detector confusing
  limbs for a moment); those detections get a lower confidence;
* missed joints: ``missing_rate`` of the joints are not detected (NaN, confidence 0);
* box jitter (off by default): one shift of the whole body per frame, Gaussian, of standard deviation
  ``box_jitter * sigma``, new every frame, as a top-down detector's person box moving: an error
  the same for every joint, which no bone length or pose shape reveals.

Detected joints carry a confidence in [0.5, 1] (gross errors: [0.2, 0.7]). Deterministic for a seed.
At ``sigma`` 0 the keypoints are the exact projections, fully detected.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .. import skeleton
from ..camera import image_coordinates, project
from ..errors import UaoError
from .cameras import Camera
from .keypoints import KeypointSequence


@dataclass(frozen=True)
class VideoNoiseModel:
    sigma: float = 4.0
    drift: float = 0.75
    drift_frames: float = 25.0
    gross_rate: float = 0.003
    gross_px: float = 40.0
    gross_frames: int = 5
    missing_rate: float = 0.02
    box_jitter: float = 0.0
    reference_width: float = 1000.0

    def __post_init__(self):
        if not (self.sigma >= 0 and self.drift >= 0 and self.box_jitter >= 0 and 0 <= self.missing_rate < 1
                and 0 <= self.gross_rate < 1):
            raise UaoError(f"video noise needs sigma, drift and box jitter >= 0 and rates in [0, 1); got sigma "
                           f"{self.sigma}, drift {self.drift}, box jitter {self.box_jitter}, gross rate "
                           f"{self.gross_rate}, missing rate {self.missing_rate}")
        if not (self.sigma * max(1.0, self.drift, self.box_jitter) <= self.reference_width
                and self.gross_px <= self.reference_width):
            raise UaoError(f"video noise of sigma {self.sigma:g} px (drift x{self.drift:g}, box jitter "
                           f"x{self.box_jitter:g}, gross errors {self.gross_px:g} px) is larger than the "
                           f"{self.reference_width:g} px image it is measured on")
        if not (self.drift_frames > 0 and math.isfinite(self.drift_frames)):
            raise UaoError(f"video noise needs finite drift frames > 0; got {self.drift_frames}")

    def to_dict(self) -> dict:
        return asdict(self)

    def sample(self, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(pixel error (T, 17, 2) at the reference width, confidence (T, 17), 0 where missed)."""
        shape = (frames, skeleton.NUM_JOINTS, 2)
        if self.sigma == 0:
            return np.zeros(shape), np.ones(shape[:2])
        error = rng.normal(0.0, self.sigma, shape)
        # AR(1) with the stationary standard deviation drift * sigma from the first frame on.
        keep = math.exp(-1.0 / self.drift_frames)
        innovations = rng.normal(0.0, self.drift * self.sigma * math.sqrt(1 - keep ** 2), shape)
        drift = np.empty(shape)
        drift[0] = rng.normal(0.0, self.drift * self.sigma, shape[1:])
        for frame in range(1, frames):
            drift[frame] = keep * drift[frame - 1] + innovations[frame]
        error += drift
        confidence = rng.uniform(0.5, 1.0, shape[:2])
        starts = np.argwhere(rng.random(shape[:2]) < self.gross_rate)
        for frame, joint in starts:
            length = rng.integers(1, self.gross_frames + 1)
            angle = rng.uniform(0, 2 * math.pi)
            span = slice(frame, frame + length)
            error[span, joint] = self.gross_px * np.array([math.cos(angle), math.sin(angle)])
            confidence[span, joint] = rng.uniform(0.2, 0.7)
        confidence[rng.random(shape[:2]) < self.missing_rate] = 0.0
        if self.box_jitter > 0:  # drawn last: the other errors stay those of the same seed without it
            error += rng.normal(0.0, self.box_jitter * self.sigma, (frames, 1, 2))
        return error, confidence


@dataclass
class VideoClip:
    """A keypoint sequence with its ground truth (camera frame, metres), true intrinsics (9,) and the
    world's up direction in the camera frame (3,)."""

    sequence: KeypointSequence
    target: np.ndarray  # (T, 17, 3) root-relative, root joint 0
    root: np.ndarray  # (T, 3)
    cam: np.ndarray  # (9,) normalized
    clip: str
    up: np.ndarray | None = None
    camera_height: float | None = None  # metres above the floor (world z = 0)


def video_clips(clips: dict[str, np.ndarray], cameras: list[Camera], noise: VideoNoiseModel, seed: int = 0,
                include_focal: bool = True, cameras_per_clip: int | None = None) -> list[VideoClip]:
    """Every clip through its cameras as a keypoint video (a :class:`KeypointSequence`) with its truth.

    Clip i is seen through ``cameras_per_clip`` cameras taken in turn from ``cameras`` (starting at
    camera i * cameras_per_clip), or through all of them when it is None.

    ``include_focal`` False leaves the focal length out of the sequence, as for a video of unknown
    camera (the principal point stays: it is the image centre to within a few pixels here).
    """
    if not clips or not cameras:
        raise UaoError("video clips need at least one clip and one camera")
    rng = np.random.default_rng(seed)
    videos = []
    count = len(cameras) if cameras_per_clip is None else cameras_per_clip
    for index, (name, world) in enumerate(clips.items()):
        for camera in (cameras[(index * count + k) % len(cameras)] for k in range(count)):
            points = camera.world_to_camera(world)
            cam = np.repeat(camera.intrinsics[None], len(points), axis=0)
            with torch.no_grad():
                normalized = project(torch.from_numpy(points), torch.from_numpy(cam)).numpy()
            error, confidence = noise.sample(len(points), rng)
            pixels = image_coordinates(normalized, camera.width, camera.height)
            pixels = (pixels + error * camera.width / noise.reference_width).astype(np.float32)
            pixels[confidence == 0] = np.nan
            focal = tuple(float(f) for f in camera.intrinsics[:2] * camera.width / 2)
            center = tuple(float(c) for c in image_coordinates(camera.intrinsics[2:4], camera.width, camera.height))
            sequence = KeypointSequence(
                name=f"{name}_{camera.id}", source=f"{name} through camera {camera.id}", format="mocap",
                layout="h36m", pixels=pixels, confidence=confidence.astype(np.float32), width=camera.width,
                height=camera.height, fps=50.0, focal=focal if include_focal else None, center=center)
            root = points[:, 0]
            up = camera.rotation[2].copy()  # the world's Z (up): world_to_camera maps a direction d to d @ rotation
            videos.append(VideoClip(sequence, skeleton.zero_root(points - root[:, None]), root,
                                    camera.intrinsics.copy(), name, up,
                                    float(camera.translation[2])))
    return videos
