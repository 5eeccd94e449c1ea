"""The embedded sample (``uao_deploy/assets/sample_keypoints.npz``) and the code that makes it.

Real motion, synthetic detector: CMU clip ``02_01`` (a walk toward and away from the camera, 143
frames at 50 fps) from the CMU test split (``cmu_h36m17/test.npz``), placed in the Human3.6M
capture space as captured, seen by camera 54138969 of subject S9 (a test subject) with its lens
distortion, plus detector noise of 3 px (:class:`uao_deploy.data.mocap.NoiseModel` with
sigma_min = sigma_max = 3, seed 0). Regenerate with::

    python -m uao_deploy.data.sample --mocap ../shared/data/cmu_h36m17/test.npz

The file is a plain keypoint npz (see :mod:`uao_deploy.data.keypoints`; no pickle):
``keypoints`` (T, 17, 3) pixels + confidence 1.0, ``width``, ``height``, ``fps``, ``focal`` and
``center`` (pixels, the camera's calibration), and the ground truth ``poses_3d_gt`` (T, 17, 3,
root-relative, camera frame, metres) and ``root_gt`` (T, 3), so the demo can report MPJPE.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .. import skeleton
from ..camera import image_coordinates, project
from ..errors import UaoError
from .cameras import h36m_cameras
from .mocap import NoiseModel, load_mocap

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "assets" / "sample_keypoints.npz"
CLIP, SUBJECT, CAMERA_ID, FPS = "02_01", "S9", "54138969", 50.0
NOISE = NoiseModel(sigma_min=3.0, sigma_max=3.0)


def make_sample(mocap_path, clip: str = CLIP, subject: str = SUBJECT, camera_id: str = CAMERA_ID,
                noise: NoiseModel = NOISE, seed: int = 0) -> dict[str, np.ndarray]:
    """The sample's arrays: ``clip`` of a mocap npz seen by one Human3.6M camera, with detector noise."""
    clips = load_mocap(mocap_path)
    if clip not in clips:
        raise UaoError(f"{mocap_path} has no clip {clip!r}")
    cameras = {camera.id: camera for camera in h36m_cameras()[subject]}
    if camera_id not in cameras:
        raise UaoError(f"subject {subject} has no camera {camera_id}; it has {', '.join(cameras)}")
    camera = cameras[camera_id]
    points = torch.from_numpy(camera.world_to_camera(clips[clip]))
    cam = torch.from_numpy(np.repeat(camera.intrinsics[None], len(points), axis=0))
    generator = torch.Generator().manual_seed(seed)
    x = project(points, cam) + noise.sample((len(points), skeleton.NUM_JOINTS, 2), generator)
    pixels = image_coordinates(x.numpy(), camera.width, camera.height)
    root = points[:, 0].numpy()
    return {
        "keypoints": np.concatenate([pixels, np.ones(pixels.shape[:2] + (1,), np.float32)], axis=-1),
        "width": np.float32(camera.width), "height": np.float32(camera.height), "fps": np.float32(FPS),
        "focal": (camera.intrinsics[0:2] * camera.width / 2).astype(np.float32),
        "center": image_coordinates(camera.intrinsics[2:4], camera.width, camera.height),
        "poses_3d_gt": skeleton.zero_root(points.numpy() - root[:, None]).astype(np.float32),
        "root_gt": root.astype(np.float32),
    }


def write_sample(mocap_path, out=SAMPLE_PATH) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        np.savez_compressed(handle, **make_sample(mocap_path))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the embedded sample keypoints from CMU test motion.")
    parser.add_argument("--mocap", required=True, help="the CMU test split, cmu_h36m17/test.npz")
    parser.add_argument("--out", default=str(SAMPLE_PATH), help="output npz (default: the package asset)")
    args = parser.parse_args(argv)
    path = write_sample(args.mocap, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
