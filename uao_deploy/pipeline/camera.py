"""The camera of one lifted sequence, as a value: image size, focal length and principal point in
pixels, and where the focal length came from. Built once (:func:`camera_of`), passed along, and
written into the output's metadata (:meth:`Camera.to_metadata`); engines take :meth:`Camera.normalized`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from ..camera import DEFAULT_FOCAL_RULE, check_intrinsics, normalized_intrinsics
from ..errors import UaoError

# The diagonal of a 36 x 24 mm film frame: a "35 mm equivalent" focal length is the one that gives
# the same angle of view across the image diagonal (CIPA DC-008, EXIF FocalLengthIn35mmFilm).
FILM_DIAGONAL_MM = math.hypot(36.0, 24.0)
# Log-space spread of the cameras users film with around the default focal length (the image's longer
# side): phones' and webcams' 0.7-0.9 x, action cameras' 0.5 x, lab and zoomed cameras' 1.1-2 x and more
# (docs/focal-length.md). The default camera's focal length is that uncertain.
DEFAULT_LOG_STD = 0.35


class FocalSource(Enum):
    """Where a camera's focal length came from."""

    ARGUMENT = "argument"  # --focal, --fov or --focal-35mm
    FILE = "file"  # the keypoint file's camera
    DEFAULT = "default"  # DEFAULT_FOCAL_RULE
    ESTIMATED = "estimated"  # fitted to the sequence (pipeline.focal)
    FALLBACK = "default after a rejected estimate"  # the fit was unusable; DEFAULT_FOCAL_RULE instead


@dataclass(frozen=True)
class Camera:
    """A pinhole camera without distortion, in pixels (origin top left, y down)."""

    width: float
    height: float
    fx: float
    fy: float
    cx: float
    cy: float
    focal_source: FocalSource = FocalSource.DEFAULT
    focal_interval: tuple[float, float] | None = None  # pixels: 5-95 % interval of an estimated focal length
    focal_note: str = ""  # how the focal length was found, in words (an estimate, or why one was rejected)
    focal_log_std: float = 0.0  # standard deviation of log(focal length): 0 when given

    @classmethod
    def default(cls, width: float, height: float, center: tuple[float, float] | None = None) -> "Camera":
        """An unknown camera: focal length = the image's longer side, principal point at the centre."""
        focal = float(max(width, height))
        cx, cy = center if center is not None else (width / 2, height / 2)
        return cls(float(width), float(height), focal, focal, float(cx), float(cy),
                   focal_note=f"focal length = {DEFAULT_FOCAL_RULE}", focal_log_std=DEFAULT_LOG_STD)

    @property
    def focal(self) -> tuple[float, float]:
        return self.fx, self.fy

    def scaled_focal(self, scale: float, source: FocalSource, interval=None, note: str = "",
                     log_std: float | None = None) -> "Camera":
        """This camera with both focal lengths times ``scale``; ``interval`` (pixels) and ``log_std``
        (of log(focal length); default: this camera's) as estimated."""
        return replace(self, fx=self.fx * scale, fy=self.fy * scale, focal_source=source,
                       focal_interval=None if interval is None else tuple(map(float, interval)), focal_note=note,
                       focal_log_std=self.focal_log_std if log_std is None else float(log_std))

    def normalized(self) -> np.ndarray:
        """The 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` the engines take (see :mod:`uao_deploy.camera`)."""
        return normalized_intrinsics(self.focal, (self.cx, self.cy), self.width, self.height)

    def to_metadata(self) -> dict:
        return {"width": self.width, "height": self.height, "focal_px": [self.fx, self.fy],
                "center_px": [self.cx, self.cy], "focal_source": self.focal_source.value,
                "focal_interval_px": None if self.focal_interval is None else list(self.focal_interval),
                "focal_note": self.focal_note, "focal_log_std": self.focal_log_std}

    def describe_focal(self) -> str:
        """One line for the log: the focal length and where it came from."""
        text = f"focal length {self.fx:.0f} px ({self.focal_source.value}"
        if self.focal_interval is not None:
            text += f", 90 % interval {self.focal_interval[0]:.0f}-{self.focal_interval[1]:.0f} px"
        return text + (f"; {self.focal_note})" if self.focal_note else ")")


def focal_from_fov(degrees: float, width: float) -> float:
    """Focal length in pixels of a horizontal field of view across an image ``width`` pixels wide."""
    if not 0 < degrees < 180:
        raise UaoError(f"the field of view must be between 0 and 180 degrees; got {degrees}")
    return width / 2 / math.tan(math.radians(degrees) / 2)


def focal_from_35mm(millimetres: float, width: float, height: float) -> float:
    """Focal length in pixels of a 35 mm equivalent focal length (same angle across the diagonal)."""
    if not millimetres > 0:
        raise UaoError(f"the 35 mm equivalent focal length must be positive; got {millimetres}")
    return millimetres * math.hypot(width, height) / FILM_DIAGONAL_MM


def camera_of(sequence, width: float | None = None, height: float | None = None, focal: float | None = None,
              fov: float | None = None, focal_35mm: float | None = None) -> Camera:
    """The camera of a :class:`~uao_deploy.data.keypoints.KeypointSequence`: the image size from
    ``width``/``height`` or the file; the focal length from ``focal`` (pixels), ``fov`` (degrees
    across the width) or ``focal_35mm`` (mm), else the file, else :meth:`Camera.default`."""
    if sum(value is not None for value in (focal, fov, focal_35mm)) > 1:
        raise UaoError("give one of --focal, --fov and --focal-35mm, not several")
    width = width if width is not None else sequence.width
    height = height if height is not None else sequence.height
    if width is None or height is None:
        raise UaoError(f"{sequence.source}: the image size is unknown; pass --width and --height (pixels)")
    check_intrinsics(width, height, None, sequence.center, sequence.source)
    camera = Camera.default(width, height, sequence.center)
    given = focal if focal is not None else focal_from_fov(fov, width) if fov is not None else \
        focal_from_35mm(focal_35mm, width, height) if focal_35mm is not None else None
    pixel_focal = (given, given) if given is not None else sequence.focal
    if pixel_focal is None:
        return camera
    check_intrinsics(width, height, pixel_focal, None, sequence.source)
    note = "--fov" if fov is not None else "--focal-35mm" if focal_35mm is not None else \
        "--focal" if focal is not None else "the keypoint file"
    return replace(camera, fx=float(pixel_focal[0]), fy=float(pixel_focal[1]),
                   focal_source=FocalSource.ARGUMENT if given is not None else FocalSource.FILE,
                   focal_note=f"from {note}", focal_log_std=0.0)
