"""A 2D-to-3D lifter outside uao-deploy: per-joint features mixed across joints, a Gaussian head."""
import torch
from torch import nn


class JointMixer(nn.Module):
    def __init__(self, width=64, blocks=2):
        super().__init__()
        self.embed = nn.Linear(2, width)
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(blocks))
        self.joint_mix = nn.ModuleList(nn.Linear(17, 17) for _ in range(blocks))
        self.channel_mix = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(blocks))
        self.mu, self.s = nn.Linear(width, 3), nn.Linear(width, 1)

    def forward(self, x):  # x (B, 17, 2) normalized keypoints -> mu (B, 17, 3) metres, s (B, 17, 1)
        h = self.embed(x)
        for norm, joint_mix, channel_mix in zip(self.norms, self.joint_mix, self.channel_mix):
            h = h + joint_mix(norm(h).transpose(1, 2)).transpose(1, 2)
            h = h + channel_mix(norm(h))
        return self.mu(h), self.s(h)


def make():
    """What `--model joint_mixer.py:make` calls; `--checkpoint` then loads the trained weights."""
    return JointMixer()
