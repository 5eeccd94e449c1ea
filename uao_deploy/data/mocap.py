"""3D motion capture (clip -> (T, 17, 3) world metres, Z up) turned into 2D -> 3D training pairs.

A pair is made by placing the motion in front of a calibrated Human3.6M camera, projecting it with
the camera's lens distortion and adding detector noise:

**Detector-noise model.** Each sample draws one standard deviation sigma uniformly from
[sigma_min, sigma_max] pixels (pixels of a 1000-pixel-wide image, Human3.6M's width) and adds
independent zero-mean Gaussian noise of that sigma to every joint's u and v. With probability
``outlier_rate`` a joint instead gets an error of ``outlier_px`` pixels in a random direction (a
detector confusing limbs). Training draws new noise every epoch; evaluation sets are fixed by a seed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..camera import project
from ..errors import UaoError
from .cameras import Camera
from ..io.npz import open_npz, read_array
from ..io.results.schema import MAX_METRES

# Mocap files are plain arrays; the pickled Human3.6M files have flags of their own that unpickle them.
PICKLED_HINT = ("mocap clips are plain arrays; Human3.6M's pickled VideoPose3D files are read by `uao eval` and "
                "`uao train` with --h36m-3d and --h36m-2d, which unpickle them: pass only files you trust")


@dataclass(frozen=True)
class NoiseModel:
    sigma_min: float = 3.0
    sigma_max: float = 5.0
    outlier_rate: float = 0.0
    outlier_px: float = 40.0
    reference_width: float = 1000.0

    def __post_init__(self):
        values = (self.sigma_min, self.sigma_max, self.outlier_px, self.reference_width)
        if not all(math.isfinite(value) for value in values) or \
                not 0 <= self.sigma_min <= self.sigma_max <= self.reference_width:
            raise UaoError(f"detector noise must be finite with 0 <= sigma min <= sigma max <= the "
                           f"{self.reference_width:g} px reference width (pixels); got {self.sigma_min:g} to "
                           f"{self.sigma_max:g}")
        if not 0 <= self.outlier_rate <= 1 or self.outlier_px < 0 or self.reference_width <= 0:
            raise UaoError(f"outlier rate must be 0 to 1 and outlier size and reference width positive; got "
                           f"{self.outlier_rate:g}, {self.outlier_px:g} px, {self.reference_width:g} px")

    def to_dict(self) -> dict:
        return asdict(self)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None,
               device="cpu") -> torch.Tensor:
        """Noise (B, J, 2) in normalized units (2 / reference_width per pixel)."""
        batch = shape[0]
        sigma = self.sigma_min + (self.sigma_max - self.sigma_min) * torch.rand(batch, 1, 1, generator=generator, device=device)
        noise = torch.randn(shape, generator=generator, device=device) * sigma
        if self.outlier_rate > 0:
            outlier = torch.rand(shape[:-1] + (1,), generator=generator, device=device) < self.outlier_rate
            angle = 2 * math.pi * torch.rand(shape[:-1] + (1,), generator=generator, device=device)
            jump = self.outlier_px * torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
            noise = torch.where(outlier, jump, noise)
        return noise * (2.0 / self.reference_width)


def load_mocap(path: str | Path) -> dict[str, np.ndarray]:
    """Read a mocap npz: one (T, 17, 3) float array per clip. Pickled content is refused."""
    path = Path(path)
    clips = {}
    with open_npz(path, "mocap .npz of clips") as archive:
        for name in archive.files:
            clip = read_array(path, archive, name, PICKLED_HINT)
            if clip.dtype.kind not in "fiu":
                raise UaoError(f"{path}: clip {name!r} holds {clip.dtype} values, not numbers")
            if clip.ndim != 3 or clip.shape[1:] != (skeleton.NUM_JOINTS, 3):
                raise UaoError(f"{path}: clip {name!r} has shape {clip.shape}; expected (T, {skeleton.NUM_JOINTS}, 3)")
            if not np.isfinite(clip).all():
                raise UaoError(f"{path}: clip {name!r} contains NaN or infinite values")
            if len(clip) == 0:
                raise UaoError(f"{path}: clip {name!r} holds no frames")
            if np.abs(clip).max() > MAX_METRES:
                raise UaoError(f"{path}: clip {name!r} holds coordinates of {np.abs(clip).max():.3g} m; clips are in "
                               f"metres, within {MAX_METRES:g} m")
            clips[name] = clip.astype(np.float32)
    if not clips:
        raise UaoError(f"{path} holds no clips")
    return clips


def stack_frames(clips: dict[str, np.ndarray], stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All clips' frames (N, 17, 3) taking every ``stride``-th frame, and each frame's clip index."""
    frames = [clip[::stride] for clip in clips.values()]
    labels = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
    return np.concatenate(frames), labels


