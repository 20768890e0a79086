"""A text-audio alignment term for RF training: InfoNCE between each caption's text-encoder output and
a summary of its clip's latents, through two linear heads that exist only during training.

The RF loss alone teaches the text encoder only what moves the latents most (pan, pulsing) and
leaves attributes that move them less (pitch, the direction of a fade) weakly encoded; this term
asks the encoder to tell every clip in the batch from the others by its caption.

The clip's summary keeps the order of time (mean and std of each of a few equal segments): a summary
over the whole clip is the same for a sound and its time reversal, so a fade in and a fade out would
look alike and the term could not teach the encoder which way a fade goes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .losses import info_nce


class TextLatentAlignment(nn.Module):
    def __init__(self, cond_dim: int, latent_dim: int, embed_dim: int = 64, temperature: float = 0.1,
                 segments: int = 2):
        super().__init__()
        self.text_head = nn.Linear(cond_dim, embed_dim)
        self.latent_head = nn.Linear(2 * latent_dim * segments, embed_dim)
        self.temperature, self.segments = temperature, segments

    def latent_summary(self, latents: torch.Tensor) -> torch.Tensor:
        """[B, latent_dim, frames] -> [B, 2 * latent_dim * segments]: mean and std of each time segment."""
        parts = torch.tensor_split(latents, self.segments, dim=-1)
        return torch.cat([torch.cat((p.mean(-1), p.std(-1)), dim=1) for p in parts], dim=1)

    def forward(self, prompt: torch.Tensor, mask: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """prompt [B, L, cond] (text-encoder output), mask [B, L], latents [B, latent_dim, frames] -> loss."""
        weights = mask.to(prompt.dtype)[..., None]
        text = (prompt * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        audio = self.latent_summary(latents)
        return info_nce(F.normalize(self.text_head(text), dim=-1), F.normalize(self.latent_head(audio), dim=-1),
                        self.temperature)
