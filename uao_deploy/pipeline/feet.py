"""Foot contacts and planted feet: where a foot stands, the lifted ankle stays put and on the floor.

**Contacts** (:func:`estimate_contacts`, (T, 2) bool, left then right foot): in the world frame of
the result (:mod:`uao_deploy.pipeline.world`, floor at Y = 0), a foot is in contact in a frame
where its ankle is low over the floor (``CONTACT_HEIGHT``), slow in 3D (``CONTACT_SPEED``, its
speed over ``SPEED_FRAMES`` frames) and still in the image (its 2D speed over ``SPEED_FRAMES_2D``
frames under ``CONTACT_SPEED_2D`` body heights per second, the body height in pixels being the
sequence's median pelvis-to-head-top distance / ``TORSO_SHARE``). Both ankle tracks are first
median-filtered over ``MEDIAN_FRAMES`` frames: a detector's gross errors (an ankle on the other foot
for a few frames) jump and come back, in the image and in the lifted ankle that follows them, and
the median drops them, while a step, a change of level, passes whole. The image decides most:
lifted ankles of a standing foot move at 0.2-0.5 m/s in 3D, a detector's ankle far less. Where both
ankles are still in the image (under ``CONTACT_STILL_2D`` body heights per second) and keep their
distance in 3D, the lifted body drifts as one, mostly in depth (a person crouching on the spot can be
lifted moving away at metres per second), and the 3D speed limit does not apply. An ankle
the detector never saw in that frame (``joint_source`` inferred) is not in contact, whatever its 3D
says. Gaps shorter than ``MIN_GAP_S`` are filled; a run whose filtered 2D ankle wanders more than
``STANCE_WANDER`` body heights from its median is two stances with a slow step between (a shuffle),
so it is cut at its fastest frame, again until none wanders (one anchor per stance); then runs
shorter than ``MIN_CONTACT_S`` are dropped.

**The floor** (:func:`place_feet`): once the contacts are found, the world frame's floor is moved to run
through the ``STANDING_FLOOR_PERCENTILE``-th percentile of the standing ankles' heights (less
``ANKLE_HEIGHT``), not the low tail of every ankle's height: the standing feet stand on it.

**Planting** (:func:`plant_feet`): each run of contact frames gets one anchor, the ankle's median
position over the run, raised to the floor where it was under it (Y = ``ANKLE_HEIGHT``; set on the
floor outright, it moved the root by centimetres where the fitted floor was off). Where a stance was
cut in two, the ankle goes from the first anchor to the second on a minimum-jerk path over
``BRIDGE_FRAMES`` frames each side of the cut (:func:`_bridge_cuts`), not in a jump. Then, in the
world frame, by two weighted least-squares smoothings over time
(:func:`uao_deploy.trajectory.smooth_tracks`):

1. the root moves by ``ROOT_SHARE`` (``BOTH_ROOT_SHARE`` where both feet stand) of the smooth offset
   that best brings the ankles in contact onto their anchors (both feet count; the offset is pulled
   to zero with ``FREE_WEIGHT`` elsewhere), so a sliding body slides less without jumps;
2. each standing ankle is set on its anchor, the offset fading out smoothly around its runs, and
   every ankle is kept above the floor; where a standing ankle's anchor lies beyond its leg's reach
   the whole body moves (smoothly) just enough towards it (:func:`_within_reach`: else the
   straightened leg's ankle slides after the hip), and the leg follows by two-bone inverse kinematics
   (:func:`leg_ik`): the hip stays, thigh and shin keep their lengths of that frame, and the knee
   bends in the plane it bent in.

**Legs never seen** (:func:`stand_unseen_legs`): a leg whose knee and ankle were detected in no
frame (a person seen from the waist up) is placed by the pose prior and the network alone. On
synthetic clips they lift it standing (hip to ankle 0.94-0.96 of thigh + shin); on close-ups far
from the training cameras they may fold it (the real webcam clip knelt, knees on the floor). Folded (hip to ankle under ``FOLDED_REACH`` of the leg, the median
over the clip and the never-seen legs), they are stood: each ankle straight below its hip, at
``ANKLE_HEIGHT`` over the floor that :mod:`.world` puts under feet never seen, the knee bent forwards,
bone lengths kept. The floor under feet never
seen is a guess (:mod:`.world`), which the metadata (``feet.floor_guess``) and the CLI say.

The constants were chosen on the validation clips (``ROOT_SHARE`` and ``BOTH_ROOT_SHARE`` on train and validation;
docs/world-grounded.md).
"""
from __future__ import annotations

