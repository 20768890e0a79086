"""Conditioners: the T5 prompt encoder (mask-multiplied output) and the seconds_total number embedder."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import T5Config, T5EncoderModel

from ..config import ModelConfig
from ..errors import ConfigError
from ..schema import Fields

# Public t5-base hyper-parameters, so the architecture can be built (e.g. on meta) without a download.
T5_BASE_CONFIG: dict[str, Any] = {
    "vocab_size": 32128, "d_model": 768, "d_kv": 64, "d_ff": 3072, "num_layers": 12, "num_heads": 12,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6, "feed_forward_proj": "relu", "pad_token_id": 0, "eos_token_id": 1,
}


# t5_config keys a model config may set, with their bounds (any other key is refused)
_T5_INTS = {"vocab_size": (2, 1 << 20), "d_model": (8, 8192), "d_kv": (4, 1024), "d_ff": (8, 65536),
            "num_layers": (1, 64), "num_heads": (1, 128), "relative_attention_num_buckets": (1, 1024),
            "relative_attention_max_distance": (1, 1 << 16), "pad_token_id": (0, 1 << 20), "eos_token_id": (0, 1 << 20),
            "decoder_start_token_id": (0, 1 << 20), "num_decoder_layers": (0, 64)}
_T5_OTHER = {"feed_forward_proj": ("relu", "gated-gelu", "gelu", "gated-relu", "gated-silu"),
             "dropout_rate": None, "layer_norm_epsilon": None}


def t5_architecture(cfg: ModelConfig) -> T5Config:
    if cfg.prompt.t5_config is not None:
        where = "model config conditioning.prompt.config"
        f = Fields(cfg.prompt.t5_config, where, "t5_config")
        unknown = sorted(set(f) - set(_T5_INTS) - set(_T5_OTHER))
        if unknown:
            raise ConfigError(f"{where}: unknown t5_config key(s) {', '.join(unknown)}")
        values = {k: f.integer(k, low=lo, high=hi) for k, (lo, hi) in _T5_INTS.items() if f.has(k)}
        if f.has("feed_forward_proj"):
            values["feed_forward_proj"] = f.string("feed_forward_proj", choices=_T5_OTHER["feed_forward_proj"])
        for key in ("dropout_rate", "layer_norm_epsilon"):
            if f.has(key):
                values[key] = f.number(key, low=0.0, high=1.0)
        if values.get("d_model", 512) != cfg.cond_dim:
            raise ConfigError(f"{where}: t5_config.d_model must equal conditioning cond_dim ({cfg.cond_dim})")
        return T5Config(**values)
    if cfg.prompt.model_name == "t5-base":
        return T5Config(**T5_BASE_CONFIG)
    raise ConfigError(f"unknown T5 '{cfg.prompt.model_name}': give its architecture as t5_config in the model config")


class TextEncoder(nn.Module):
    """T5 encoder whose output is zeroed at padded positions (SAOS's T5 conditioner)."""

    def __init__(self, t5: T5EncoderModel):
        super().__init__()
        self.t5 = t5

    @classmethod
    def from_config(cls, config: T5Config) -> TextEncoder:
        return cls(T5EncoderModel(config))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.t5(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return hidden * attention_mask.unsqueeze(-1).to(hidden.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """x -> [x, sin(2 pi x w), cos(2 pi x w)] with learned w."""

    def __init__(self, dim: int):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(dim // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, None]
        freqs = x * self.weights[None, :] * 2 * math.pi
        return torch.cat((x, freqs.sin(), freqs.cos()), dim=-1)


class NumberEmbedder(nn.Module):
    def __init__(self, features: int, dim: int = 256):
        super().__init__()
        self.embedding = nn.Sequential(LearnedPositionalEmbedding(dim), nn.Linear(dim + 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x)


class NumberConditioner(nn.Module):
    def __init__(self, features: int, min_val: float, max_val: float):
        super().__init__()
        self.min_val, self.max_val = min_val, max_val
        self.embedder = NumberEmbedder(features)

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        """value [B] -> one token [B, 1, features]."""
        value = value.float().clamp(self.min_val, self.max_val)
        normalised = (value - self.min_val) / (self.max_val - self.min_val)
        return self.embedder(normalised).unsqueeze(1)


def conditioning(text_encoder: TextEncoder, seconds_conditioner: NumberConditioner, input_ids: torch.Tensor,
                 attention_mask: torch.Tensor, seconds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAOS conditioning: cross-attention context [B, max_length + 1, cond] (prompt tokens, then the
    seconds token) and global conditioning [B, cond] (the seconds token)."""
    prompt = text_encoder(input_ids, attention_mask)
    seconds_token = seconds_conditioner(seconds)
    return torch.cat((prompt, seconds_token), dim=1), seconds_token[:, 0, :]


class MultiConditioner(nn.Module):
    """Holds checkpointed conditioners under ``conditioner.conditioners.*`` (T5 is stored apart)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.conditioners = nn.ModuleDict({
            "seconds_total": NumberConditioner(cfg.cond_dim, cfg.seconds.min_val, cfg.seconds.max_val),
        })
