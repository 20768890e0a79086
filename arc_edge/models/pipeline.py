"""The whole text-to-audio model: conditioners, DiT and VAE, with official checkpoint key layout."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..tokenizer import PromptTokenizer
from .conditioners import MultiConditioner, TextEncoder, t5_architecture
from .dit import DiTWrapper
from .oobleck import Pretransform

TEXT_ENCODER_PREFIX = "text_encoder."


class ArcPipeline(nn.Module):
    def __init__(self, cfg: ModelConfig, text_encoder: TextEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.model = DiTWrapper(cfg.dit)
        self.conditioner = MultiConditioner(cfg)
        self.pretransform = Pretransform(cfg.encoder, cfg.decoder)
        self.text_encoder = text_encoder if text_encoder is not None else TextEncoder.from_config(t5_architecture(cfg))
        self.tokenizer: PromptTokenizer | None = None

    # --- the three graphs -------------------------------------------------------------------
    def condition(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> cross-attention context [B, max_length + 1, cond] and global conditioning [B, cond]."""
        prompt = self.text_encoder(input_ids, attention_mask)
        seconds_token = self.conditioner.conditioners["seconds_total"](seconds)
        return torch.cat((prompt, seconds_token), dim=1), seconds_token[:, 0, :]

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                 global_cond: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, cross_attn_cond, global_cond)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pretransform.model.decode(latents)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio [B, C, n] -> the latent mean (deterministic, for audio-to-audio)."""
        return self.pretransform.model.encode(audio, sample=False)

    # --- checkpoint views -------------------------------------------------------------------
    def checkpoint_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors of the official ``model.safetensors`` (T5 lives in its own folder)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(TEXT_ENCODER_PREFIX)}

    def part_parameters(self) -> dict[str, int]:
        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())
        vae = self.pretransform.model
        return {
            "dit": count(self.model),
            "vae_encoder": count(vae.encoder),
            "vae_decoder": count(vae.decoder),
            "seconds_conditioner": count(self.conditioner),
            "t5_encoder": count(self.text_encoder),
        }
