"""Camera geometry: the seed's coordinate normalization, distorted projection and root estimation.

Normalized image coordinates divide both axes by the width w (aspect ratio kept):
``u' = u / w * 2 - 1`` and ``v' = v / w * 2 - h / w``. Intrinsics are normalized the same way into
``[fx, fy, cx, cy, k1, k2, k3, p1, p2]``.
"""
from __future__ import annotations

import math

import numpy as np

from .arrays import concat

from .errors import UaoError

CAM_DIM = 9
# Sane camera values in pixels: wide enough for any real camera (a 100-megapixel sensor, a 1 degree
# telephoto), narrow enough that normalization and root estimation stay finite and meaningful.
IMAGE_SIZE_RANGE = (8.0, 100_000.0)
FOCAL_PER_WIDTH_RANGE = (0.05, 100.0)
# The principal point may lie this many image sizes outside the image; beyond that it is a file error.
OFF_IMAGE_MARGIN = 1.0
# A keypoint more than this share of the image size outside it was not seen, whatever its score: the
# detector had no pixels there. Top-down detectors guess such joints from a crop padded past the
# frame (HRNet puts a webcam signer's hips 0.65 image heights below it, scored 0.3-0.6).
SEEN_MARGIN = 0.1


def check_intrinsics(width, height, focal=None, center=None, source: str = "camera") -> None:
    """Refuse image sizes, focal lengths (fx, fy) and principal points (cx, cy), in pixels, that no
    camera has: NaN, infinite, <= 0, or outside the ranges above. ``source`` names where they came from."""
    low, high = IMAGE_SIZE_RANGE
    for name, value in (("width", width), ("height", height)):
        if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and low <= value <= high):
            raise UaoError(f"{source}: image {name} {value!r} px is not a number between {low:g} and {high:g}")
    if focal is not None:
        low, high = (bound * width for bound in FOCAL_PER_WIDTH_RANGE)
        if not all(math.isfinite(value) and low <= value <= high for value in focal):
            raise UaoError(f"{source}: focal length {tuple(focal)} px is outside {low:g}..{high:g} px "
                           f"({FOCAL_PER_WIDTH_RANGE[0]:g} to {FOCAL_PER_WIDTH_RANGE[1]:g} times the image width)")
    if center is not None:
        sizes = (width, height)
        if not all(math.isfinite(value) and -OFF_IMAGE_MARGIN * size <= value <= (1 + OFF_IMAGE_MARGIN) * size
                   for value, size in zip(center, sizes)):
            raise UaoError(f"{source}: principal point {tuple(center)} px lies far outside the "
                           f"{width:g} x {height:g} image")


def far_off_image(pixels: np.ndarray, width: float, height: float) -> np.ndarray:
    """(..., 17) mask of keypoints (..., 17, 2) more than ``SEEN_MARGIN`` image sizes outside the image."""
    size = np.array([width, height], np.float64)
    with np.errstate(invalid="ignore"):
        return ((pixels < -SEEN_MARGIN * size) | (pixels > (1 + SEEN_MARGIN) * size)).any(axis=-1)


