"""The graphs a bundle holds, as standalone modules with static shapes and fused weight norm.

Input and output names/order here are the bundle's contract with every runner (Python, C++, JVM).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from ..models.oobleck import fuse_weight_norm
from ..models.pipeline import ArcPipeline


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # "float32" | "int64"

    def example(self, gen: torch.Generator) -> torch.Tensor:
        if self.dtype == "int64":
            return torch.ones(self.shape, dtype=torch.long)
        return torch.randn(self.shape, generator=gen)

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


class ConditionersGraph(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.text_encoder = pipeline.text_encoder
        self.seconds = pipeline.conditioner.conditioners["seconds_total"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor):
        prompt = self.text_encoder(input_ids, attention_mask)
        token = self.seconds(seconds)
        return torch.cat((prompt, token), dim=1), token[:, 0, :]


class DiTGraph(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.dit = pipeline.model.model

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor, global_cond: torch.Tensor):
        return self.dit(x, t, cross_attn_cond, global_cond)


class DecoderGraph(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.decoder = fuse_weight_norm(copy.deepcopy(pipeline.pretransform.model.decoder))

    def forward(self, latent: torch.Tensor):
        return self.decoder(latent)


class EncoderGraph(nn.Module):
    """Audio -> latent mean (audio-to-audio)."""

    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.encoder = fuse_weight_norm(copy.deepcopy(pipeline.pretransform.model.encoder))

    def forward(self, audio: torch.Tensor):
        return self.encoder(audio).chunk(2, dim=1)[0]


@dataclass(frozen=True)
class GraphDef:
    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def graph_defs(pipeline: ArcPipeline, with_encoder: bool) -> list[GraphDef]:
    cfg = pipeline.cfg
    L, D, C, T = cfg.prompt.max_length, cfg.cond_dim, cfg.latent_dim, cfg.latent_length
    f, i = "float32", "int64"
    latent = TensorSpec("latent", (1, C, T), f)
    audio = TensorSpec("audio", (1, cfg.audio_channels, cfg.sample_size), f)
    cross, glob = TensorSpec("cross_attn_cond", (1, L + 1, D), f), TensorSpec("global_cond", (1, D), f)
    defs = [
        GraphDef("conditioners", ConditionersGraph(pipeline),
                 (TensorSpec("input_ids", (1, L), i), TensorSpec("attention_mask", (1, L), i),
                  TensorSpec("seconds", (1,), f)), (cross, glob)),
        GraphDef("dit", DiTGraph(pipeline),
                 (TensorSpec("x", (1, C, T), f), TensorSpec("t", (1,), f), cross, glob),
                 (TensorSpec("v", (1, C, T), f),)),
        GraphDef("decoder", DecoderGraph(pipeline), (latent,), (audio,)),
    ]
    if with_encoder:
        defs.append(GraphDef("encoder", EncoderGraph(pipeline), (audio,), (latent,)))
    for d in defs:
        d.module.eval()
    return defs
