"""Sequence UAO over a whole video on any engine: windows, the engine's sequence graphs, stitching.

The video is cut into overlapping windows (:mod:`uao_deploy.tto.windows`), ``windows_per_call``
windows at a time go through :meth:`Engine.sequence_tto <uao_deploy.engines.base.Engine.sequence_tto>`
(the fused sequence graph, or its step graph looped on the host) and their results are
cross-faded into per-frame outputs, so memory stays bounded however long the video is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import CAM_DIM
from ..contract import WINDOW_FRAMES
from ..errors import UaoError
from ..tto.windows import Stitcher

WINDOW = WINDOW_FRAMES
OVERLAP = 10  # frames shared with each neighbour: 11 % more work than no overlap


@dataclass
class SequenceResult:
    poses_3d: np.ndarray  # (T, 17, 3) root-relative, root joint 0
    root: np.ndarray  # (T, 3) camera frame, metres


def refine_video(engine, x: np.ndarray, confidence: np.ndarray, cam: np.ndarray, root: np.ndarray,
                 iters: int | None = None, window: int = WINDOW, overlap: int = OVERLAP,
                 windows_per_call: int = 4) -> SequenceResult:
    """Sequence UAO of one video: x (T, 17, 2) normalized, confidence (T, 17), cam (9,), root (T, 3) initial."""
    frames = len(x)
    shapes = (x.shape[1:], confidence.shape, root.shape, cam.shape)
    if shapes != ((17, 2), x.shape[:2], (frames, 3), (CAM_DIM,)):
        raise UaoError(f"sequence UAO needs x (T, 17, 2), confidence (T, 17), cam ({CAM_DIM},) and root (T, 3); got "
                       f"{x.shape}, {confidence.shape}, {cam.shape} and {root.shape}")
    stitcher = Stitcher(frames, window, overlap)
    for first in range(0, len(stitcher.starts), windows_per_call):
        indices = range(first, min(first + windows_per_call, len(stitcher.starts)))
        spans = [slice(stitcher.starts[i], stitcher.starts[i] + stitcher.length) for i in indices]

        def gather(array):
            return np.stack([array[span] for span in spans])

        cams = np.repeat(cam[None], len(spans), axis=0)
        pose, trajectory, _, _ = engine.sequence_tto(gather(x), gather(confidence), cams, gather(root), iters)
        for row, index in enumerate(indices):
            stitcher.add(index, {"pose": pose[row], "root": trajectory[row]})
    return SequenceResult(stitcher.result("pose"), stitcher.result("root"))
