"""The continuous transformer of the SAOS DiT: pre-norm blocks with self-attention (partial rotary,
q/k LayerNorm), cross-attention on the conditioning tokens, and a SwiGLU feed-forward."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """LayerNorm with a learnable gamma and a zero beta kept as a buffer (both are checkpoint keys)."""

    eps = 1e-5

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], weight=self.gamma, bias=self.beta, eps=self.eps)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)))

    def angles(self, seq_len: int) -> torch.Tensor:
        """[seq_len, dim] angles, computed in fp32 (NeoX layout: the half-spectrum repeated)."""
        pos = torch.arange(seq_len, device=self.inv_freq.device, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq.float()[None, :]
        return torch.cat((freqs, freqs), dim=-1)


def split_last(t: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
    """Equal parts of the last dim, as slices: XNNPACK lowers slices, not the split that chunk becomes."""
    size = t.shape[-1] // parts
    return tuple(t[..., i * size:(i + 1) * size] for i in range(parts))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = split_last(x, 2)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``cos.shape[-1]`` dims of each head (in fp32); the rest pass through.
    cos/sin of the angles come from the caller, once per forward rather than once per head tensor."""
    rot = cos.shape[-1]
    dtype = x.dtype
    if dtype != torch.float32:  # an unconditional cast would leave no-op copies in exported graphs
        x = x.float()
    head, tail = x[..., :rot], x[..., rot:]
    head = head * cos + _rotate_half(head) * sin
    out = torch.cat((head, tail), dim=-1)
    return out if dtype == torch.float32 else out.to(dtype)


class Attention(nn.Module):
    def __init__(self, dim: int, head_dim: int, context_dim: int | None = None):
        super().__init__()
        self.heads = dim // head_dim
        self.head_dim = head_dim
        self.is_cross = context_dim is not None
        if self.is_cross:
            self.to_q = nn.Linear(dim, dim, bias=False)
            self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        else:
            self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim, bias=False)
        self.q_norm = nn.LayerNorm(head_dim, elementwise_affine=True, eps=1e-6)
        self.k_norm = nn.LayerNorm(head_dim, elementwise_affine=True, eps=1e-6)
        self.attend = F.scaled_dot_product_attention  # (q, k, v) -> out; export swaps in explicit math

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                rotary: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        if self.is_cross:
            q = self.to_q(x)
            k, v = split_last(self.to_kv(context), 2)
        else:
            q, k, v = split_last(self.to_qkv(x), 3)
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        q, k = self.q_norm(q), self.k_norm(k)
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        out = self.attend(q, k, v)
        b, h, n, d = out.shape
        return self.to_out(out.transpose(1, 2).reshape(b, n, h * d))


class GLU(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = split_last(self.proj(x), 2)
        return x * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        # Index 1 is a parameter-free slot (dropout upstream) so keys read ff.ff.0 / ff.ff.2.
        self.ff = nn.Sequential(GLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, head_dim: int, context_dim: int):
        super().__init__()
        self.pre_norm = LayerNorm(dim)
        self.self_attn = Attention(dim, head_dim)
        self.cross_attend_norm = LayerNorm(dim)
        self.cross_attn = Attention(dim, head_dim, context_dim=context_dim)
        self.ff_norm = LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]
                ) -> torch.Tensor:
        x = x + self.self_attn(self.pre_norm(x), rotary=rotary)
        x = x + self.cross_attn(self.cross_attend_norm(x), context=context)
        return x + self.ff(self.ff_norm(x))


class ContinuousTransformer(nn.Module):
    def __init__(self, dim: int, depth: int, head_dim: int, dim_in: int, dim_out: int, context_dim: int):
        super().__init__()
        self.project_in = nn.Linear(dim_in, dim, bias=False)
        self.project_out = nn.Linear(dim, dim_out, bias=False)
        self.rotary_pos_emb = RotaryEmbedding(max(head_dim // 2, 32))
        self.layers = nn.ModuleList(TransformerBlock(dim, head_dim, context_dim) for _ in range(depth))

    def hidden(self, x: torch.Tensor, prepend: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Token states after the last block, before project_out: [B, 1 + L, dim]."""
        x = torch.cat((prepend, self.project_in(x)), dim=1)
        angles = self.rotary_pos_emb.angles(x.shape[1])
        rotary = (angles.cos(), angles.sin())
        for layer in self.layers:
            x = layer(x, context, rotary)
        return x

    def forward(self, x: torch.Tensor, prepend: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.project_out(self.hidden(x, prepend, context))
