"""How a sequence is lifted: one settings object, checked once when it is made."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..contract import check_tto_iters
from ..errors import UaoError
from .height import check_height

# frame: every frame alone, through its own least-squares root; sequence: a smooth root trajectory,
# sequence UAO through it and smoothing over time; causal: sequence mode from past frames only.
STRATEGIES = ("frame", "sequence", "causal")
# Longest root-smoothing window: 40 s at 25 fps; longer windows only cost memory.
MAX_SMOOTH_ROOT = 1001


@dataclass(frozen=True)
class LiftSettings:
    """``iters`` UAO iterations (0: the plain lifter, frame by frame, whatever the strategy);
    ``strategy`` one of :data:`STRATEGIES`; ``batch_size`` frames per engine call (frame strategy);
    ``smooth_root`` a centred moving median of the per-frame root over that many frames (frame strategy);
    ``subject_height`` the person's standing height in metres, to scale the result to
    (:mod:`uao_deploy.pipeline.height`; not causal: the scale comes from the whole sequence);
    ``plant_feet`` holds the feet planted where they stand (:mod:`uao_deploy.pipeline.feet`; sequence
    strategy: the contacts are found in every strategy)."""

    iters: int = 4
    strategy: str = "sequence"
    batch_size: int = 64
    smooth_root: int = 1
    subject_height: float | None = None
    plant_feet: bool = True

    def __post_init__(self):
        check_tto_iters(self.iters)
        if self.strategy not in STRATEGIES:
            raise UaoError(f"the strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UaoError(f"the batch size must be an integer of at least 1; got {self.batch_size!r}")
        if isinstance(self.smooth_root, bool) or not isinstance(self.smooth_root, int) or \
                not 1 <= self.smooth_root <= MAX_SMOOTH_ROOT:
            raise UaoError(f"the root smoothing window must be 1 to {MAX_SMOOTH_ROOT} frames; got {self.smooth_root!r}")
        if self.strategy != "frame" and self.iters >= 1 and self.smooth_root != 1:
            raise UaoError("--smooth-root is a frame-mode option; sequence mode fits a smooth root trajectory itself")
        check_height(self.subject_height)
        if self.subject_height is not None and self.strategy == "causal":
            raise UaoError("--subject-height scales by the whole sequence's skeleton; live (--causal) lifting "
                           "cannot see it")

    @classmethod
    def from_options(cls, iters: int = 4, mode: str = "sequence", causal: bool = False, batch_size: int = 64,
                     smooth_root: int = 1, subject_height: float | None = None) -> "LiftSettings":
        """From ``uao infer``'s options: ``--mode frame|sequence`` and the ``--causal`` flag."""
        if causal and mode != "sequence":
            raise UaoError("--causal is a sequence-mode option")
        return cls(iters, "causal" if causal else mode, batch_size, smooth_root, subject_height)

    @property
    def runs(self) -> str:
        """The strategy that runs: with no iterations every strategy is the plain per-frame lifter."""
        return self.strategy if self.iters >= 1 else "frame"

    def to_dict(self) -> dict:
        return asdict(self)