def normalize_screen_coordinates(pixels: np.ndarray, width: float, height: float) -> np.ndarray:
    """Pixels (..., 2) -> normalized coordinates (..., 2)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    return (pixels / width * 2 - np.array([1.0, height / width], dtype=np.float32)).astype(np.float32)


def image_coordinates(normalized: np.ndarray, width: float, height: float) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    normalized = np.asarray(normalized, dtype=np.float32)
    return ((normalized + np.array([1.0, height / width], dtype=np.float32)) * width / 2).astype(np.float32)


def normalized_intrinsics(focal, center, width: float, height: float, radial=(0.0, 0.0, 0.0),
                          tangential=(0.0, 0.0)) -> np.ndarray:
    """Pixel intrinsics -> the 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` in normalized units."""
    focal = np.asarray(focal, dtype=np.float64) / width * 2
    center = normalize_screen_coordinates(np.asarray(center, dtype=np.float64), width, height)
    return np.concatenate([focal, center, radial, tangential]).astype(np.float32)


DEFAULT_FOCAL_RULE = "the image's longer side"  # how default_intrinsics picks the focal length, for messages


def default_intrinsics(width: float, height: float, focal: float | None = None) -> np.ndarray:
    """Intrinsics for an unknown camera: principal point at the image centre, no distortion.

    Without ``focal`` (pixels) the focal length is the image's longer side (the common convention
    f = max(w, h)): about 53 degrees across the longer side, typical of phone and webcam footage,
    and the same camera in portrait or landscape keeps its focal length in pixels.
    """
    focal = float(max(width, height)) if focal is None else float(focal)
    return normalized_intrinsics((focal, focal), (width / 2, height / 2), width, height)


def project(points, cam):
    """Distorted pinhole projection of camera-frame points (B, J, 3) with intrinsics (B, 9) -> (B, J, 2).

    x/z and y/z are clamped to [-1, 1] as in the seed, which keeps the projection finite for points
    far outside the field of view. Tensors (the objective, traced into graphs) or numpy arrays.
    """
    cam = cam[:, None, :]
    focal, center = cam[..., 0:2], cam[..., 2:4]
    radial_k, tangential_p = cam[..., 4:7], cam[..., 7:9]
    xy = (points[..., :2] / points[..., 2:3]).clip(-1.0, 1.0)
    r2 = (xy * xy).sum(-1)[..., None]
    radial = 1 + (radial_k * concat([r2, r2 * r2, r2 * r2 * r2], axis=-1)).sum(-1)[..., None]
    tangential = (tangential_p * xy).sum(-1)[..., None]
    distorted = xy * (radial + tangential) + tangential_p * r2
    return focal * distorted + center


def estimate_root(pose: np.ndarray, keypoints: np.ndarray, cam: np.ndarray,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Camera-frame root position (B, 3) that best reprojects a root-relative pose onto 2D keypoints.

    For each frame solve, in the least-squares sense over joints j,
    ``fx (X_j + t_x) = (u_j - c_x)(Z_j + t_z)`` and the same for y: two equations linear in the
    translation t per joint, optionally weighted (e.g. by detector confidence). Lens distortion is
    ignored here; TTO's projection term accounts for it.

    pose (B, J, 3) metres, keypoints (B, J, 2) and cam (B, 9) normalized, weights (B, J) >= 0.
    """
    normal, rhs = root_normal_equations(pose, keypoints, cam, weights)
    normal = normal + 1e-12 * np.eye(3)
    return np.linalg.solve(normal, rhs[..., None])[..., 0].astype(np.float32)


def root_normal_equations(pose, keypoints, cam, weights=None, keypoint_variance: float = 0.0,
                          around: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The per-frame least-squares problem of :func:`estimate_root` as normal equations (B, 3, 3), (B, 3).

    ``keypoint_variance`` (normalized units squared, per axis) corrects for keypoint noise: noise in
    u - c sits in the depth column of the design, so on average it adds its variance to the depth
    entry of the normal matrix and takes it times the joint's depth from the right-hand side. A
    noisy pose looks larger than it is and the root comes out too near, more the noisier the video;
    subtracting both expectations (errors-in-variables) removes that. At most half of the depth entry
    is removed, so a frame with few joints stays solvable.

    ``around`` (B, 3) roots: the equations of one Gauss-Newton step on the reprojection error itself,
    linearized there (the solution is the next estimate). The depth column then holds the pose's
    projection instead of the keypoint, so no noise sits in the design and no noise estimate is
    needed: any noise a detector adds -- white, slow drift, gross errors -- leaves the root unbiased,
    where the equations above see only what ``keypoint_variance`` says. Each joint keeps the weight it
    has above (times its depth at ``around`` squared), so both fits weigh frames and joints alike.
    """
    pose = np.asarray(pose, dtype=np.float64)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    cam = np.asarray(cam, dtype=np.float64)
    if weights is None:
        weights = np.ones(pose.shape[:2])
    weights = np.sqrt(np.asarray(weights, dtype=np.float64))

    rows, rhs = [], []
    if around is not None:
        around = np.asarray(around, dtype=np.float64)
        points = pose + around[:, None]
    for axis in (0, 1):
        focal, centre = cam[:, None, axis], cam[:, None, 2 + axis]
        offset = keypoints[..., axis] - centre  # (B, J)
        coeffs = np.zeros(pose.shape[:2] + (3,))
        coeffs[..., axis] = focal
        if around is None:
            coeffs[..., 2] = -offset
            target = offset * pose[..., 2] - focal * pose[..., axis]
        else:  # residual (u - c) z - f x at ``around``, plus the step's design times ``around``
            coeffs[..., 2] = -focal * points[..., axis] / points[..., 2]
            target = (offset * points[..., 2] - focal * points[..., axis]
                      + focal * around[:, None, axis] + coeffs[..., 2] * around[:, None, 2])
        rows.append(coeffs * weights[..., None])
        rhs.append(target * weights)
    design = np.concatenate(rows, axis=1)  # (B, 2J, 3)
    target = np.concatenate(rhs, axis=1)  # (B, 2J)
    normal, rhs = np.einsum("bji,bjk->bik", design, design), np.einsum("bji,bj->bi", design, target)
    if keypoint_variance > 0 and around is None:
        noise = 2 * keypoint_variance * weights ** 2  # both axes, per joint (B, J)
        share = np.minimum(1.0, 0.5 * normal[:, 2, 2] / np.maximum(noise.sum(axis=1), 1e-30))
        normal[:, 2, 2] -= share * noise.sum(axis=1)
        rhs[:, 2] += share * (noise * pose[..., 2]).sum(axis=1)
    return normal, rhs
