"""ARC's discriminator: the pre-trained DiT's embeddings and first 75% of blocks, plus a light conv head."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.dit import DiffusionTransformer


def _head(dim: int, channels: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    c_in = dim
    for _ in range(layers):
        mods += [nn.Conv1d(c_in, channels, kernel_size=4, stride=2, padding=1), nn.GroupNorm(8, channels), nn.SiLU()]
        c_in = channels
    mods.append(nn.Conv1d(c_in, 1, kernel_size=1))
    return nn.Sequential(*mods)


class ARCDiscriminator(nn.Module):
    """D(x_s, s, c) -> patch logits [B, P]. Owns copies of the DiT's input and conditioning projections."""

    def __init__(self, dit: DiffusionTransformer, fraction: float = 0.75, head_channels: int = 256,
                 head_layers: int = 4):
        super().__init__()
        trunk = copy.deepcopy(dit)
        keep = max(1, int(round(len(trunk.transformer.layers) * fraction)))
        trunk.transformer.layers = trunk.transformer.layers[:keep]
        # The output side of the DiT is not part of D (and would get no gradients under DDP).
        trunk.transformer.project_out = nn.Identity()
        trunk.postprocess_conv = nn.Identity()
        self.trunk = trunk
        self.num_blocks = keep
        self.head = _head(dit.cfg.embed_dim, min(head_channels, dit.cfg.embed_dim), head_layers)

    def forward(self, x: torch.Tensor, s: torch.Tensor, cross_attn_cond: torch.Tensor,
                global_cond: torch.Tensor) -> torch.Tensor:
        h = self.trunk.hidden(x, s, cross_attn_cond, global_cond)  # [B, L, dim]
        return self.head(h.transpose(1, 2))[:, 0, :]
