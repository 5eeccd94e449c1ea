"""What every detector reader shares: detections per frame -> one Human3.6M-17 track per person.

A reader returns :class:`Detections`: every person found in every frame, with the detector's track
id where it gives one. :func:`to_sequences` then checks the keypoint counts, settles the layout,
merges a person split into two detections of a frame (:func:`merge_split_people`), links untracked
detections into tracks (:func:`link_tracks`), converts each track to Human3.6M-17 and picks the
requested people (:mod:`.people`). A frame where a person is absent stays NaN with confidence 0:
:func:`uao_deploy.pipeline.missing.fill_and_mark` fills it later, and the output's ``joint_source`` marks it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import UaoError
from .. import budget, layouts
from .checks import check_inside_image, drop_implausible
from .people import choose_people
from .sequence import KeypointSequence

# Untracked detections in consecutive frames are one person when their centres are closer than
# this many body sizes, and a track that was not seen for this many frames is not continued.
LINK_DISTANCE = 0.5
LINK_GAP_FRAMES = 30
# Keypoints more than this fraction of the image size outside it count as outside (checks.check_inside_image).
OUTSIDE_MARGIN = 0.25
# One person split into two detections of a frame (see merge_split_people): at most this many joints
# found by both, and the gap between the two boxes within this fraction of their size.
SPLIT_SHARED_JOINTS = 2
SPLIT_DISTANCE = 0.1


@dataclass
class Person:
    frame: int
    keypoints: np.ndarray  # (J, 3): x, y in pixels, confidence; a missing joint is NaN, NaN, 0
    track: int | None = None  # the detector's own track id, when it has one
    where: str = ""  # the file (and entry) it came from, for error messages

    def __post_init__(self):  # a missing joint however a detector spells it: NaN, NaN, 0
        points, confidence = layouts.mark_missing(self.keypoints[:, :2], self.keypoints[:, 2])
        self.keypoints = np.column_stack([points, confidence]).astype(np.float64)


@dataclass
class Detections:
    source: Path
    format: str
    frames: int
    people: list[Person] = field(default_factory=list)
    default_layouts: dict[int, str] = field(default_factory=dict)  # joint count -> layout when not forced
    width: float | None = None
    height: float | None = None


def frame_numbers(names: list[str]) -> list[int]:
    """Frame index of each name: its last number (minus the smallest), else its rank in sorted order.

    Numbers keep the gaps a detector leaves when it writes nothing for a frame with nobody in it
    (bounded by :func:`uao_deploy.io.budget.frame_count`).
    """
    numbers = [re.findall(r"\d+", Path(name).stem) for name in names]
    if all(numbers) and len({int(n[-1]) for n in numbers}) == len(names):
        values = [int(n[-1]) for n in numbers]
        return [value - min(values) for value in values]
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    ranks = [0] * len(names)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def natural_key(name: str):
    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", name)]  # "²" is a digit, not decimal


def files_in(folder: Path, suffix: str) -> list[Path]:
    """The folder's files ending in ``suffix``, in natural order (frame 2 before frame 10)."""
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == suffix),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise UaoError(f"{folder} holds no {suffix} files")
    patterns = sorted({re.sub(r"\d+", "#", p.name) for p in files})  # video_#_keypoints.json
    if len(patterns) > 1:
        raise UaoError(f"{folder} mixes the frames of several videos ({', '.join(patterns[:3])}); "
                       "give one video's folder")
    return files


def keypoint_rows(values, where: str, dims: int = 3) -> np.ndarray:
    """A flat [x, y, c, x, y, c, ...] list (or a list of [x, y(, c)]) -> (J, dims) float array."""
    try:  # null (None) becomes NaN: a missing joint
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise UaoError(f"{where}: keypoints are not a list of numbers") from None
    if array.ndim == 1:
        if array.size % dims:
            raise UaoError(f"{where}: {array.size} keypoint values are not a multiple of {dims} (x, y, confidence)")
        array = array.reshape(-1, dims)
    if array.ndim != 2 or array.shape[1] != dims or len(array) == 0:
        raise UaoError(f"{where}: keypoints have shape {array.shape}; expected (joints, {dims})")
    return array