import numpy as np

from ..trajectory import moving_median, smooth_tracks
from .missing import INFERRED
from .height import leg_length
from .world import (ANKLE_HEIGHT, HEAD, MIN_FLOOR_FRAMES, PELVIS, estimate_world_frame, floor_under_feet,
                    guessed_pelvis_height)

# (hip, knee, ankle) of the left and the right leg: the contacts' columns (io.results.schema.FEET).
LEGS = ((4, 5, 6), (1, 2, 3))
CONTACT_HEIGHT = 0.3  # metres of the ankle over its floor height (ANKLE_HEIGHT)
CONTACT_SPEED = 1.2  # m/s of the ankle in 3D (lifted ankles in stance move about 0.2-0.5 m/s)
CONTACT_SPEED_2D = 0.3  # body heights per second of the ankle in the image
CONTACT_STILL_2D = 0.1  # body heights per second: both ankles this still in the image, the body may drift (below)
SPEED_FRAMES = 4  # the 3D speed: centred differences over this many frames on each side (6: a slow walk
# towards the camera, whose swinging ankle moves at 1.25 m/s mostly in depth, stood on its swinging foot)
SPEED_FRAMES_2D = 6  # the 2D speed, over more frames: a detector's noise is larger than the lifted ankle's
MEDIAN_FRAMES = 11  # the ankle tracks' median filter: gross errors lasting up to 5 frames are dropped
STANCE_WANDER = 0.05  # body heights the filtered 2D ankle may stray from its median within one stance
TORSO_SHARE = 0.5  # the pelvis-to-head-top distance over the standing height
MIN_CONTACT_S = 0.08
MIN_GAP_S = 0.06
FREE_WEIGHT = 0.02  # weight of "no offset" where no foot is in contact, against 1 per foot in contact
ROOT_SMOOTHNESS = 300.0  # acceleration penalty of the root's offset, per unit weight
ANKLE_SMOOTHNESS = 10.0  # acceleration penalty of each ankle's offset: it lets go of the anchor over a few frames, as
# a detector's contacts often end before the foot lifts (lower: the ankle jumped back to the lifted one there)
HOLD_WEIGHT = 1e4  # weight of a standing ankle's offset: held
# The share of that offset the root takes; the legs take the rest. All of it stopped as much sliding
# but moved the root away from the truth (train + val: +6 mm root error; half of it: +1.5 mm).
ROOT_SHARE = 0.5
# The share where both feet stand: their common offset is mostly the body's drift (in depth), which the
# legs cannot take without bending wrongly (0.75 against 0.5 and 1.0 chosen on train + val).
BOTH_ROOT_SHARE = 0.75
# The floor, once the feet are found, runs through this percentile of the standing ankles' heights (less
# ANKLE_HEIGHT): their stances scatter by centimetres in height, and a low tail of every ankle's height, the
# floor before, lies under most of them (standing feet floated). Higher percentiles made val's MPJPE worse:
# its clips climb steps, and a floor raised to the step pushes the ankles below it up.
STANDING_FLOOR_PERCENTILE = 25
REACH = 0.999  # of thigh + shin: how far a standing leg may stretch towards its anchor
# stand_unseen_legs: under what hip-to-ankle distance over thigh + shin a never-seen leg counts as folded
# (the val clips with the lower body out of frame lift them at 0.94-0.96, CMU train frames with the
# pelvis still stand at 0.94; the real signer 0.80, the webcam 0.5). The angle to the down direction is
# no test: it is measured against an up estimated from the trunk, 30 degrees off on a test clip whose
# subject bends over.
FOLDED_REACH = 0.85
BRIDGE_FRAMES = 2  # frames each side of a stance's cut over which its ankle goes from one anchor to the next
# (longer bridges lowered jitter further but moved ankles the truth held still: more sliding under drift)


