"""Numerically equivalent rewrites that keep a graph inside XNNPACK.

The XNNPACK partitioner has no layer norm, no split, no scalar multiply and none of the masking ops
that ``scaled_dot_product_attention`` decomposes into, and it stops at SnakeBeta's reciprocal. Each
such op ends a delegate: the DiT used to lower to 47 XNNPACK partitions with portable ops between
them, and XNNPACK's pass pipeline runs once per partition, which made the export slow and added a
hand-over per partition at run time. These modules compute the same functions from ops XNNPACK
lowers (linear, sub, mul, add, rsqrt, bmm, softmax, sin), with every constant held as a tensor.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.oobleck import SnakeBeta
from ..models.transformer import Attention, LayerNorm


class LinearLayerNorm(nn.Module):
    """Layer norm over the last dim with the means taken by a linear layer (XNNPACK's mean op only
    averages the two innermost dims of 4-D tensors)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, eps: float):
        super().__init__()
        dim = weight.shape[0]
        self.register_buffer("averager", torch.full((1, dim), 1.0 / dim))
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", bias.detach().clone())
        self.register_buffer("eps", torch.tensor(eps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - nn.functional.linear(x, self.averager)
        variance = nn.functional.linear(centred * centred, self.averager)
        return centred * torch.rsqrt(variance + self.eps) * self.weight + self.bias


class ExplicitAttention(nn.Module):
    """softmax(q k^T / sqrt(d)) v on 3-D batched matmuls, for [B, H, N, d] inputs."""

    def __init__(self, head_dim: int):
        super().__init__()
        self.register_buffer("scale", torch.tensor(head_dim ** -0.5))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, h, n, d = q.shape
        m = k.shape[2]
        q, k, v = q.reshape(b * h, n, d), k.reshape(b * h, m, d), v.reshape(b * h, m, d)
        weights = torch.softmax(torch.bmm(q * self.scale, k.transpose(1, 2)), dim=-1)
        return torch.bmm(weights, v).reshape(b, h, n, d)


class FoldedSnake(nn.Module):
    """SnakeBeta with exp(alpha) and 1 / (exp(beta) + eps) folded into constants."""

    def __init__(self, snake: SnakeBeta):
        super().__init__()
        with torch.no_grad():
            self.register_buffer("alpha", snake.alpha.exp()[None, :, None].clone())
            self.register_buffer("inv_beta", (1.0 / (snake.beta.exp() + 1e-9))[None, :, None].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sin(x * self.alpha)
        return x + self.inv_beta * (s * s)


def _replacement(module: nn.Module) -> nn.Module | None:
    if isinstance(module, LayerNorm):
        return LinearLayerNorm(module.gamma, module.beta, module.eps)
    if isinstance(module, nn.LayerNorm) and module.elementwise_affine and len(module.normalized_shape) == 1:
        bias = module.bias if module.bias is not None else torch.zeros_like(module.weight)
        return LinearLayerNorm(module.weight, bias, module.eps)
    if isinstance(module, SnakeBeta):
        return FoldedSnake(module)
    return None


def xnnpack_friendly(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every op XNNPACK would leave out rewritten as above."""
    module = copy.deepcopy(module)
    _rewrite(module)
    return module


def _rewrite(module: nn.Module) -> None:
    if isinstance(module, Attention):
        module.attend = ExplicitAttention(module.head_dim)
    for name, child in list(module.named_children()):
        new = _replacement(child)
        if new is not None:
            setattr(module, name, new)
        else:
            _rewrite(child)
