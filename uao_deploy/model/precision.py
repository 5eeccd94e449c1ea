"""Reduced precision for the TTO gradient steps on CPUs and GPUs with fast bf16 (or fp16) products.

Where bf16 goes, measured on 256 CMU test frames (embedded model and the 512-channel seed
layout; mean joint distance of the final TTO poses to float32):

- the whole trunk and heads: 0.65 mm (0.97 mm when the final forward is bf16 as well);
- every block: 0.42-0.44 mm;
- the blocks' channel and spatial U-MLPs only (graph convolutions, LayerNorms, encoder, heads and
  residual stream in float32): **0.20 mm**, the MPJPE against ground truth unchanged to 0.01 mm.

The U-MLPs hold most of the products, so the last choice keeps most of bf16's speed. TTO
magnifies gradient noise (Adam's first steps move each input coordinate by about ``lr`` whatever
the gradient's size, so a tiny component whose sign the rounding flips moves a full step); the
pseudo-targets must therefore come from the same bf16 network as the steps (at z = x the
distance term is then exactly 0, as in float32), while the reported poses come from float32.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .gumlp import GUMLP


class CastTo(nn.Module):
    """Runs ``module`` with its weights and input in ``dtype`` and hands back the caller's dtype."""

    def __init__(self, module: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.module, self.dtype = module.to(dtype), dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.to(self.dtype)).to(x.dtype)


# Every precision name of the project (uao_deploy.contract.PRECISIONS, TORCH_PRECISIONS) as a torch
# dtype: exported graphs' matrix products, the torch backend's TTO steps (fp16: GPUs' tensor cores).
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class LifterCastTo(CastTo):
    """A whole lifter in ``dtype``: its (mu, s) handed back in the caller's dtype."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(output.to(x.dtype) for output in self.module(x.to(self.dtype)))


def with_low_precision_mlps(model: nn.Module, precision: str = "bf16") -> nn.Module:
    """A copy of GUMLP whose blocks run their channel and spatial U-MLPs in bf16 or fp16 (the rest
    float32); any other lifter runs whole in that precision (where its error is small enough is its
    own to measure: ``uao verify`` reports it).

    Weights are cast once here, not on every call as under autocast (frozen weights are not
    cached by autocast).
    """
    mixed = copy.deepcopy(model)
    if not isinstance(mixed, GUMLP):
        return LifterCastTo(mixed, STEP_DTYPES[precision])
    for block in mixed.GCN_MLP.blocks:
        block.channel_mlp = CastTo(block.channel_mlp, DTYPES[precision])
        block.spatial_mlp = CastTo(block.spatial_mlp, DTYPES[precision])
    return mixed
