"""Training on bodies with joints the detector did not see (issue 23, ``uao train --hide RATE``).

A share ``rate`` of the training samples has a part of the body hidden: with probability
``lower_share`` the lower body out of the frame (the joints the truncation benchmark removes,
:data:`uao_deploy.jobs.truncation.LOWER`), otherwise one limb (:data:`~uao_deploy.jobs.truncation.LIMBS`).
Their 2D input is replaced as ``uao infer`` fills it (:func:`uao_deploy.pipeline.missing.fill_and_mark`:
the template body, then the pose prior's nearest poses); the 3D target stays the truth. Two
differences, both because training samples are single frames of the train clips:

* frames are unrelated, so the prior's start is not smoothed over time (``smooth_frames=1``);
* the prior of ``uao infer`` holds the train clips themselves, where a frame would find its own pose
  and its neighbours' (a fill better than any unseen clip gets). Each frame is filled from a prior
  made (:func:`~uao_deploy.jobs.pose_prior.make_pose_prior`) of the other fold of the clips
  (``FOLDS``: clips alternate between them).

The settling rounds and UAO that follow the fill at inference are not part of training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import UaoError
from ..pipeline.missing import fill_and_mark
from .pose_prior import make_pose_prior
from .truncation import LIMBS, LOWER

FOLDS = 2
PATTERNS = (tuple(LOWER),) + tuple(tuple(limb) for limb in LIMBS)


@dataclass(frozen=True)
class HiddenJoints:
    rate: float = 0.0  # share of samples with a part hidden
    lower_share: float = 0.5  # of those, the share with the lower body out (the rest: one limb)

    def __post_init__(self):
        if not (0 <= self.rate <= 1 and 0 <= self.lower_share <= 1):
            raise UaoError(f"the share of samples with hidden joints and the lower body's share of them must be "
                           f"0 to 1; got {self.rate:g} and {self.lower_share:g}")

    def to_dict(self) -> dict:
        return asdict(self) | {"folds": FOLDS, "filled_by": "pipeline.missing.fill_and_mark, smooth_frames=1"}


class HideJoints:
    """Hides and fills joints of a batch (see the module docstring), for
    :class:`uao_deploy.data.mocap.MocapTrainingData`'s ``hide``."""

    def __init__(self, clips: list[np.ndarray], settings: HiddenJoints):
        self.settings = settings
        self.description = settings.to_dict()
        self.priors = [make_pose_prior([clip for index, clip in enumerate(clips) if index % FOLDS != fold])
                       for fold in range(FOLDS)]

    def __call__(self, x: torch.Tensor, clip: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``x`` (B, 17, 2) normalized keypoints of frames of the clips ``clip`` (B,) (their indices in
        the list given at construction), with the hidden joints of a random share filled."""
        batch = len(x)
        draws = torch.rand(batch, 3, generator=generator, device=generator.device).cpu().numpy()
        hidden = draws[:, 0] < self.settings.rate
        pattern = np.where(draws[:, 1] < self.settings.lower_share, 0,
                           1 + np.minimum((draws[:, 2] * len(LIMBS)).astype(int), len(LIMBS) - 1))
        if not hidden.any():
            return x
        filled = x.detach().cpu().numpy().copy()
        fold = clip.cpu().numpy() % FOLDS
        for part, joints in enumerate(PATTERNS):
            for prior_fold in range(FOLDS):  # priors[f] holds no clip of fold f
                rows = np.flatnonzero(hidden & (pattern == part) & (fold == prior_fold))
                if len(rows):
                    filled[rows] = self.fill(filled[rows], joints, self.priors[prior_fold])
        return torch.from_numpy(filled).to(x.device, x.dtype)

    def lower_out(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, 17, 2) with the lower body hidden and filled from the prior ``uao infer`` uses
        (for validation clips, which no training prior holds)."""
        return self.fill(x, LOWER)

    @staticmethod
    def fill(x: np.ndarray, joints, prior: np.ndarray | None = None) -> np.ndarray:
        """``x`` (N, 17, 2) unrelated frames with ``joints`` hidden and filled as ``uao infer`` fills
        them, from ``prior`` (None: the pose prior ``uao infer`` uses)."""
        pixels = np.array(x, np.float64)
        pixels[:, list(joints)] = np.nan
        return fill_and_mark(pixels, prior=prior, smooth_frames=1)[0]
