"""The fixed 4-partition skeleton graph that GUMLP's graph convolutions mix joints with."""
from __future__ import annotations

import numpy as np

from .. import skeleton

# Partitions are taken relative to the spine joint, the skeleton's centre of gravity.
CENTRE = 7


def _hops_from(centre: int) -> np.ndarray:
    """Number of bones between ``centre`` and every joint (breadth-first over the skeleton tree)."""
    neighbours = [[] for _ in range(skeleton.NUM_JOINTS)]
    for child, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            neighbours[child].append(parent)
            neighbours[parent].append(child)
    hops = np.full(skeleton.NUM_JOINTS, -1)
    hops[centre] = 0
    queue = [centre]
    for joint in queue:
        for neighbour in neighbours[joint]:
            if hops[neighbour] < 0:
                hops[neighbour] = hops[joint] + 1
                queue.append(neighbour)
    return hops


def partitioned_adjacency() -> np.ndarray:
    """(4, 17, 17) float32: self links, centripetal bones, centrifugal bones, left-right pairs.

    Entry [k, i, j] is link (i, j) of partition k divided by the degree of joint j (self, bone
    neighbours and symmetric partner counted), as the seed builds it.
    """
    n = skeleton.NUM_JOINTS
    bones = np.zeros((n, n))
    for child, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            bones[child, parent] = bones[parent, child] = 1.0
    symmetric = np.zeros((n, n))
    for left, right in zip(skeleton.LEFT, skeleton.RIGHT):
        symmetric[left, right] = symmetric[right, left] = 1.0
    identity = np.eye(n)
    degree = (identity + bones + symmetric).sum(axis=0)

    hops = _hops_from(CENTRE)
    farther = hops[:, None] > hops[None, :]
    partitions = np.stack([identity, bones * farther, bones * ~farther, symmetric])
    return (partitions / degree[None, None, :]).astype(np.float32)