def to_sequences(detections: Detections, layout: str = "auto", person: str = "main") -> list[KeypointSequence]:
    """The Human3.6M-17 :class:`KeypointSequence` of each track ``person`` selects (see the module
    docstring and :mod:`.people`)."""
    source = detections.source
    people = [p for p in detections.people if (p.keypoints[:, 2] > 0).any()]  # not an empty skeleton
    if not people:
        raise UaoError(f"{source}: no person detected in any of its {detections.frames} frames")
    counts = {len(p.keypoints) for p in people}
    if len(counts) > 1:
        first = people[0]
        odd = next(p for p in people if len(p.keypoints) != len(first.keypoints))
        raise UaoError(f"{source}: people have different keypoint counts ({len(first.keypoints)} in {first.where}, "
                       f"{len(odd.keypoints)} in {odd.where}); one file must hold one skeleton")
    joints = counts.pop()
    _check_inside_image(detections, people)
    layout = _resolve_layout(detections, joints, layout)
    tracks = link_tracks(merge_split_people(people))
    budget.check_tracks(source, len(tracks), detections.frames)
    several = len(tracks) > 1
    stem = source.stem if source.is_file() else source.name
    sequences = []
    for track in sorted(tracks):
        points = np.full((detections.frames, joints, 2), np.nan, np.float32)
        confidence = np.zeros((detections.frames, joints), np.float32)
        # A frame with two detections of one track keeps the more confident one.
        for p in sorted(tracks[track], key=lambda p: np.nansum(p.keypoints[:, 2])):
            points[p.frame], confidence[p.frame] = p.keypoints[:, :2], p.keypoints[:, 2]
        confidence = drop_implausible(points, confidence, detections.width, detections.height)
        pixels, confidence = layouts.to_h36m(points, confidence, layout, str(source))
        sequences.append(KeypointSequence(
            name=stem, source=f"{source}#person{track}" if several else str(source),
            format=detections.format, layout=layout, pixels=pixels, confidence=confidence,
            width=detections.width, height=detections.height, person=track))
    return choose_people(sequences, person, source)


def merge_split_people(people: list[Person]) -> list[Person]:
    """Merge a person the detector split into two detections of one frame (an upper and a lower body).

    Two untracked detections of one frame are one person when their detected joints barely
    overlap (at most ``SPLIT_SHARED_JOINTS`` in common; OpenPose's split of the Pose2Sim subject
    has one wrist in both, 0.3 body sizes apart) and their boxes touch (a gap of at most
    ``SPLIT_DISTANCE`` of the pair's size): then each joint comes from the more confident one.
    """
    by_frame: dict[int, list[Person]] = {}
    for p in people:
        by_frame.setdefault(p.frame, []).append(p)
    merged = []
    for frame_people in by_frame.values():
        frame_people = list(frame_people)
        # Only pairs whose joint counts allow a split are looked at (a crowd of thousands has few).
        seen = np.array([p.keypoints[:, 2] > 0 for p in frame_people])
        untracked = np.array([p.track is None for p in frame_people])
        partners = [set(row.tolist()) for row in _could_be_halves(seen, seen, untracked, untracked)]
        i = 0
        while i < len(frame_people):
            partner = next((j for j in sorted(partners[i]) if j > i and _split_halves(frame_people[i], frame_people[j])),
                           None)
            if partner is None:
                i += 1
                continue
            a, b = frame_people[i], frame_people.pop(partner)
            keypoints = np.where((b.keypoints[:, 2] > a.keypoints[:, 2])[:, None], b.keypoints, a.keypoints)
            frame_people[i] = Person(a.frame, keypoints, a.track, f"{a.where} merged with {b.where}")
            # Renumber past the removed partner; the merged person's partners are found anew.
            partners = [{j - (j > partner) for j in row if j != partner} for k, row in enumerate(partners) if k != partner]
            seen = np.delete(seen, partner, axis=0)
            untracked = np.delete(untracked, partner)
            seen[i] = keypoints[:, 2] > 0
            partners[i] = set(_could_be_halves(seen[i:i + 1], seen, untracked[i:i + 1], untracked)[0].tolist())
            for j, row in enumerate(partners):
                row.discard(i)
                if j in partners[i]:
                    row.add(i)
        merged += frame_people
    return merged