def _speed(track: np.ndarray, fps: float, frames: int) -> np.ndarray:
    """(T,) speed per second of a track (T, D): centred differences over ``frames`` frames each side."""
    padded = np.pad(track, ((frames, frames), (0, 0)), mode="edge")
    return np.linalg.norm(padded[2 * frames:] - padded[:-2 * frames], axis=-1) * fps / (2 * frames)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True in a (T,) mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _fill_gaps(mask: np.ndarray, min_gap: int) -> np.ndarray:
    """Gaps (between runs) shorter than ``min_gap`` frames filled."""
    mask = mask.copy()
    for start, stop in _runs(~mask):
        if 0 < start and stop < len(mask) and stop - start < min_gap:
            mask[start:stop] = True
    return mask


def _drop_short(mask: np.ndarray, min_run: int) -> np.ndarray:
    """Runs shorter than ``min_run`` frames dropped."""
    mask = mask.copy()
    for start, stop in _runs(mask):
        if stop - start < min_run:
            mask[start:stop] = False
    return mask


def _split_wandering(mask: np.ndarray, track: np.ndarray, speed: np.ndarray, limit: float, min_run: int) -> np.ndarray:
    """Runs of ``mask`` whose ``track`` (T, 2) strays more than ``limit`` from the run's median cut at
    their fastest frame (by ``speed``), again until none strays or a part is shorter than 2 ``min_run``."""
    mask = mask.copy()
    todo = _runs(mask)
    while todo:
        start, stop = todo.pop()
        part = track[start:stop]
        if stop - start < 2 * min_run or np.linalg.norm(part - np.median(part, axis=0), axis=-1).max() <= limit:
            continue
        cut = start + 1 + int(np.argmax(speed[start + 1:stop - 1]))
        mask[cut] = False
        todo += [(start, cut), (cut + 1, stop)]
    return mask


def estimate_contacts(world_joints: np.ndarray, keypoints: np.ndarray, fps: float,
                      joint_source: np.ndarray | None = None) -> np.ndarray:
    """(T, 2) bool foot contacts (left, right) of world-frame joints (T, 17, 3) (floor at Y = 0) and the
    2D keypoints (T, 17, 2) they were lifted from, at ``fps``."""
    world_joints = np.asarray(world_joints, np.float64)
    keypoints = np.asarray(keypoints, np.float64)
    body_px = max(np.median(np.linalg.norm(keypoints[:, HEAD] - keypoints[:, PELVIS], axis=-1)) / TORSO_SHARE, 1e-6)
    min_run = round(MIN_CONTACT_S * fps)
    ankles = [ankle for _, _, ankle in LEGS]
    tracks = moving_median(world_joints[:, ankles], MEDIAN_FRAMES, "nearest")  # (T, 2, 3)
    images = moving_median(keypoints[:, ankles], MEDIAN_FRAMES, "nearest")  # (T, 2, 2)
    image_speed = np.stack([_speed(images[:, foot], fps, SPEED_FRAMES_2D) for foot in range(len(LEGS))], axis=1)
    # Both ankles still in the image and keeping their distance in 3D: the body drifts as one (its depth),
    # the feet stand however fast the lifted ankles move. A foot swinging towards the camera moves little in
    # the image too, but away from the other foot.
    drift = ((image_speed < CONTACT_STILL_2D * body_px).all(axis=1)
             & (_speed(tracks[:, 0] - tracks[:, 1], fps, SPEED_FRAMES) < CONTACT_SPEED))
    contacts = np.zeros((len(world_joints), len(LEGS)), bool)
    for foot, ankle in enumerate(ankles):
        low = world_joints[:, ankle, 1] - ANKLE_HEIGHT < CONTACT_HEIGHT
        slow = (_speed(tracks[:, foot], fps, SPEED_FRAMES) < CONTACT_SPEED) | drift
        seen = np.ones(len(low), bool) if joint_source is None else joint_source[:, ankle] != INFERRED
        standing = _fill_gaps(low & slow & (image_speed[:, foot] < CONTACT_SPEED_2D * body_px) & seen,
                              round(MIN_GAP_S * fps))
        contacts[:, foot] = _drop_short(_split_wandering(standing, images[:, foot], image_speed[:, foot],
                                                         STANCE_WANDER * body_px, min_run), min_run)
    return contacts


