"""The whole text-to-audio model: conditioners, DiT and VAE, with official checkpoint key layout.

``ArcPipeline`` is also the eager runtime of ``generate``: it carries its config and tokenizer
and provides the graph calls.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..config import ModelConfig
from ..decoding import DecodePlan, plan_windows, whole_clip
from ..sampling import logsnr_schedule
from ..tokenizer import PromptTokenizer
from .conditioners import MultiConditioner, TextEncoder, conditioning, t5_architecture
from .dit import DiTWrapper
from .oobleck import Pretransform, vae_split

TEXT_ENCODER_PREFIX = "text_encoder."
# stable-audio-tools' decode_audio / encode_audio chunk sizes (latent frames) for `chunked` configs
REFERENCE_CHUNK, REFERENCE_OVERLAP = 128, 32


class ArcPipeline(nn.Module):
    def __init__(self, cfg: ModelConfig, text_encoder: TextEncoder | None = None):
        super().__init__()
        self.cfg = cfg
        self.model = DiTWrapper(cfg.dit)
        self.conditioner = MultiConditioner(cfg)
        self.pretransform = Pretransform(cfg.encoder, cfg.decoder)
        self.text_encoder = text_encoder if text_encoder is not None else TextEncoder.from_config(t5_architecture(cfg))
        self.tokenizer: PromptTokenizer | None = None
        self.description = "eager PyTorch"

    @property
    def vae_dtype(self) -> torch.dtype:
        return torch.float16 if self.cfg.pretransform.model_half else torch.float32

    def apply_model_half(self) -> ArcPipeline:
        """Cast the VAE to fp16 when the config says ``model_half`` (as the reference does)."""
        if self.cfg.pretransform.model_half:
            self.pretransform.half()
        return self

    # --- the graphs -----------------------------------------------------------------------------
    def condition(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> cross-attention context [B, max_length + 1, cond] and global conditioning [B, cond]."""
        return conditioning(self.text_encoder, self.conditioner.conditioners["seconds_total"], input_ids,
                            attention_mask, seconds)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                 global_cond: torch.Tensor) -> torch.Tensor:
        return self.model(x, t, cross_attn_cond, global_cond)

    def _per_item(self, fn, x: torch.Tensor):
        # iterate_batch: the reference encodes/decodes batch items one by one (same values, less memory)
        if not self.cfg.pretransform.iterate_batch or x.shape[0] == 1:
            return fn(x)
        outs = [fn(x[i:i + 1]) for i in range(x.shape[0])]
        return tuple(torch.cat(o) for o in zip(*outs, strict=True)) if isinstance(outs[0], tuple) else torch.cat(outs)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [B, latent_dim, frames] -> audio [B, channels, frames * downsampling_ratio], fp32."""
        z = (latents * self.cfg.pretransform.scale).to(self.vae_dtype)
        return self._per_item(self.pretransform.model.decode, z).float()

    def default_seconds(self) -> float:
        """The duration generated when none is asked for: the model's whole length."""
        return self.cfg.max_seconds

    def decode_plan(self) -> DecodePlan:
        """Whole-clip decoding, or the reference's chunks when the config says ``chunked``; the config's DC blocker."""
        if self.cfg.pretransform.chunked:
            plan = plan_windows(self.cfg.latent_length, REFERENCE_CHUNK, REFERENCE_OVERLAP)
        else:
            plan = whole_clip(self.cfg.latent_length)
        return replace(plan, dc_blocker_hz=self.cfg.pretransform.dc_blocker_hz)

    def posterior(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B, C, n] -> the VAE posterior's mean and std (in the diffusion model's latent scale)."""
        def encode(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return vae_split(self.pretransform.model.encoder(x.to(self.vae_dtype)))
        if self.cfg.pretransform.chunked:
            mean, std = _chunked_posterior(encode, audio, self.cfg.downsampling_ratio)
        else:
            mean, std = self._per_item(encode, audio)
        scale = self.cfg.pretransform.scale
        return mean.float() / scale, std.float() / scale

    def schedule(self, steps: int, sigma_max: float = 1.0) -> torch.Tensor:
        return logsnr_schedule(steps, sigma_max)

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


def _chunked_posterior(encode, audio: torch.Tensor, ratio: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's chunked encoding (encode_audio(chunked=True)): the same chunk plan as decoding,
    in audio samples; each chunk's latents are pasted with the overlap trimmed."""
    frames = audio.shape[-1] // ratio
    plan = plan_windows(frames, REFERENCE_CHUNK, REFERENCE_OVERLAP)
    means, stds = [], []
    for w in plan.windows:
        mean, std = encode(audio[..., w.start * ratio:(w.start + plan.window) * ratio])
        lo, hi = w.keep_begin - w.start, w.keep_end - w.start
        means.append(mean[..., lo:hi])
        stds.append(std[..., lo:hi])
    return torch.cat(means, dim=-1), torch.cat(stds, dim=-1)
