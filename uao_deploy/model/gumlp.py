"""GUMLP: the graph + U-shaped-MLP lifter of UAO, laid out so the seed's state dict loads as-is.

Module and parameter names follow the seed's checkpoint (``encoder.fc1``, ``GCN_MLP.blocks.N``,
``pred_mu.fc5``...); see ``shared/reference/state_dict_keys.json``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .. import skeleton
from ..errors import UaoError
from .adjacency import partitioned_adjacency


@dataclass(frozen=True)
class GUMLPConfig:
    channels: int = 512
    layers: int = 3
    channel_hidden: int = 256
    drop_path: float = 0.2
    dropout_channel: float = 0.1
    dropout_spatial: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)


LN_EPS = 1e-6


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch of a sample with probability ``rate``."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class LinearGELU(nn.Module):
    """Linear -> GELU -> Dropout, stored as ``linear.0`` like the seed."""

    def __init__(self, dim_in: int, dim_out: int, dropout: float):
        super().__init__()
        self.linear = nn.Sequential(nn.Linear(dim_in, dim_out), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ChannelUMLP(nn.Module):
    """C -> hidden -> hidden (+ its input) -> C along the feature axis."""

    def __init__(self, channels: int, hidden: int, dropout: float):
        super().__init__()
        self.linear_down = LinearGELU(channels, hidden, dropout)
        self.linear_mid = LinearGELU(hidden, hidden, dropout)
        self.linear_up = LinearGELU(hidden, channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear_down(x)
        x = x + self.linear_mid(x)
        return self.linear_up(x)


class SpatialUMLP(nn.Module):
    """17 -> 51 -> 102 -> 102 (+ its input) -> 51 -> 17 along the joint axis of a (B, J, C) tensor."""

    def __init__(self, joints: int, dropout: float):
        super().__init__()
        self.linear_up1 = LinearGELU(joints, joints * 3, dropout)
        self.linear_up2 = LinearGELU(joints * 3, joints * 6, dropout)
        self.linear_mid = LinearGELU(joints * 6, joints * 6, dropout)
        self.linear_down1 = LinearGELU(joints * 6, joints * 3, dropout)
        self.linear_down2 = LinearGELU(joints * 3, joints, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The linear layers act on the last axis: work on (B, C, J) and come back to (B, J, C).
        return self.u_shape(x.transpose(1, 2)).transpose(1, 2)

    def u_shape(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear_up2(self.linear_up1(x))
        x = x + self.linear_mid(x)
        return self.linear_down2(self.linear_down1(x))


class GraphConv(nn.Module):
    """Spatial graph convolution: a 1x1 conv to K*C channels, then one adjacency per partition."""

    def __init__(self, channels: int, adjacency: torch.Tensor):
        super().__init__()
        self.register_buffer("adj", adjacency.clone())
        self.conv1d = nn.Conv1d(channels, channels * adjacency.shape[0], kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, J, C)
        batch, joints, channels = x.shape
        y = self.conv1d(x.transpose(1, 2))  # (B, K*C, J)
        y = y.view(batch, self.adj.shape[0], channels, joints)
        y = torch.einsum("bkcv,kvw->bcw", y, self.adj)
        return y.transpose(1, 2)


class JointLayerNorm(nn.LayerNorm):
    """LayerNorm over the joint axis of a (B, J, C) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    def __init__(self, config: GUMLPConfig, adjacency: torch.Tensor, drop_path_rate: float):
        super().__init__()
        joints, channels = skeleton.NUM_JOINTS, config.channels
        self.norm1 = JointLayerNorm(joints, eps=LN_EPS)
        self.gcn1 = GraphConv(channels, adjacency)
        self.norm2 = nn.LayerNorm(channels, eps=LN_EPS)
        self.channel_mlp = ChannelUMLP(channels, config.channel_hidden, config.dropout_channel)
        self.norm3 = JointLayerNorm(joints, eps=LN_EPS)
        self.spatial_mlp = SpatialUMLP(joints, config.dropout_spatial)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.gcn1(self.norm1(x)), self.drop_path_rate, self.training)
        mixed = self.channel_mlp(self.norm2(x)) + self.spatial_mlp(self.norm3(x))
        return x + drop_path(mixed, self.drop_path_rate, self.training)


class Trunk(nn.Module):
    def __init__(self, config: GUMLPConfig, adjacency: torch.Tensor):
        super().__init__()
        rates = np.linspace(0.0, config.drop_path, config.layers).tolist()
        self.blocks = nn.ModuleList(Block(config, adjacency, rate) for rate in rates)
        self.norm_mu = nn.LayerNorm(config.channels, eps=LN_EPS)
        self.norm_s = nn.LayerNorm(config.channels, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x = block(x)
        return self.norm_mu(x), self.norm_s(x)


class TwoLinear(nn.Module):
    """Two stacked linear layers with nothing between them (``fc1``, ``fc5`` in the seed)."""

    def __init__(self, dim_in: int, dim_hidden: int, dim_out: int):
        super().__init__()
        self.fc1 = nn.Linear(dim_in, dim_hidden)
        self.fc5 = nn.Linear(dim_hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc5(self.fc1(x))


class GUMLP(nn.Module):
    """2D keypoints (B, 1, 17, 2) or (B, 17, 2) -> (mu, s), each with the input's leading shape.

    ``mu`` is the root-relative 3D pose in metres and ``s`` a per-joint log-scale uncertainty.
    """

    def __init__(self, config: GUMLPConfig = GUMLPConfig()):
        super().__init__()
        self.config = config
        adjacency = torch.from_numpy(partitioned_adjacency())
        self.register_buffer("A", adjacency.clone())
        self.encoder = TwoLinear(2, 64, config.channels)
        self.GCN_MLP = Trunk(config, adjacency)
        self.pred_mu = TwoLinear(config.channels, config.channels // 2, 3)
        self.pred_s = TwoLinear(config.channels, config.channels // 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = x.shape[:-2]
        features = self.encoder(x.reshape(-1, skeleton.NUM_JOINTS, 2))
        feat_mu, feat_s = self.GCN_MLP(features)
        mu = self.pred_mu(feat_mu)
        s = self.pred_s(feat_s)
        return mu.reshape(*lead, skeleton.NUM_JOINTS, 3), s.reshape(*lead, skeleton.NUM_JOINTS, 1)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> GUMLPConfig:
    """Recover channels, layers and the channel-MLP width from parameter shapes."""
    try:
        channels = state["encoder.fc5.weight"].shape[0]
        hidden = state["GCN_MLP.blocks.0.channel_mlp.linear_down.linear.0.weight"].shape[0]
    except KeyError as exc:
        raise UaoError(f"the checkpoint is not a GUMLP state dict (missing key {exc.args[0]!r}); "
                       "name its architecture with --model") from None
    layers = 1 + max(int(m.group(1)) for key in state if (m := re.match(r"GCN_MLP\.blocks\.(\d+)\.", key)))
    return GUMLPConfig(channels=channels, layers=layers, channel_hidden=hidden)
