"""What every keypoint reader returns: one person's 2D track, converted to Human3.6M-17."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..results.schema import check_fps


@dataclass(frozen=True)
class KeypointSequence:
    """One person's 2D track in Human3.6M-17 order; missing joints are NaN with confidence 0."""

    name: str  # names output files: the file stem, plus the video, or the person when several are lifted
    source: str  # the file (and the video or person inside it)
    format: str  # "mhformer" | "keypoints" | "videopose3d" | a detector reader's name (io.keypoints.READERS)
    layout: str  # the layout the file was in: a name of io.layouts.LAYOUTS
    pixels: np.ndarray  # (T, 17, 2) float32, pixels, origin top left, y down
    confidence: np.ndarray  # (T, 17) float32
    width: float | None = None
    height: float | None = None
    fps: float | None = None
    focal: tuple[float, float] | None = None  # pixels
    center: tuple[float, float] | None = None  # pixels
    person: int | None = None  # the track id within a file of several people
    notes: tuple[str, ...] = ()  # what the reader decided that the user should hear (a person left out...)

    def __len__(self) -> int:
        return len(self.pixels)

    def __post_init__(self):
        # A file's fps becomes the result's frame times (BVH, CSV, animations): NaN, 1e308 or 1e-9 is refused here.
        object.__setattr__(self, "fps", check_fps(self.fps, self.source))