def _could_be_halves(seen_a: np.ndarray, seen_b: np.ndarray, untracked_a: np.ndarray,
                     untracked_b: np.ndarray, block: int = 256) -> list[np.ndarray]:
    """For each row of A, the B indices that pass :func:`_split_halves`' joint tests: both
    untracked, at most ``SPLIT_SHARED_JOINTS`` joints seen by both, and each with a joint the other
    lacks. ``block`` rows at a time, so a crowd's pairs never take more than a few block x B arrays."""
    a, b = seen_a.astype(np.float32), seen_b.astype(np.float32)
    partners = []
    for start in range(0, len(a), block):
        rows = a[start:start + block]
        could = (rows @ b.T <= SPLIT_SHARED_JOINTS) & (rows @ (1 - b).T > 0) & ((1 - rows) @ b.T > 0) \
            & untracked_a[start:start + block, None] & untracked_b[None, :]
        partners += [np.flatnonzero(row) for row in could]
    return partners


def _split_halves(a: Person, b: Person) -> bool:
    if a.track is not None or b.track is not None:
        return False  # a tracker told them apart
    seen_a, seen_b = a.keypoints[:, 2] > 0, b.keypoints[:, 2] > 0
    both = seen_a & seen_b
    if both.sum() > SPLIT_SHARED_JOINTS or not (seen_a & ~seen_b).any() or not (seen_b & ~seen_a).any():
        return False
    points = np.concatenate([a.keypoints[seen_a, :2], b.keypoints[seen_b, :2]])
    size = np.linalg.norm(points.max(axis=0) - points.min(axis=0))
    low_a, high_a = a.keypoints[seen_a, :2].min(axis=0), a.keypoints[seen_a, :2].max(axis=0)
    low_b, high_b = b.keypoints[seen_b, :2].min(axis=0), b.keypoints[seen_b, :2].max(axis=0)
    gap = np.maximum(0, np.maximum(low_a - high_b, low_b - high_a))  # 0 where the boxes overlap
    return bool(np.linalg.norm(gap) <= SPLIT_DISTANCE * size)


def _check_inside_image(detections: Detections, people: list[Person]) -> None:
    """Refuse keypoints far outside the given image: a wrong --width/--height, or frames of
    differently sized videos mixed. Detectors do place some joints a little outside the frame."""
    points = np.concatenate([p.keypoints[p.keypoints[:, 2] > 0, :2] for p in people])
    check_inside_image(points, detections.width, detections.height, OUTSIDE_MARGIN, detections.source)


def _resolve_layout(detections: Detections, joints: int, layout: str) -> str:
    if layout != "auto":
        if len(layouts.LAYOUTS[layout]) != joints:
            raise UaoError(f"{detections.source}: --layout {layout} has {len(layouts.LAYOUTS[layout])} joints but "
                           f"the file's people have {joints}")
        return layout
    if joints == 25 and detections.format == "openpose":
        return _body25_or_body25b(detections)
    if joints in detections.default_layouts:
        return detections.default_layouts[joints]
    if joints == 17:
        return "coco"  # detectors write COCO-17; Human3.6M-17 comes from lifters' own files (npz)
    fits = layouts.layouts_with(joints)
    if len(fits) == 1:
        return fits[0]
    known = ", ".join(f"{name} ({len(table)})" for name, table in layouts.LAYOUTS.items())
    raise UaoError(f"{detections.source}: {joints} keypoints per person fit no single known layout; "
                   f"pass --layout (one of {known})")


def _body25_or_body25b(detections: Detections) -> str:
    """BODY_25 and BODY_25B both have 25 joints and OpenPose's JSON does not say which.

    BODY_25's neck (1) and mid-hip (8) are trained as the midpoints of its shoulders (2, 5) and
    hips (9, 12). In BODY_25B those indices are eyes, shoulders, elbows, wrists and a hip, far
    from any such midpoint. So: the median distance of 1 and 8 from those midpoints, relative to
    the distance between the two joints of each pair.
    """
    ratios = []
    for p in detections.people:
        k = p.keypoints
        for middle, a, b in ((1, 2, 5), (8, 9, 12)):
            span = np.linalg.norm(k[a, :2] - k[b, :2])
            if (k[[middle, a, b], 2] > 0).all() and span > 0:
                ratios.append(np.linalg.norm(k[middle, :2] - (k[a, :2] + k[b, :2]) / 2) / span)
    if ratios and np.median(ratios) < 0.15:
        return "body25"
    if ratios and np.median(ratios) > 0.3:
        return "body25b"
    raise UaoError(f"{detections.source}: OpenPose BODY_25 and BODY_25B cannot be told apart from these keypoints; "
                   "pass --layout body25 or --layout body25b")


