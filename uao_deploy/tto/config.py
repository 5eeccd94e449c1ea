"""UAO's settings, apart from torch: the numpy runtime reads them too."""
from __future__ import annotations

from ..contract import SequenceConfig, TTOConfig

# Metres: exp(s) of a well-predicted joint (GUMLP's exp(s) is ~1-3 cm next to the pelvis, ~7 cm
# at a wrist); the sequence terms weigh joints by their uncertainty relative to it.
UNCERTAINTY_REF = 0.03

__all__ = ["SequenceConfig", "TTOConfig", "UNCERTAINTY_REF"]
