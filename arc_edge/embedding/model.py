"""A small CLAP-style audio-text embedding, trained by arc-edge on the procedural data.

Audio: log-mel spectrograms of the left and right channels (two input planes, so pan is visible)
-> a small CNN -> a unit vector. Text: hashed words and character trigrams (fastText-style, so new
phrasings that share pieces with known words still land nearby) -> mean embedding -> MLP -> a unit
vector. Trained with the symmetric InfoNCE loss of CLAP. It stands in for LAION-CLAP, which cannot
be downloaded here; it measures the procedural attributes, nothing more.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..melscale import mel_filterbank


@dataclass(frozen=True)
class EmbedderConfig:
    sample_rate: int = 44100
    n_fft: int = 2048
    hop: int = 1024
    n_mels: int = 64
    fmin: float = 40.0
    fmax: float = 8000.0
    dim: int = 128
    text_buckets: int = 8192
    channels: tuple[int, ...] = (16, 32, 64)

    def to_json(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_json(cls, raw: dict) -> EmbedderConfig:
        return cls(**{**raw, "channels": tuple(raw["channels"])})


def text_features(text: str, buckets: int) -> list[int]:
    """Bucket ids of the lower-cased words and their character trigrams (crc32: stable across runs)."""
    ids = []
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        padded = f"<{word}>"
        pieces = [word] + [padded[i:i + 3] for i in range(len(padded) - 2)]
        ids += [zlib.crc32(p.encode()) % buckets for p in pieces]
    return ids or [0]


class AudioTextEmbedder(nn.Module):
    def __init__(self, cfg: EmbedderConfig = EmbedderConfig()):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel", mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        layers, c_in = [], 2
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.GELU(), nn.MaxPool2d(2)]
            c_in = c
        self.audio_cnn = nn.Sequential(*layers)
        self.audio_proj = nn.Linear(2 * c_in, cfg.dim)
        self.text_bag = nn.EmbeddingBag(cfg.text_buckets, cfg.dim, mode="mean")
        self.text_mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, 2, samples] -> [B, 2, n_mels, frames]."""
        b, c, n = audio.shape
        spec = torch.stft(audio.reshape(b * c, n), self.cfg.n_fft, self.cfg.hop, window=self.window,
                          return_complex=True).abs() ** 2
        mel = torch.einsum("mf,bft->bmt", self.mel, spec)
        return torch.log(mel + 1e-6).reshape(b, c, self.cfg.n_mels, -1)

    def embed_mel(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.audio_cnn((mel + 5.0) / 5.0)  # rough centring of log power
        pooled = torch.cat((h.mean(dim=(2, 3)), h.amax(dim=(2, 3))), dim=1)
        return F.normalize(self.audio_proj(pooled), dim=-1)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        return self.embed_mel(self.log_mel(audio))

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        feats = [text_features(t, self.cfg.text_buckets) for t in texts]
        flat = torch.tensor([i for f in feats for i in f], dtype=torch.long, device=self.logit_scale.device)
        offsets = torch.tensor([0] + [len(f) for f in feats[:-1]], device=flat.device).cumsum(0)
        return F.normalize(self.text_mlp(self.text_bag(flat, offsets)), dim=-1)

    def contrastive_loss(self, audio_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """CLAP's symmetric InfoNCE over the batch (matching pairs on the diagonal)."""
        logits = self.logit_scale.exp().clamp(max=100.0) * audio_emb @ text_emb.T
        target = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
