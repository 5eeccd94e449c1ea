"""Inputs for checks, evaluation and benchmarks, from one place.

* :func:`load_pairs`: real keypoints with intrinsics, root and ground truth (the embedded sample, or
  mocap clips through the Human3.6M test cameras with detector noise), for ``uao verify``, ``uao
  bench`` and ``uao eval``;
* :func:`sample_keypoints`: a plausible synthetic batch of any size, for the export's check and the
  GPU check (each objective's ``sample_inputs`` builds its graphs' inputs on it);
* :func:`tile`: a batch of any size from given pairs; :func:`moved`: a point one small step away.
"""
from __future__ import annotations

import numpy as np

from .camera import default_intrinsics, normalize_screen_coordinates, normalized_intrinsics
from .errors import UaoError

PAIR_KEYS = ("x", "cam", "root", "target")


def load_pairs(data=None, noise: float = 4.0, stride: int = 1, seed: int = 0, frames: int | None = None) -> dict:
    """Keypoints with intrinsics, root and (when known) the ground-truth pose.

    ``data`` None: the embedded sample (a CMU walk seen by a Human3.6M camera, with ground truth);
    a mocap npz (clip -> (T, 17, 3)): every clip through the Human3.6M test subjects' cameras with
    ``noise`` pixels of detector noise (see :func:`uao_deploy.data.mocap.evaluation_pairs`).
    Returns ``{"x", "cam", "root", "target", "source"}`` with ``frames`` rows at most.
    """
    if stride < 1:
        raise UaoError(f"stride must be at least 1; got {stride}")
    if data is None:
        pairs = _sample_pairs(stride)
    else:
        from .data.cameras import evaluation_cameras
        from .data.mocap import NoiseModel, evaluation_pairs, load_mocap

        found = evaluation_pairs(load_mocap(data), evaluation_cameras(), NoiseModel(noise, noise), seed, stride)
        pairs = {key: found[key] for key in PAIR_KEYS}
        pairs["source"] = f"{data} (test cameras, noise {noise:g} px, stride {stride}, seed {seed})"
    if frames is not None:
        if frames < 1:
            raise UaoError(f"frames must be at least 1; got {frames}")
        pairs.update({key: pairs[key][:frames] for key in PAIR_KEYS})
    return pairs


def _sample_pairs(stride: int) -> dict:
    from .data.sample import SAMPLE_PATH

    with np.load(SAMPLE_PATH, allow_pickle=False) as sample:
        width, height = float(sample["width"]), float(sample["height"])
        x = normalize_screen_coordinates(sample["keypoints"][::stride, :, :2], width, height)
        cam = normalized_intrinsics(sample["focal"], sample["center"], width, height)
        return {"x": x, "cam": np.repeat(cam[None], len(x), axis=0), "root": sample["root_gt"][::stride],
                "target": sample["poses_3d_gt"][::stride], "source": f"embedded sample (stride {stride})"}


def sample_keypoints(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plausible (x, cam, root): a jittered standing skeleton about 4-6 m in front of a 1000 px camera."""
    rng = np.random.default_rng(seed)
    cam = np.repeat(default_intrinsics(1000, 1000)[None], batch, axis=0)
    root = np.stack([rng.uniform(-0.5, 0.5, batch), rng.uniform(-0.3, 0.3, batch), rng.uniform(4, 6, batch)], axis=1)
    height = np.array([0, -1, -5, -9, -1, -5, -9, 3, 6, 7, 8, 6, 4, 2, 6, 4, 2], dtype=np.float64) / 10
    side = np.array([0, -1, -1, -1, 1, 1, 1, 0, 0, 0, 0, 2, 3, 3, -2, -3, -3], dtype=np.float64) / 10
    pose = np.stack([side, -height, np.zeros_like(side)], axis=1)[None] + rng.normal(0, 0.05, (batch, 17, 3))
    points = pose + root[:, None]
    x = cam[:, None, 0:2] * points[..., :2] / points[..., 2:] + cam[:, None, 2:4]
    return x.astype(np.float32), cam.astype(np.float32), root.astype(np.float32)


def tile(pairs: dict, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, cam, root) of ``batch`` frames, repeating the available frames as needed."""
    rows = np.arange(batch) % len(pairs["x"])
    return tuple(np.ascontiguousarray(pairs[key][rows]) for key in ("x", "cam", "root"))


def moved(array: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """``array`` plus Gaussian noise of standard deviation ``scale`` (float32): a point one small step away."""
    return (array + rng.normal(0, scale, np.shape(array))).astype(np.float32)
