"""Numerically equivalent rewrites that keep a graph inside XNNPACK.

The XNNPACK partitioner has no layer norm, no split, no scalar multiply and none of the masking ops
that ``scaled_dot_product_attention`` decomposes into, and it stops at SnakeBeta's reciprocal. Each
such op ends a delegate: the DiT used to lower to 47 XNNPACK partitions with portable ops between
them, and XNNPACK's pass pipeline runs once per partition, which made the export slow and added a
hand-over per partition at run time. These modules compute the same functions from ops XNNPACK
lowers (linear, sub, mul, add, rsqrt, bmm, softmax, sin), with every constant held as a tensor.

The VAE's convolutions run as 2-D convolutions with a 1 x k kernel on [B, C, 1, T] tensors: XNNPACK
quantises only 2-D, non-depthwise convolutions dynamically (and transposed ones as deconvolutions),
and keeping the whole conv stack 4-D means one NCHW -> NHWC hand-over at its input and one at its
output instead of one around every convolution.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.oobleck import OobleckDecoder, OobleckEncoder, SnakeBeta, fuse_weight_norm
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
    """SnakeBeta with exp(alpha) and 1 / (exp(beta) + eps) folded into constants, for [B, C, T] or
    (``planar``) [B, C, 1, T] inputs."""

    def __init__(self, snake: SnakeBeta, planar: bool = False):
        super().__init__()
        shape = (1, -1, 1, 1) if planar else (1, -1, 1)
        with torch.no_grad():
            self.register_buffer("alpha", snake.alpha.exp().reshape(shape).clone())
            self.register_buffer("inv_beta", (1.0 / (snake.beta.exp() + 1e-9)).reshape(shape).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sin(x * self.alpha)
        return x + self.inv_beta * (s * s)


class Conv1dAs2d(nn.Module):
    """A Conv1d as a Conv2d with a 1 x k kernel on [B, C, 1, T] (exact: the same sums)."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.conv = nn.Conv2d(conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]), (1, conv.stride[0]),
                              (0, conv.padding[0]), (1, conv.dilation[0]), conv.groups, bias=conv.bias is not None)
        _copy_planar(self.conv, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ConvTranspose1dAs2d(nn.Module):
    """A ConvTranspose1d as a ConvTranspose2d with a 1 x k kernel (XNNPACK's deconvolution, which it
    quantises dynamically; a polyphase conv + pixel shuffle trips ExecuTorch's layout pass)."""

    def __init__(self, conv: nn.ConvTranspose1d):
        super().__init__()
        self.conv = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, (1, conv.kernel_size[0]),
                                       (1, conv.stride[0]), (0, conv.padding[0]), (0, conv.output_padding[0]),
                                       conv.groups, bias=conv.bias is not None, dilation=(1, conv.dilation[0]))
        _copy_planar(self.conv, conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _copy_planar(planar: nn.Module, conv: nn.Module) -> None:
    with torch.no_grad():
        planar.weight.copy_(conv.weight.unsqueeze(2))
        if conv.bias is not None:
            planar.bias.copy_(conv.bias)


class PlanarConvStack(nn.Module):
    """An Oobleck encoder or decoder run on [B, C, 1, T]: every Conv1d, ConvTranspose1d and SnakeBeta
    swapped for its 4-D twin; elementwise layers (tanh, ELU) work on any shape."""

    def __init__(self, stack: nn.Module):
        super().__init__()
        self.stack = fuse_weight_norm(stack)  # a no-op on the export graphs, which arrive fused
        _planarize(self.stack)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stack(x.unsqueeze(2)).squeeze(2)


def _planarize(module: nn.Module) -> None:
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv1d):
            setattr(module, name, Conv1dAs2d(child))
        elif isinstance(child, nn.ConvTranspose1d):
            setattr(module, name, ConvTranspose1dAs2d(child))
        elif isinstance(child, SnakeBeta):
            setattr(module, name, FoldedSnake(child, planar=True))
        else:
            _planarize(child)


# A recipe's module names -> the module types that carry those layers once rewritten
QUANTIZABLE_TYPES: dict[str, tuple[type[nn.Module], ...]] = {
    "Linear": (nn.Linear,),
    "Conv1d": (Conv1dAs2d,),
    "ConvTranspose1d": (ConvTranspose1dAs2d,),
}


def _replacement(module: nn.Module) -> nn.Module | None:
    if isinstance(module, LayerNorm):
        return LinearLayerNorm(module.gamma, module.beta, module.eps)
    if isinstance(module, nn.LayerNorm) and module.elementwise_affine and len(module.normalized_shape) == 1:
        bias = module.bias if module.bias is not None else torch.zeros_like(module.weight)
        return LinearLayerNorm(module.weight, bias, module.eps)
    if isinstance(module, SnakeBeta):
        return FoldedSnake(module)
    if isinstance(module, (OobleckDecoder, OobleckEncoder)):
        return PlanarConvStack(module)
    return None


def xnnpack_friendly(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every op XNNPACK would leave out rewritten as above."""
    module = copy.deepcopy(module)
    replaced = _replacement(module)
    if replaced is not None:
        return replaced
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