def _rotate_about_vertical(points: torch.Tensor, yaw: torch.Tensor) -> torch.Tensor:
    """Rotate world points (B, J, 3) about the Z axis through the pelvis's ground position."""
    centre = points[:, :1, :].clone()
    centre[..., 2] = 0
    cos, sin = torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]
    local = points - centre
    x = cos * local[..., 0] - sin * local[..., 1]
    y = sin * local[..., 0] + cos * local[..., 1]
    return torch.stack([x, y, local[..., 2]], dim=-1) + centre


@dataclass
class PairSynthesizer:
    """Random 2D/3D training pairs from world poses through a set of cameras, on any device.

    Augmentation: a random heading (rotation about the vertical) and a horizontal shift of up to
    ``shift`` metres, so the motion covers the cameras' views; the camera tilted up by a random angle
    of 0 to ``tilt_up`` degrees (about its own x axis: the Human3.6M cameras all look 11-16 degrees
    down, phones and webcams are often level); then projection and detector noise.
    """

    poses_world: torch.Tensor  # (N, 17, 3)
    cameras: list[Camera]
    noise: NoiseModel
    shift: float = 0.5
    tilt_up: float = 0.0

    def __post_init__(self):
        device = self.poses_world.device
        self._rotation = torch.tensor(np.stack([c.rotation for c in self.cameras]), dtype=torch.float32, device=device)
        self._translation = torch.tensor(np.stack([c.translation for c in self.cameras]), dtype=torch.float32, device=device)
        self._intrinsics = torch.tensor(np.stack([c.intrinsics for c in self.cameras]), dtype=torch.float32, device=device)

    def __call__(self, index: torch.Tensor, generator: torch.Generator | None = None):
        """(x (B,17,2), target (B,17,3) root-relative with root 0, cam (B,9), root (B,3))."""
        device = self.poses_world.device
        batch = len(index)
        world = self.poses_world[index]
        yaw = 2 * math.pi * torch.rand(batch, generator=generator, device=device)
        offset = (torch.rand(batch, 1, 3, generator=generator, device=device) * 2 - 1) * self.shift
        offset[..., 2] = 0
        world = _rotate_about_vertical(world, yaw) + offset
        view = torch.randint(len(self.cameras), (batch,), generator=generator, device=device)
        points = torch.einsum("bjk,bkl->bjl", world - self._translation[view, None], self._rotation[view])
        if self.tilt_up > 0:  # camera x right, y down, z forward: tilting it up turns the scene down in its frame
            tilt = torch.deg2rad(self.tilt_up * torch.rand(batch, 1, generator=generator, device=device))
            y, z = points[..., 1], points[..., 2]
            points = torch.stack([points[..., 0], torch.cos(tilt) * y + torch.sin(tilt) * z,
                                  -torch.sin(tilt) * y + torch.cos(tilt) * z], dim=-1)
        cam = self._intrinsics[view]
        x = project(points, cam) + self.noise.sample((batch, skeleton.NUM_JOINTS, 2), generator, device)
        root = points[:, 0]
        target = skeleton.zero_root(points - root[:, None])
        return x, target, cam, root


