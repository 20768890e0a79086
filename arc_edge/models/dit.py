"""The SAOS diffusion transformer: predicts the rectified-flow velocity v = eps - x0."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import DiTConfig
from .transformer import ContinuousTransformer


class FourierFeatures(nn.Module):
    def __init__(self, in_features: int, out_features: int, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


def _mlp(dim_in: int, dim: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim, bias=bias), nn.SiLU(), nn.Linear(dim, dim, bias=bias))


class DiffusionTransformer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.timestep_features = FourierFeatures(1, 256)
        self.to_timestep_embed = _mlp(256, dim, bias=True)
        self.to_cond_embed = _mlp(cfg.cond_token_dim, dim, bias=False)
        self.to_global_embed = _mlp(cfg.global_cond_dim, dim, bias=False)
        self.transformer = ContinuousTransformer(dim, cfg.depth, cfg.head_dim, cfg.io_channels, cfg.io_channels,
                                                 context_dim=dim)
        # Zero-initialised residual convs: the net starts as the plain transformer.
        self.preprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(cfg.io_channels, cfg.io_channels, 1, bias=False)
        nn.init.zeros_(self.preprocess_conv.weight)
        nn.init.zeros_(self.postprocess_conv.weight)

    def _inputs(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor, global_cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        context = self.to_cond_embed(cross_attn_cond)
        global_embed = self.to_global_embed(global_cond) + self.to_timestep_embed(self.timestep_features(t[:, None]))
        x = self.preprocess_conv(x) + x
        return x.transpose(1, 2), global_embed[:, None, :], context

    def hidden(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
               global_cond: torch.Tensor) -> torch.Tensor:
        """Token states of the latent frames after the last block: [B, L, dim] (prepended token dropped)."""
        tokens, prepend, context = self._inputs(x, t, cross_attn_cond, global_cond)
        return self.transformer.hidden(tokens, prepend, context)[:, 1:]

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                global_cond: torch.Tensor) -> torch.Tensor:
        """x [B, C, L] noisy latent, t [B] in [0, 1], cross_attn_cond [B, N, cond], global_cond [B, cond]."""
        tokens, prepend, context = self._inputs(x, t, cross_attn_cond, global_cond)
        out = self.transformer(tokens, prepend, context).transpose(1, 2)[:, :, 1:]
        return self.postprocess_conv(out) + out


class DiTWrapper(nn.Module):
    """Holds the DiT as ``.model`` so keys read ``model.model.*`` as in official checkpoints."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.model = DiffusionTransformer(cfg)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                global_cond: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, cross_attn_cond, global_cond)
