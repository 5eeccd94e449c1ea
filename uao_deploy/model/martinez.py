"""The residual MLP of Martinez et al. 2017 ("A simple yet effective baseline for 3d human pose
estimation") with a Gaussian head: a second lifter family beside GUMLP for plug-and-play UAO.

The whole pose is one vector: 34 coordinates -> width -> residual blocks (two Linear + BatchNorm
+ ReLU + Dropout each) -> mu (17 x 3) and s (17 x 1). Unlike GUMLP it has no joint graph and no
per-joint features: every output joint sees every input joint through dense layers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .. import skeleton


@dataclass(frozen=True)
class MartinezConfig:
    # The paper's 1024 wide layers train 4x slower on a CPU and need a 17 MB checkpoint; 512 with
    # lighter dropout (the paper's 0.5 was for 1024 units) fits a shipped checkpoint under 5 MB.
    width: int = 512
    blocks: int = 2
    dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


def _dense(dim_in: int, dim_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim_out), nn.BatchNorm1d(dim_out), nn.ReLU(), nn.Dropout(dropout))


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(_dense(width, width, dropout), _dense(width, width, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class MartinezMLP(nn.Module):
    """2D keypoints (B, 17, 2) or (B, 1, 17, 2) -> (mu, s), each with the input's leading shape."""

    def __init__(self, config: MartinezConfig = MartinezConfig()):
        super().__init__()
        self.config = config
        joints = skeleton.NUM_JOINTS
        self.stem = _dense(joints * 2, config.width, config.dropout)
        self.blocks = nn.Sequential(*(ResidualBlock(config.width, config.dropout) for _ in range(config.blocks)))
        self.pred_mu = nn.Linear(config.width, joints * 3)
        self.pred_s = nn.Linear(config.width, joints)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead, joints = x.shape[:-2], skeleton.NUM_JOINTS
        features = self.blocks(self.stem(x.reshape(-1, joints * 2)))
        return (self.pred_mu(features).reshape(*lead, joints, 3),
                self.pred_s(features).reshape(*lead, joints, 1))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> MartinezConfig:
    """Width and block count from parameter shapes (dropout does not show in weights: the default)."""
    blocks = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
    return MartinezConfig(width=state["stem.0.weight"].shape[0], blocks=blocks)