def link_tracks(people: list[Person]) -> dict[int, list[Person]]:
    """Track id -> that person's detections. The detector's ids are kept when every detection has
    one; otherwise detections are linked frame to frame (greedy: longest track, then nearest centre)
    when closer than ``LINK_DISTANCE`` body sizes and seen within ``LINK_GAP_FRAMES`` frames.
    Distances are one array per frame, so a crowd of thousands links in seconds."""
    if all(p.track is not None for p in people):
        tracks: dict[int, list[Person]] = {}
        for p in people:
            tracks.setdefault(p.track, []).append(p)
        return tracks
    tracks = {}
    # Per track id (0, 1, ...): the frame, centre and size of its last detection.
    last_frame, last_centre, last_size = np.empty(0, np.int64), np.empty((0, 2)), np.empty(0)
    by_frame: dict[int, list[Person]] = {}
    for p in people:
        by_frame.setdefault(p.frame, []).append(p)
    for frame in sorted(by_frame):
        found = by_frame[frame]
        centres, sizes = map(np.array, zip(*map(_centre_and_size, found)))
        live = np.flatnonzero(frame - last_frame <= LINK_GAP_FRAMES)
        person, track, distance = _pairs_within_reach(centres, sizes, last_centre[live], last_size[live])
        track = live[track]
        # Within reach, the longest track goes first: a one-frame duplicate must not take over a
        # person's track by being a few pixels nearer.
        lengths = np.array([len(tracks[t]) for t in track.tolist()], np.int64)
        order = np.lexsort((track, person, distance, -lengths))
        taken, used = {}, set()  # person -> track, tracks taken
        for i, t in zip(person[order].tolist(), track[order].tolist()):
            if i not in taken and t not in used:
                taken[i] = t
                used.add(t)
        for i, t in taken.items():
            tracks[t].append(found[i])
        linked, ids = list(taken), list(taken.values())
        last_frame[ids], last_centre[ids], last_size[ids] = frame, centres[linked], sizes[linked]
        new = [i for i in range(len(found)) if i not in taken]
        for i in new:
            tracks[len(tracks)] = [found[i]]
        last_frame = np.concatenate([last_frame, np.full(len(new), frame, np.int64)])
        last_centre, last_size = np.concatenate([last_centre, centres[new]]), np.concatenate([last_size, sizes[new]])
    return tracks


def _pairs_within_reach(centres, sizes, track_centres, track_sizes, block: int = 256):
    """(person, track, distance) of every pair closer than ``LINK_DISTANCE`` body sizes, ``block``
    people at a time: a crowd's distances never take more than a few block x tracks arrays."""
    found = []
    for start in range(0, len(centres), block):
        with np.errstate(invalid="ignore"):  # inf - inf: a person with no joint seen (centre inf) links to nothing
            distance = np.linalg.norm(centres[start:start + block, None] - track_centres[None], axis=-1) \
                / np.maximum(np.maximum(sizes[start:start + block, None], track_sizes[None]), 1e-6)
        person, track = np.nonzero(distance < LINK_DISTANCE)
        found.append((person + start, track, distance[person, track]))
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return tuple(np.concatenate(parts) for parts in zip(*found))


def _centre_and_size(person: Person) -> tuple[np.ndarray, float]:
    seen = person.keypoints[(person.keypoints[:, 2] > 0) & np.isfinite(person.keypoints[:, :2]).all(axis=1), :2]
    if len(seen) == 0:
        return np.full(2, np.inf), 0.0
    return seen.mean(axis=0), float(np.linalg.norm(seen.max(axis=0) - seen.min(axis=0)))
