"""Keypoints made ready for an engine: keypoints far off the image or off the body count as missing,
missing joints are filled over time, pixels are normalized, and each joint gets its weight in the root fit."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..camera import far_off_image, normalize_screen_coordinates
from ..errors import UaoError
from ..io.keypoints.sequence import KeypointSequence
from .camera import Camera
from ..io.layouts import mark_missing
from .missing import DETECTED, fill_and_mark, off_body

# Root-fit weight of a filled (not detected) joint: small, but a frame with no detection at all
# still gets a finite root from its interpolated keypoints.
FILLED_WEIGHT = 1e-3


@dataclass(frozen=True)
class Prepared:
    """One sequence ready to lift, with the camera it was prepared for."""

    camera: Camera
    pixels: np.ndarray  # (T, 17, 2) pixels, missing joints filled
    joint_source: np.ndarray  # (T, 17) uint8: detected, interpolated or inferred (pipeline.missing)
    confidence: np.ndarray  # (T, 17) detector confidence, 0 where the joint was filled
    source: str = "keypoints"
    info: dict = field(default_factory=dict)  # what the input file said: format, layout, fps
    # detections taken as missing, by reason: "far_off_image" (camera.far_off_image), "off_body" (missing.off_body)
    set_aside: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def detected(self) -> np.ndarray:
        """(T, 17) bool: the joint was detected (not filled)."""
        return self.joint_source == DETECTED

    @property
    def x(self) -> np.ndarray:
        """Normalized keypoints (T, 17, 2), as the engines take them."""
        return normalize_screen_coordinates(self.pixels, self.camera.width, self.camera.height)

    @property
    def weights(self) -> np.ndarray:
        """Root-fit weights (T, 17): the confidence, ``FILLED_WEIGHT`` for filled joints."""
        return np.where(self.detected, self.confidence, FILLED_WEIGHT)


SET_ASIDE_REASONS = {"far_off_image": "far outside the image",
                     "off_body": "off the body (beyond a limb's reach, or a knee or ankle above the hips without its leg)"}


def set_aside_note(counts: dict) -> str | None:
    """The CLI's line for :attr:`Prepared.set_aside` counts, or None when no detection was set aside."""
    reasons = [f"{counts[name]} {why}" for name, why in SET_ASIDE_REASONS.items() if counts.get(name)]
    return f"detections taken as missing: {'; '.join(reasons)}" if reasons else None


def prepare(keypoints, camera: Camera, confidence: np.ndarray | None = None, source: str | None = None) -> Prepared:
    """``keypoints``: a :class:`~uao_deploy.data.keypoints.KeypointSequence`, or pixels (T, 17, 2) with
    ``confidence`` (T, 17) (default 1; NaN coordinates are missing), or (T, 17, 3) with it as the last channel."""
    info = {}
    if isinstance(keypoints, KeypointSequence):
        pixels, confidence = keypoints.pixels, keypoints.confidence
        source = source or keypoints.source
        info = {"format": keypoints.format, "layout": keypoints.layout, "fps": keypoints.fps}
    else:
        pixels = np.asarray(keypoints, np.float32)
        if pixels.ndim != 3 or pixels.shape[1:] not in ((17, 2), (17, 3)) or len(pixels) == 0:
            raise UaoError(f"keypoints must be (T, 17, 2) or (T, 17, 3) pixels; got shape {pixels.shape}")
        if pixels.shape[2] == 3:
            if confidence is not None:
                raise UaoError("keypoints (T, 17, 3) carry their confidence; give no separate confidence")
            pixels, confidence = pixels[..., :2], pixels[..., 2]
        confidence = np.ones(pixels.shape[:2], np.float32) if confidence is None else np.asarray(confidence, np.float32)
        if confidence.shape != pixels.shape[:2]:
            raise UaoError(f"confidence must be (T, 17) = {pixels.shape[:2]}; got {confidence.shape}")
        source = source or "keypoints"
    pixels, confidence = mark_missing(pixels, confidence)
    off_image = far_off_image(pixels, camera.width, camera.height) & (confidence > 0)
    confidence = np.where(off_image, 0.0, confidence).astype(np.float32)
    impossible = off_body(pixels, confidence > 0)
    confidence = np.where(impossible, 0.0, confidence).astype(np.float32)
    filled, sources = fill_and_mark(pixels, confidence, source)
    return Prepared(camera, filled, sources, np.where(sources == DETECTED, confidence, 0).astype(np.float32), source,
                    info, {"far_off_image": int(off_image.sum()), "off_body": int(impossible.sum())})
