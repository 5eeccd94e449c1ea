"""Which people of a keypoint file are lifted: the main subject, every person, or one track.

* ``main`` (the default): the **main subject**, the track with the largest sum over its frames of
  its box height (the y extent of its detected joints, pixels): the longest and largest person,
  as a camera operator frames the subject.
* ``all``: every track, the main subject first.
* a track id (``0``, ``1``...): that track.

Tracks present in at most ``MIN_TRACK_SHARE`` of the clip's frames are dropped with a notice (a
false positive seen in one frame must not become a full-length output whose joints are all
filled in), unless asked for by id or no other track remains.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...errors import UaoError
from .sequence import KeypointSequence

MIN_TRACK_SHARE = 0.05
CHOICES = "'main' (the default: the longest, largest track), 'all', or a track id"


def frames_present(sequence: KeypointSequence) -> np.ndarray:
    """(T,) whether the person has any detected joint in each frame."""
    return (sequence.confidence > 0).any(axis=1)


def box_heights(sequence: KeypointSequence) -> np.ndarray:
    """(T,) y extent of the detected joints in each frame, pixels (0 where absent)."""
    y = np.where(sequence.confidence > 0, sequence.pixels[..., 1], np.nan)
    present = frames_present(sequence)
    heights = np.zeros(len(sequence))
    heights[present] = np.nanmax(y[present], axis=1) - np.nanmin(y[present], axis=1)
    return heights


def describe(sequence: KeypointSequence) -> str:
    """'100 of 100 frames, mean box height 812 px' (the summary line of ``--person all``)."""
    present = frames_present(sequence)
    height = box_heights(sequence)[present].mean() if present.any() else 0.0
    return f"{present.sum()} of {len(sequence)} frames, mean box height {height:.0f} px"


def choose_people(sequences: list[KeypointSequence], person: str, source) -> list[KeypointSequence]:
    """The sequences ``person`` asks for (see the module docstring), the main subject first.

    Each sequence's ``person`` is its track id; names gain ``_person<id>`` when several are kept.
    Notices of dropped tracks go into the kept sequences' ``notes``.
    """
    if person not in ("main", "all"):
        try:
            wanted = int(person)
        except ValueError:
            raise UaoError(f"--person takes {CHOICES}; got {person!r}") from None
        chosen = [s for s in sequences if s.person == wanted or (s.person is None and wanted == 0)]
        if not chosen:
            ids = ", ".join(str(0 if s.person is None else s.person) for s in sequences)  # untracked: person 0
            raise UaoError(f"{source}: no person {wanted}; its people are {ids}")
        return chosen
    ranked = sorted(sequences, key=lambda s: -box_heights(s).sum())
    frames = max(len(s) for s in sequences)
    kept = [s for s in ranked if frames_present(s).sum() > MIN_TRACK_SHARE * frames] or ranked[:1]
    dropped = [s for s in ranked if all(s is not k for k in kept)]
    notes = tuple(f"{source}: person {s.person} left out: seen in {frames_present(s).sum()} of {frames} frames "
                  f"(tracks in at most {MIN_TRACK_SHARE:.0%} of the frames are taken for false detections; "
                  f"--person {s.person} lifts it)" for s in dropped)
    chosen = kept[:1] if person == "main" else kept
    several = len(chosen) > 1
    return [replace(s, name=f"{s.name}_person{s.person}" if several and s.person is not None else s.name,
                    notes=s.notes + (notes if i == 0 else ())) for i, s in enumerate(chosen)]