def leg_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(knee, ankle) (T, 3) of legs moved so that the ankle reaches ``target`` (T, 3) where it can: the
    hip stays, thigh and shin keep their lengths, the knee bends in the plane of its original bend.
    An unreachable target is approached along the line from the hip."""
    thigh = np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    shin = np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
    reach = target - hip
    distance = np.linalg.norm(reach, axis=-1, keepdims=True)
    distance_ok = np.clip(distance, np.abs(thigh - shin) + 1e-6, thigh + shin - 1e-6)
    axis = reach / np.maximum(distance, 1e-9)
    # Along the axis the knee sits at a (law of cosines), off it by h towards where it bent before.
    along = (thigh ** 2 - shin ** 2 + distance_ok ** 2) / (2 * distance_ok)
    off = np.sqrt(np.maximum(thigh ** 2 - along ** 2, 0))
    bend = knee - hip
    bend = bend - (bend * axis).sum(-1, keepdims=True) * axis
    bend_norm = np.linalg.norm(bend, axis=-1, keepdims=True)
    fallback = np.cross(axis, np.array([1.0, 0, 0]))  # a straight leg bends forwards-ish, any side will do
    bend = np.where(bend_norm > 1e-9, bend / np.maximum(bend_norm, 1e-12), fallback / np.maximum(
        np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-12))
    new_knee = hip + along * axis + off * bend
    new_ankle = new_knee + shin * _unit(hip + distance_ok * axis - new_knee)
    return new_knee, new_ankle


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)


def stand_unseen_legs(poses: np.ndarray, joint_source: np.ndarray | None, up: np.ndarray) -> np.ndarray | None:
    """Root-relative ``poses`` (T, 17, 3) with the legs whose knee and ankle were never detected stood
    under their hips along ``up`` (camera frame) where the lift folded them; None where no leg was
    never seen or none is folded (see the module docstring)."""
    if joint_source is None:
        return None
    unseen = [leg for leg in LEGS if not (np.asarray(joint_source)[:, list(leg[1:])] == 0).any()]
    if not unseen:
        return None
    poses = np.array(poses, np.float64)
    up = _unit(np.asarray(up, np.float64))
    reach = [np.median(np.linalg.norm(poses[:, ankle] - poses[:, hip], axis=-1)
                       / np.maximum(leg_length(poses, hip, knee, ankle), 1e-9)) for hip, knee, ankle in unseen]
    if np.mean(reach) >= FOLDED_REACH:
        return None
    across = poses[:, 4] - poses[:, 1]  # right hip -> left hip
    forward = _unit(np.cross(across - (across @ up)[:, None] * up, up))
    ankle_below_pelvis = guessed_pelvis_height(poses) - ANKLE_HEIGHT
    for hip, knee, ankle in unseen:
        thigh = np.linalg.norm(poses[:, knee] - poses[:, hip], axis=-1, keepdims=True)
        shin = np.linalg.norm(poses[:, ankle] - poses[:, knee], axis=-1, keepdims=True)
        bent = poses[:, hip] + thigh * _unit(forward - 10 * up)  # which way the knee bends: forwards
        below = (poses[:, hip] @ up)[:, None] + ankle_below_pelvis  # poses are pelvis-relative
        poses[:, knee], poses[:, ankle] = leg_ik(poses[:, hip], bent, bent - shin * up, poses[:, hip] - below * up)
    return poses.astype(np.float32)


def _floor_guess(detected: np.ndarray | None, stood: bool) -> str | None:
    """What the CLI says where the floor is not under detected feet (:mod:`.world`); None where it is."""
    if detected is None or floor_under_feet(detected, len(detected)):
        return None
    stand = "; the legs, lifted folded, are drawn standing" if stood else ""
    return (f"the floor is a guess: the feet were not seen, so it lies a standing leg's length under the hips"
            f"{stand} (a seated person's floor is higher)")


def anchors(world_joints: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """(T, 2, 3) the anchor of each foot's contact run in every frame of it (NaN elsewhere): the ankle's
    median position over the run, not under the floor."""
    targets = np.full(contacts.shape + (3,), np.nan)
    for foot, (_, _, ankle) in enumerate(LEGS):
        for start, stop in _runs(contacts[:, foot]):
            anchor = np.median(world_joints[start:stop, ankle], axis=0)
            anchor[1] = max(anchor[1], ANKLE_HEIGHT)  # not under the floor
            targets[start:stop, foot] = anchor
    return targets


def _bridge_cuts(targets: np.ndarray, contacts: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(targets, held) (T, 2, 3), (T, 2): where a stance was cut in two (one frame left out between its
    parts, :func:`_split_wandering`), the ankle is held on a minimum-jerk path from the first part's
    anchor to the second's over up to ``frames`` frames each side of the cut, not made to jump there
    (a jump stops and starts the whole body: jitter, and a jolt in the root's pull)."""
    bridged, held = targets.copy(), contacts.copy()
    for foot in range(contacts.shape[1]):
        runs = _runs(contacts[:, foot])
        for (start, stop), (after, end) in zip(runs, runs[1:]):
            if after - stop != 1:
                continue
            first, last = max((start + stop) // 2, stop - frames), min((after + end + 1) // 2, after + frames)
            share = np.arange(1, last - first + 1) / (last - first + 1)
            share = share ** 3 * (10 - 15 * share + 6 * share ** 2)  # minimum jerk from 0 to 1
            step = targets[after, foot] - targets[start, foot]
            bridged[first:last, foot] = targets[start, foot] + share[:, None] * step
            held[first:last, foot] = True
    return bridged, held


def plant_feet(world_joints: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """World-frame joints (T, 17, 3) with the feet in ``contacts`` (T, 2) held on their anchors, the root
    moved smoothly towards them, the legs solved to reach them and every ankle above the floor."""
    joints = np.asarray(world_joints, np.float64).copy()
    targets, contacts = _bridge_cuts(anchors(joints, contacts), contacts, BRIDGE_FRAMES)
    ankles = joints[:, [leg[2] for leg in LEGS]]  # (T, 2, 3)
    in_contact = contacts.astype(np.float64)
    pull = np.where(contacts[..., None], targets - ankles, 0).sum(axis=1) / np.maximum(in_contact.sum(1), 1)[:, None]
    root_weight = in_contact.sum(axis=1) + FREE_WEIGHT
    share = np.where(contacts.all(axis=1), BOTH_ROOT_SHARE, ROOT_SHARE)[:, None]
    joints += smooth_tracks(share * pull, root_weight[:, None], ROOT_SMOOTHNESS)[:, None].astype(np.float64)
    ankle_targets = []
    for foot, (hip, knee, ankle) in enumerate(LEGS):
        standing = contacts[:, foot, None]
        offset = np.where(standing, targets[:, foot] - joints[:, ankle], 0)
        # held exactly on the anchor while standing, fading out smoothly around it
        weight = np.where(standing, HOLD_WEIGHT, FREE_WEIGHT)
        faded = joints[:, ankle] + smooth_tracks(offset, weight, ANKLE_SMOOTHNESS)
        target = np.where(standing, targets[:, foot], faded)
        target[:, 1] = np.maximum(target[:, 1], ANKLE_HEIGHT)
        ankle_targets.append(target)
    joints += _within_reach(joints, ankle_targets, contacts)[:, None]
    for (hip, knee, ankle), target in zip(LEGS, ankle_targets):
        joints[:, knee], joints[:, ankle] = leg_ik(joints[:, hip], joints[:, knee], joints[:, ankle], target)
    return joints


def _within_reach(joints: np.ndarray, ankle_targets: list[np.ndarray], contacts: np.ndarray) -> np.ndarray:
    """(T, 3) the smallest smooth shift of the body that brings every standing ankle's target within its
    leg's reach (``REACH`` of thigh + shin): out of reach, the straightened leg's ankle would slide
    towards its anchor instead of standing on it."""
    shift = np.zeros((len(joints), 3))
    need = np.zeros(len(joints), bool)
    for _ in range(2):  # a shift towards one foot's anchor can take the other's out of reach
        for (hip, knee, ankle), target, standing in zip(LEGS, ankle_targets, contacts.T):
            leg = REACH * leg_length(joints, hip, knee, ankle)
            gap = target - (joints[:, hip] + shift)
            distance = np.linalg.norm(gap, axis=-1)
            short = standing & (distance > leg)
            shift[short] += ((distance - leg) / np.maximum(distance, 1e-9))[short, None] * gap[short]
            need |= short
    # held where needed, fading out around it: no jump where a foot comes within reach
    return smooth_tracks(shift, np.where(need, HOLD_WEIGHT, FREE_WEIGHT)[:, None], ANKLE_SMOOTHNESS).astype(np.float64)


def place_feet(poses: np.ndarray, root: np.ndarray, keypoints: np.ndarray, fps: float,
               joint_source: np.ndarray | None = None, plant: bool = True):
    """(root-relative poses (T, 17, 3), root (T, 3), contacts (T, 2) bool, what was done, the world frame) of
    a camera-frame result: its foot contacts on the floor of its world frame, and with ``plant`` its feet
    planted on that floor. Fitted again after planting, the floor would move under the planted ankles."""
    detected = None if joint_source is None else np.asarray(joint_source) == 0
    frame = estimate_world_frame(poses, root, detected=detected)
    stood = stand_unseen_legs(poses, joint_source, frame.up)
    if stood is not None:  # the up direction comes from detected joints: only the floor moves
        poses = stood
        frame = estimate_world_frame(poses, root, detected=detected)
    world = frame.place(poses, root)[0].astype(np.float64)
    contacts = estimate_contacts(world, keypoints, fps, joint_source)
    standing = np.concatenate([world[contacts[:, foot], ankle, 1] for foot, (_, _, ankle) in enumerate(LEGS)])
    if len(standing) >= MIN_FLOOR_FRAMES:  # the floor through the standing feet
        rise = np.percentile(standing, STANDING_FLOOR_PERCENTILE) - ANKLE_HEIGHT
        frame = frame.floor_raised(rise)
        world[..., 1] -= rise
    guess = _floor_guess(detected, stood is not None)
    info = {"contacts": "estimated from ankle height over the fitted floor, ankle speed and 2D stillness",
            "floor": "through the standing ankles" if len(standing) >= MIN_FLOOR_FRAMES else
            "under the lowest ankles" if guess is None else "a standing leg's length under the pelvis",
            "floor_guess": guess,
            "planted": plant, "contact_share": contacts.mean(axis=0).round(3).tolist()}
    if not plant:
        return poses, root, contacts, info, frame
    planted = frame.to_camera(plant_feet(world, contacts))
    new_root = planted[:, PELVIS]
    return (planted - new_root[:, None]).astype(np.float32), new_root.astype(np.float32), contacts, info, frame
