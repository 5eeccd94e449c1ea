"""Sequence UAO over a whole video: windows, the PyTorch reference loop, stitching.

The video is cut into overlapping windows (:mod:`uao_deploy.tto.windows`), a few windows at a time
are optimized together by :func:`uao_deploy.tto.sequence.refine_sequence` and their results are
cross-faded into per-frame outputs, so memory stays bounded by ``windows_per_call`` windows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UaoError
from ..tto.optimize import frozen
from ..tto.sequence import SequenceConfig, model_sequence_callables, refine_sequence
from ..tto.windows import Stitcher

WINDOW = 64  # frames per window (1.3 s at 50 fps)
OVERLAP = 16


@dataclass
class SequenceResult:
    poses_3d: np.ndarray  # (T, 17, 3) root-relative, root joint 0
    root: np.ndarray  # (T, 3) camera frame, metres
    focal_scale: float  # fitted focal / given focal (1 unless config.fit_focal)


def refine_video(model, x: np.ndarray, confidence: np.ndarray, cam: np.ndarray, root: np.ndarray,
                 config: SequenceConfig = SequenceConfig(), window: int = WINDOW, overlap: int = OVERLAP,
                 windows_per_call: int = 8) -> SequenceResult:
    """Sequence UAO of one video: x (T, 17, 2) normalized, confidence (T, 17), cam (9,), root (T, 3) initial."""
    frames = len(x)
    if confidence.shape != x.shape[:2] or root.shape != (frames, 3) or cam.shape != (9,):
        raise UaoError(f"sequence UAO needs x (T, 17, 2), confidence (T, 17), cam (9,) and root (T, 3); got "
                       f"{x.shape}, {confidence.shape}, {cam.shape} and {root.shape}")
    stitcher = Stitcher(frames, window, overlap)
    length = stitcher.length
    focal_scales = []
    with frozen(model):
        forward, step = model_sequence_callables(model, config)
        for first in range(0, len(stitcher.starts), windows_per_call):
            indices = range(first, min(first + windows_per_call, len(stitcher.starts)))
            spans = [slice(stitcher.starts[i], stitcher.starts[i] + length) for i in indices]

            def gather(array):
                return torch.from_numpy(np.stack([array[span] for span in spans]).astype(np.float32))

            cams = torch.from_numpy(np.repeat(cam[None].astype(np.float32), len(spans), axis=0))
            pose, fitted_root, focal, _ = refine_sequence(forward, step, gather(x), gather(confidence), cams,
                                                          gather(root), config)
            for row, index in enumerate(indices):
                stitcher.add(index, {"pose": pose[row].numpy(), "root": fitted_root[row].numpy()})
            focal_scales.append(focal[:, 0].numpy())
    return SequenceResult(stitcher.result("pose"), stitcher.result("root"),
                          float(np.concatenate(focal_scales).mean()))
