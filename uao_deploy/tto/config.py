"""UAO's hyper-parameters, apart from torch: the numpy runtime reads them too."""
from __future__ import annotations

from dataclasses import asdict, dataclass

# Metres: exp(s) of a well-predicted joint (GUMLP's exp(s) is ~1-3 cm next to the pelvis, ~7 cm
# at a wrist); the sequence terms weigh joints by their uncertainty relative to it.
UNCERTAINTY_REF = 0.03


@dataclass(frozen=True)
class TTOConfig:
    """Hyper-parameters of UAO (the paper's defaults)."""

    iters: int = 4
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    w_gauss: float = 0.005
    w_proj: float = 1.0
    flip: bool = True

    def to_dict(self) -> dict:
        return asdict(self)
