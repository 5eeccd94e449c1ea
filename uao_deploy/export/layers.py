"""GUMLP as the exported graphs compute it: the same weights and maths, laid out for engines.

The reference modules mirror the seed: a 1x1 Conv1d, an einsum over the adjacency and a transpose
around every joint-axis operation. Here the features stay (N, J, C) from end to end:

- linear layers are one 2D product over all rows;
- joint-axis layers (the spatial U-MLP) multiply from the left, W @ x, instead of transposing;
- the graph convolution skips the joint products that only meet zeros of the adjacency (53 of 68);
- LayerNorms take their statistics over axis 1 (joints) or 2 (channels), with a compact backward.

In the traced TTO graphs this removes 8 transposes of the largest activations per block and pass,
and no weight is copied per sample. Every form is checked against the reference in the export's
verification and in the tests.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..model.gumlp import GraphConv, JointLayerNorm, SpatialUMLP
from ..model.precision import DTYPES
from .trace import broadcast_matmul


class MatmulLayer(nn.Module):
    """x @ W^T + b over the last axis, as one 2D product over all rows, optionally in float16.

    A 3D input would make the exported MatMul broadcast the weight to every sample (an Expand per
    call, and memory that grows with the batch). In float16 the input and weight are cast down and
    the product cast back, so everything around (LayerNorm statistics, GELU, exp, norms, Adam
    state) stays float32 in a strongly typed graph.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        self.register_buffer("weight", weight.detach().to(dtype))
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).to(self.weight.dtype)
        y = nn.functional.linear(rows, self.weight).to(torch.float32)
        return (y if self.bias is None else y + self.bias).reshape(*x.shape[:-1], -1)


class JointMatmulLayer(MatmulLayer):
    """A Linear over the joint axis of (N, J, C), applied from the left: W @ x + b per joint."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return broadcast_matmul(self.weight, x.to(self.weight.dtype)).to(torch.float32) + self.bias[:, None]


class FoldedGraphConv(nn.Module):
    """GraphConv on (N, J, C), without the products that only meet zeros of the adjacency.

    Partition k reads the joints with an edge out (rows of A_k) and writes those with an edge in
    (its columns); its C x C product is needed at min(rows, columns) joints. Either select those
    rows, project, then mix (L_k = I[rows], R_k = A_k[rows]^T), or mix into those columns, then
    project (L_k = A_k[:, columns]^T, R_k = I[:, columns]). With the L_k stacked and the R_k side
    by side, y = R @ [L_k x W_k^T]_k + sum_k colsum(A_k) b_k: for the 17-joint skeleton 53 joint
    products instead of the convolution's 68.
    """

    def __init__(self, gcn: GraphConv, dtype: torch.dtype):
        super().__init__()
        adjacency = gcn.adj.detach()
        partitions, joints, _ = adjacency.shape
        weights = gcn.conv1d.weight.detach()[..., 0].reshape(partitions, -1, gcn.conv1d.in_channels)
        identity = torch.eye(joints, dtype=adjacency.dtype)
        lefts, rights = [], []
        for edges in adjacency:
            rows = edges.abs().sum(dim=1).nonzero()[:, 0]
            columns = edges.abs().sum(dim=0).nonzero()[:, 0]
            if len(rows) <= len(columns):
                lefts.append(identity[rows]), rights.append(edges[rows].T)
            else:
                lefts.append(edges[:, columns].T), rights.append(identity[:, columns])
        self.sizes = [len(left) for left in lefts]
        self.register_buffer("gather", torch.cat(lefts).contiguous())
        self.register_buffer("scatter", torch.cat(rights, dim=1).contiguous())
        self.projections = nn.ModuleList(MatmulLayer(weight, None, dtype) for weight in weights)
        bias = gcn.conv1d.bias.detach().reshape(partitions, -1)
        self.register_buffer("bias", adjacency.sum(dim=1).T @ bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gathered = broadcast_matmul(self.gather, x).split(self.sizes, dim=1)
        projected = torch.cat([project(part) for project, part in zip(self.projections, gathered)], dim=1)
        return broadcast_matmul(self.scatter, projected) + self.bias


class _LayerNorm(torch.autograd.Function):
    """LayerNorm over one axis with a compact backward, so traced graphs stay short.

    Written out, the forward is 5 element-wise passes and the backward 6 (dx = rstd * (g' - mean(g')
    - x_hat * mean(g' x_hat)), g' = g * weight), against ~15 for the ATen decompositions; it also
    avoids the 3-output LayerNormalization node that TensorRT refuses.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, dim: int, eps: float):
        centred = x - x.mean(dim=dim, keepdim=True)
        rstd = torch.rsqrt((centred * centred).mean(dim=dim, keepdim=True) + eps)
        x_hat = centred * rstd
        ctx.save_for_backward(x_hat, rstd, weight)
        ctx.dim = dim
        return x_hat * weight + bias

    @staticmethod
    def backward(ctx, grad):
        x_hat, rstd, weight = ctx.saved_tensors
        grad_x_hat = grad * weight
        mean_grad = grad_x_hat.mean(dim=ctx.dim, keepdim=True)
        mean_projection = (grad_x_hat * x_hat).mean(dim=ctx.dim, keepdim=True)
        return rstd * (grad_x_hat - mean_grad - x_hat * mean_projection), None, None, None, None