def evaluation_pairs(clips: dict[str, np.ndarray], cameras: list[Camera], noise: NoiseModel, seed: int = 0,
                     stride: int = 1):
    """A fixed evaluation set: every clip through every camera, as the motion was captured.

    Returns a dict of numpy arrays x (N,17,2), target (N,17,3), cam (N,9), root (N,3), clip (N,)
    index into ``names``, and ``names``. Deterministic for a given seed.
    """
    frames, labels = stack_frames(clips, stride)
    generator = torch.Generator().manual_seed(seed)
    parts = {"x": [], "target": [], "cam": [], "root": [], "clip": []}
    for camera in cameras:
        points = torch.from_numpy(camera.world_to_camera(frames))
        cam = torch.from_numpy(np.repeat(camera.intrinsics[None], len(frames), axis=0))
        x = project(points, cam) + noise.sample((len(frames), skeleton.NUM_JOINTS, 2), generator)
        root = points[:, 0]
        parts["x"].append(x.numpy())
        parts["target"].append(skeleton.zero_root(points - root[:, None]).numpy())
        parts["cam"].append(cam.numpy())
        parts["root"].append(root.numpy())
        parts["clip"].append(labels)
    pairs = {key: np.concatenate(value).astype(np.float32 if key != "clip" else np.int64) for key, value in parts.items()}
    pairs["names"] = list(clips)
    return pairs


class MocapTrainingData:
    """:class:`uao_deploy.jobs.train.TrainingData` from mocap clips: fresh pairs every epoch.

    Training views come from the Human3.6M training subjects' cameras; validation goes through the
    test subjects' cameras (unseen views) with a fixed noise draw.
    """

    def __init__(self, train_path, val_path, train_cameras: list[Camera], val_cameras: list[Camera],
                 noise: NoiseModel = NoiseModel(), val_noise: NoiseModel = NoiseModel(4.0, 4.0),
                 stride: int = 2, views_per_frame: int = 4, val_stride: int = 4, device="cpu", hide=None,
                 tilt_up: float = 0.0):
        """``hide``: None, or a callable that takes the clips (list of (T, 17, 3)) and returns one that
        takes (x (B, 17, 2), each sample's clip index (B,), generator) and returns x with some joints
        hidden and filled as inference fills them (:class:`uao_deploy.jobs.hidden_joints.HideJoints`)."""
        clips = load_mocap(train_path)
        frames, labels = stack_frames(clips, stride)
        self.synthesizer = PairSynthesizer(torch.from_numpy(frames).to(device), train_cameras, noise, tilt_up=tilt_up)
        self.clip_of_frame = torch.from_numpy(labels).to(device)
        self.views_per_frame = views_per_frame
        self.hide = hide and hide(list(clips.values()))
        self._val = evaluation_pairs(load_mocap(val_path), val_cameras, val_noise, seed=0, stride=val_stride)
        if self.hide:
            self._val["x_lower_out"] = self.hide.lower_out(self._val["x"])
        self.description = {
            "kind": "mocap", "train": str(train_path), "val": str(val_path), "stride": stride,
            "val_stride": val_stride, "views_per_frame": views_per_frame, "frames": len(frames), "noise": noise.to_dict(),
            "val_noise": val_noise.to_dict(), "train_views": len(train_cameras),
        } | ({"tilt_up_degrees": tilt_up} if tilt_up else {}) | ({"hidden_joints": self.hide.description} if self.hide else {})

    def epoch(self, batch_size: int, generator: torch.Generator):
        frames = len(self.synthesizer.poses_world)
        # Each frame appears views_per_frame times per epoch, each time through a random camera.
        order = torch.randperm(frames * self.views_per_frame, generator=generator, device=generator.device) % frames
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            x, target, _, _ = self.synthesizer(index, generator)
            if self.hide:
                x = self.hide(x, self.clip_of_frame[index], generator)
            yield x, target

    def validation(self) -> dict[str, np.ndarray]:
        return self._val
