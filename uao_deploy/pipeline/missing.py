"""Joints the detector did not see: interpolated over short gaps, inferred from a pose prior otherwise.

Every joint of every frame gets a source (``joint_source``, (T, 17) uint8):

* ``DETECTED`` (0): the detector's point.
* ``INTERPOLATED`` (1): missing for at most ``INTERPOLATE_MAX_FRAMES`` frames in a row: linear
  interpolation over time between the detections around the gap (the nearest one at a clip's
  ends). A joint hidden for a moment moves little.
* ``INFERRED`` (2): missing for longer, or never seen. Never placed at an arbitrary pixel (the
  parent's, or a straight line through a long gap): each frame's detected joints are compared, up
  to a similarity transform (scale, rotation, shift), with the training poses of the pose prior
  (``assets/pose_prior_2d.npz``: CMU train poses seen by the Human3.6M training cameras), and an
  inferred joint starts at the mean of where the ``PRIOR_NEIGHBOURS`` nearest of them put it,
  smoothed over ``PRIOR_SMOOTH_FRAMES`` frames (:func:`nearest_poses`): the legs of a person seen
  from the waist up stand under the hips the way bodies with that upper body stand. A frame with
  fewer than 3 detected joints falls back to the body fitted to ``TEMPLATE`` (the median upright
  front view of the training poses) on its detected trunk: the joint sits where its own
  detections before and after the gap put it relative to that body, or where the template does.

These 2D points are only a start. The network reads a body whose inferred joints disagree with
its detected ones as another pose (the upper body too), so the sequence lift lets the body settle
them first (:func:`settle_inferred`, ``SETTLE_ROUNDS`` times: each inferred joint moves to where
the lifted body projects it, and the body is lifted again). UAO then treats them as free
variables with reprojection weight 0 (their confidence is 0), placed by the network's prior and
the pseudo-target term (the method's own idea applied to what is missing). Last, every bone
ending in an inferred joint keeps one length (:func:`steady_inferred_bones`).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import skeleton
from ..camera import project
from ..errors import UaoError
from ..io.layouts import mark_missing
from ..io.results.schema import JOINT_SOURCES

DETECTED, INTERPOLATED, INFERRED = (JOINT_SOURCES.index(name) for name in ("detected", "interpolated", "inferred"))
# Longest gap filled by interpolation: 0.2 s at 50 fps, 0.4 s at 25 fps.
INTERPOLATE_MAX_FRAMES = 10
# Median over the CMU train clips of every root-relative pose turned to face the camera (its
# hips along the image's x axis), seen orthographically: x right, y down, metres.
TEMPLATE = np.array([
    [0.0, 0.0], [-0.088, 0.0], [-0.086, 0.358], [-0.075, 0.76], [0.088, 0.0], [0.097, 0.354], [0.09, 0.758],
    [-0.002, -0.234], [-0.008, -0.468], [-0.007, -0.583], [-0.011, -0.678], [0.123, -0.47], [0.174, -0.24],
    [0.19, -0.209], [-0.137, -0.467], [-0.186, -0.221], [-0.2, -0.215]])
# Median bone lengths of the CMU train poses (metres), by the bone's lower joint (0 for the pelvis).
BONE_LENGTHS = np.array([0.0, 0.088, 0.368, 0.454, 0.088, 0.368, 0.454, 0.237, 0.235, 0.122, 0.1, 0.115, 0.282,
                         0.237, 0.115, 0.282, 0.237])
LIMB_JOINTS = tuple(skeleton.JOINT_NAMES.index(name) for name in (
    "r_knee", "r_ankle", "l_knee", "l_ankle", "l_elbow", "l_wrist", "r_elbow", "r_wrist"))
LEG_JOINTS = LIMB_JOINTS[:4]
# off_body: a limb joint farther from its nearest detected ancestor than REACH times the bones between
# them (in the body's own scale) is no detection of it. The synthetic CMU train clips, seen whole, reach
# 2.9 at most; the real files of ../shared/data 2.7 (a dancer's wrist).
REACH = 3.0
# off_body: a knee or ankle whose parent is unseen and that lies above the spine's level in the body's
# frame (template metres below the hips; negative is up) is no detection of it: a leg joint seen
# without the leg that holds it, higher than a kick or a seated knee puts it.
LEG_ABOVE = TEMPLATE[skeleton.JOINT_NAMES.index("spine"), 1]
# nearest_poses: the training poses (jobs/pose_prior.py makes them), how many nearest ones a frame's
# inferred joints start at the mean of, and over how many frames that start is averaged (chosen on val).
PRIOR_PATH = Path(__file__).resolve().parents[1] / "assets" / "pose_prior_2d.npz"
PRIOR_NEIGHBOURS = 16
PRIOR_SMOOTH_FRAMES = 5
PRIOR_MIN_JOINTS = 3
# Rounds in which the inferred joints settle where the lifted body puts them (chosen on val clips).
SETTLE_ROUNDS = 4
# The joints the body is fitted on: they move together (limbs do not).
TRUNK = tuple(skeleton.JOINT_NAMES.index(name) for name in (
    "pelvis", "r_hip", "l_hip", "spine", "thorax", "neck_nose", "head", "l_shoulder", "r_shoulder"))


def fill_and_mark(pixels: np.ndarray, confidence: np.ndarray | None = None, source: str = "keypoints",
                  prior: np.ndarray | None = None,
                  smooth_frames: int = PRIOR_SMOOTH_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """(filled pixels (T, 17, 2), joint source (T, 17) uint8) of (T, 17, 2) pixels (see the module docstring).

    Missing: NaN coordinates, or confidence <= 0 when ``confidence`` (T, 17) is given. No detected
    joint at all is a :class:`UaoError`. ``prior`` and ``smooth_frames``: see :func:`nearest_poses`
    (training fills unrelated frames, each from a prior without its own clip).
    """
    if confidence is not None:
        pixels, confidence = mark_missing(pixels, confidence)
    pixels = np.asarray(pixels, np.float64)
    detected = np.isfinite(pixels).all(axis=-1)
    if not detected.any():
        raise UaoError(f"{source} has no detected joint in any frame (all NaN or zero confidence)")
    frames = np.arange(len(pixels))
    scale, shift, mirrored = _body_fits(pixels, detected)
    normalized = _to_template(pixels, scale, shift, mirrored)
    filled = np.where(detected[..., None], pixels, 0.0)
    sources = np.where(detected, DETECTED, INFERRED).astype(np.uint8)
    for joint in range(skeleton.NUM_JOINTS):
        seen = detected[:, joint]
        if not seen.any():
            template = np.repeat(TEMPLATE[None, joint], len(pixels), axis=0)
            filled[:, joint] = _from_template(template, scale, shift, mirrored)
            continue
        short = ~seen & (_gap_lengths(seen) <= INTERPOLATE_MAX_FRAMES)
        for axis in (0, 1):
            along = np.interp(frames, frames[seen], pixels[seen, joint, axis])
            filled[short, joint, axis] = along[short]
        inside = np.stack([np.interp(frames, frames[seen], normalized[seen, joint, axis]) for axis in (0, 1)], -1)
        long = ~seen & ~short
        filled[long, joint] = _from_template(inside, scale, shift, mirrored)[long]
        sources[short, joint] = INTERPOLATED
    if (sources == INFERRED).any():
        prior = _along_the_trunk(nearest_poses(pixels, detected, prior, smooth_frames), filled, detected)
        started = (sources == INFERRED) & np.isfinite(prior).all(axis=-1)
        filled[started] = prior[started]
    return filled.astype(np.float32), sources


def _along_the_trunk(prior: np.ndarray, filled: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """``prior`` (T, 17, 2) turned and scaled about its thorax, in frames whose pelvis is not detected
    and thorax is, so that its pelvis lands on ``filled``'s (the template body's): the trunk keeps the
    line of the detected head and shoulders' upright body, the hips and legs the neighbours' shape
    and step. The neighbours of a tilted head lean; a signer's trunk followed them 21 degrees."""
    pelvis, thorax = (skeleton.JOINT_NAMES.index(name) for name in ("pelvis", "thorax"))
    near = prior[..., 0] + 1j * prior[..., 1]
    body = filled[..., 0] + 1j * filled[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        turn = (body[:, pelvis] - body[:, thorax]) / (near[:, pelvis] - near[:, thorax])
    moved = ~detected[:, pelvis] & detected[:, thorax] & np.isfinite(turn)
    near[moved] = body[moved, thorax, None] + turn[moved, None] * (near[moved] - near[moved, thorax, None])
    return np.stack([near.real, near.imag], axis=-1)


@lru_cache(maxsize=1)
def training_poses() -> np.ndarray:
    """(N, 17) complex: the pose prior's 2D training poses (x + iy), each centred, of unit norm."""
    with np.load(PRIOR_PATH) as prior:
        return _complex_poses(prior["poses_2d"])


def _complex_poses(poses: np.ndarray) -> np.ndarray:
    poses = np.asarray(poses, np.float64)
    return poses[..., 0] + 1j * poses[..., 1]


def nearest_poses(pixels: np.ndarray, detected: np.ndarray, prior: np.ndarray | None = None,
                  smooth_frames: int = PRIOR_SMOOTH_FRAMES, chunk: int = 128) -> np.ndarray:
    """(T, 17, 2) pixels where the training poses nearest each frame's ``detected`` joints of ``pixels``
    (T, 17, 2) put every joint: each training pose is aligned to the frame by the similarity transform
    (complex scale-and-rotation, shift) that best fits it on those joints; the ``PRIOR_NEIGHBOURS`` of
    least relative residual are averaged, then each joint over ``smooth_frames`` frames. NaN in
    frames with fewer than ``PRIOR_MIN_JOINTS`` detected joints. ``prior``: (N, 17, 2) poses in the
    format of ``assets/pose_prior_2d.npz`` instead of it."""
    poses = training_poses() if prior is None else _complex_poses(prior)
    points = np.where(detected, pixels[..., 0] + 1j * pixels[..., 1], 0)
    placed = np.full(detected.shape, complex(np.nan, np.nan))
    patterns: dict[tuple, list[int]] = {}
    for frame in np.flatnonzero(detected.sum(axis=1) >= PRIOR_MIN_JOINTS):
        patterns.setdefault(tuple(np.flatnonzero(detected[frame])), []).append(frame)
    for joints, frames in patterns.items():
        known = poses[:, list(joints)]
        known_mean = known.mean(axis=1, keepdims=True)
        known = known - known_mean
        norms = (np.abs(known) ** 2).sum(axis=1)
        for start in range(0, len(frames), chunk):
            rows = frames[start:start + chunk]
            seen = points[rows][:, list(joints)]
            seen_mean = seen.mean(axis=1, keepdims=True)
            seen = seen - seen_mean
            fit = seen @ np.conj(known).T  # (F, N): the best scale-and-rotation is fit / norms
            residual = 1 - np.abs(fit) ** 2 / norms / np.maximum((np.abs(seen) ** 2).sum(axis=1, keepdims=True), 1e-12)
            nearest = np.argpartition(residual, PRIOR_NEIGHBOURS, axis=1)[:, :PRIOR_NEIGHBOURS]
            scale = np.take_along_axis(fit, nearest, axis=1) / norms[nearest]
            placed[rows] = (scale[..., None] * (poses[nearest] - known_mean[nearest]) + seen_mean[:, None]).mean(axis=1)
    half = smooth_frames // 2
    padded = np.pad(placed, ((half, half), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (T, 17, window)
    counts = np.isfinite(windows.real).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        smoothed = np.where(np.isfinite(windows), windows, 0).sum(axis=-1) / counts
    smoothed[~np.isfinite(placed)] = complex(np.nan, np.nan)  # a frame without its own neighbours keeps the template's start
    return np.stack([smoothed.real, smoothed.imag], axis=-1)


def off_body(pixels: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """(T, 17) mask of ``detected`` joints of ``pixels`` (T, 17, 2) that cannot be where they are: a limb
    joint beyond ``REACH`` times its bones from its nearest detected ancestor, or a knee or ankle with its
    parent unseen above ``LEG_ABOVE`` (HRNet puts a webcam signer's unseen right ankle on her right wrist,
    scored 0.2). Distances are in the body's own frame (:func:`_body_fits` on the trunk)."""
    detected = np.asarray(detected, bool)
    impossible = np.zeros_like(detected)
    if detected[:, list(TRUNK)].sum(axis=1).max(initial=0) < 2:
        return impossible  # no trunk to measure a limb against
    pixels = np.where(detected[..., None], pixels, 0.0).astype(np.float64)
    body = _to_template(pixels, *_body_fits(pixels, detected))
    frames = np.arange(len(pixels))
    for joint in LIMB_JOINTS:
        ancestor = np.full(len(pixels), -1)
        chain = np.zeros(len(pixels))
        step, length = joint, 0.0
        while skeleton.PARENTS[step] >= 0:
            length += BONE_LENGTHS[step]
            step = skeleton.PARENTS[step]
            found = detected[:, step] & (ancestor < 0)
            ancestor[found], chain[found] = step, length
        reach = np.linalg.norm(body[:, joint] - body[frames, np.maximum(ancestor, 0)], axis=-1)
        impossible[:, joint] = detected[:, joint] & (ancestor >= 0) & (reach > REACH * chain)
        if joint in LEG_JOINTS:
            impossible[:, joint] |= (detected[:, joint] & ~detected[:, skeleton.PARENTS[joint]]
                                     & (body[:, joint, 1] < LEG_ABOVE))
    return impossible


def settle_inferred(x: np.ndarray, inferred: np.ndarray, poses: np.ndarray, root: np.ndarray,
                    cams: np.ndarray) -> np.ndarray:
    """Normalized keypoints ``x`` (T, 17, 2) with the ``inferred`` (T, 17) joints moved to where the
    lifted body (root-relative ``poses`` (T, 17, 3) at ``root`` (T, 3), intrinsics ``cams`` (T, 9)) projects them.

    A joint beyond 45 degrees off the camera's axis (where :func:`~uao_deploy.camera.project` clamps,
    e.g. the legs of a person close to a webcam) goes where a plain pinhole puts it, not onto the
    clamp's edge; one behind the camera keeps its place."""
    placed = poses.astype(np.float64) + root[:, None].astype(np.float64)
    cams = cams.astype(np.float64)
    depth = placed[..., 2:3]
    ratio = placed[..., :2] / np.where(depth > 0, depth, 1)
    pinhole = cams[:, None, 0:2] * ratio + cams[:, None, 2:4]
    projected = np.where((np.abs(ratio) > 1).any(axis=-1, keepdims=True), pinhole, project(placed, cams))
    moved = inferred[..., None] & (depth > 0)
    return np.where(moved, projected, x).astype(np.float32)


# Frames in which a bone must be seen (both joints not inferred) for its own median length to be used.
BONE_SEEN_FRAMES = 10


def steady_inferred_bones(poses: np.ndarray, joint_source: np.ndarray) -> np.ndarray:
    """Root-relative ``poses`` (T, 17, 3) whose bones ending in an inferred joint keep one length: the
    bone's median length where both its joints were seen (in at least ``BONE_SEEN_FRAMES`` frames),
    else over the clip. Each such bone is scaled along its lifted direction, the joints below it
    moving with it. A limb does not grow; a network guessing one it cannot see may make it."""
    poses = np.array(poses, np.float64)
    inferred = np.asarray(joint_source) == INFERRED
    below = {joint: [joint] for joint in range(skeleton.NUM_JOINTS)}
    for joint in range(skeleton.NUM_JOINTS - 1, 0, -1):  # parents have smaller indices than their children
        below[skeleton.PARENTS[joint]] += below[joint]
    for joint in range(1, skeleton.NUM_JOINTS):
        rows = inferred[:, joint]
        if not rows.any():
            continue
        parent = skeleton.PARENTS[joint]
        bone = poses[:, joint] - poses[:, parent]
        length = np.linalg.norm(bone, axis=-1)
        seen = ~rows & ~inferred[:, parent]
        target = np.median(length[seen] if seen.sum() >= BONE_SEEN_FRAMES else length)
        shift = bone[rows] * (target / np.maximum(length[rows], 1e-9) - 1)[:, None]
        for moved in below[joint]:
            poses[rows, moved] += shift
    return poses.astype(np.float32)


def _gap_lengths(seen: np.ndarray) -> np.ndarray:
    """(T,) the length of the run of missing frames each frame is in (0 where seen)."""
    lengths = np.zeros(len(seen), np.int64)
    start = None
    for frame, value in enumerate(np.append(seen, True)):
        if not value and start is None:
            start = frame
        elif value and start is not None:
            lengths[start:frame] = frame - start
            start = None
    return lengths


def _body_fits(pixels: np.ndarray, detected: np.ndarray):
    """Per frame: complex scale-and-rotation a (T,), shift b (T,) and mirrored (T,) bool such that the
    template's joint q sits at a * q + b (a * conj(q) + b when mirrored), fitted on the detected trunk
    joints (on all detected joints when no frame has two trunk joints); interpolated over time
    through frames without two such joints."""
    joints = list(TRUNK) if (detected[:, list(TRUNK)].sum(axis=1) >= 2).any() else list(range(skeleton.NUM_JOINTS))
    points = pixels[:, joints, 0] + 1j * pixels[:, joints, 1]
    template = TEMPLATE[joints, 0] + 1j * TEMPLATE[joints, 1]
    use = detected[:, joints]
    frames = np.arange(len(pixels))
    fitted = use.sum(axis=1) >= 2
    scale = np.zeros(len(pixels), complex)
    shift = np.zeros(len(pixels), complex)
    mirrored = np.zeros(len(pixels), bool)
    for frame in np.flatnonzero(fitted):
        p, w = points[frame, use[frame]], use[frame]
        best = None
        for flip in (False, True):
            q = np.conj(template[w]) if flip else template[w]
            qc, pc = q - q.mean(), p - p.mean()
            a = (np.conj(qc) @ pc) / (np.abs(qc) ** 2).sum()
            if a == 0:  # the points coincide: no body to fit
                continue
            residual = np.abs(a * qc - pc).sum()
            if best is None or residual < best[0]:
                best = (residual, a, p.mean() - a * q.mean(), flip)
        if best is None:
            fitted[frame] = False
        else:
            _, scale[frame], shift[frame], mirrored[frame] = best
    if not fitted.any():  # never two distinct points: a template one pixel per metre, at the mean point
        seen = pixels[detected]
        return np.ones(len(pixels), complex), np.full(len(pixels), seen[:, 0].mean() + 1j * seen[:, 1].mean()), mirrored
    for values in (scale, shift):
        values[~fitted] = (np.interp(frames[~fitted], frames[fitted], values[fitted].real)
                           + 1j * np.interp(frames[~fitted], frames[fitted], values[fitted].imag))
    mirrored[~fitted] = np.interp(frames[~fitted], frames[fitted], mirrored[fitted].astype(float)) > 0.5
    return scale, shift, mirrored


def _to_template(pixels, scale, shift, mirrored) -> np.ndarray:
    z = ((pixels[..., 0] + 1j * pixels[..., 1]) - shift[:, None]) / scale[:, None]
    z = np.where(mirrored[:, None], np.conj(z), z)
    return np.stack([z.real, z.imag], axis=-1)


def _from_template(normalized, scale, shift, mirrored) -> np.ndarray:
    """(T, 2) template coordinates of one joint -> (T, 2) pixels."""
    z = normalized[..., 0] + 1j * normalized[..., 1]
    z = scale * np.where(mirrored, np.conj(z), z) + shift
    return np.stack([z.real, z.imag], axis=-1)


# What the CLI reports as "<part> inferred in N % of frames" when it is so in at least MOSTLY of them.
BODY_PARTS = {part: tuple(skeleton.JOINT_NAMES.index(name) for name in names) for part, names in (
    ("legs", ("r_knee", "r_ankle", "l_knee", "l_ankle")), ("hips", ("pelvis", "r_hip", "l_hip")),
    ("arms", ("l_elbow", "l_wrist", "r_elbow", "r_wrist")), ("head", ("neck_nose", "head")))}
MOSTLY = 0.5


def inferred_parts(joint_source: np.ndarray | None) -> list[str]:
    """["legs inferred in 92 % of frames", ...]: the body parts with a joint inferred in at least
    ``MOSTLY`` of the frames (none without ``joint_source``)."""
    lines = []
    if joint_source is None:
        return lines
    for part, joints in BODY_PARTS.items():
        share = (np.asarray(joint_source)[:, list(joints)] == INFERRED).any(axis=1).mean()
        if share >= MOSTLY:
            lines.append(f"{part} inferred in {100 * share:.0f} % of frames")
    return lines