class AxisLayerNorm(nn.Module):
    """A LayerNorm (channels, or JointLayerNorm's joints) with statistics over one axis of (N, J, C)."""

    def __init__(self, norm: nn.LayerNorm, dim: int):
        super().__init__()
        self.dim, self.eps = dim, norm.eps
        shape = (-1, 1) if dim == 1 else (-1,)  # weight broadcast along the normalized axis
        self.register_buffer("weight", norm.weight.detach().reshape(shape).clone())
        self.register_buffer("bias", norm.bias.detach().reshape(shape).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LayerNorm.apply(x, self.weight, self.bias, self.dim, self.eps)


class JointMajorSpatialUMLP(nn.Module):
    """SpatialUMLP on (N, J, C) directly: its U-shape with every Linear a JointMatmulLayer."""

    def __init__(self, mlp: SpatialUMLP, dtype: torch.dtype):
        super().__init__()
        self.mlp = copy.deepcopy(mlp)
        for module in self.mlp.modules():
            for name, child in module.named_children():
                if isinstance(child, nn.Linear):
                    setattr(module, name, JointMatmulLayer(child.weight, child.bias, dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp.u_shape(x)


def exportable_model(model: nn.Module, precision: str = "fp32") -> nn.Module:
    """A frozen copy of a lifter in the engine layout above: GUMLP's graph convolutions and spatial
    U-MLPs in their joint-major forms, and any lifter's LayerNorms as :class:`AxisLayerNorm`; for fp16
    every Linear's product runs in float16 except GUMLP's encoder, which meets the raw 2D input."""
    dtype = DTYPES[precision]
    model = copy.deepcopy(model).eval().requires_grad_(False)

    def convert(module: nn.Module, path: str) -> nn.Module:
        in_encoder = path.startswith("encoder")
        if isinstance(module, GraphConv):
            return FoldedGraphConv(module, dtype)
        if isinstance(module, JointLayerNorm):
            return AxisLayerNorm(module, dim=1)
        if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1 and module.weight is not None:
            return AxisLayerNorm(module, dim=-1)  # other LayerNorms are decomposed by the tracer
        if isinstance(module, SpatialUMLP):
            return JointMajorSpatialUMLP(module, dtype)
        if isinstance(module, nn.Linear) and dtype != torch.float32 and not in_encoder:
            return MatmulLayer(module.weight, module.bias, dtype)
        for name, child in module.named_children():
            setattr(module, name, convert(child, f"{path}.{name}".lstrip(".")))
        return module

    return convert(model, "")
