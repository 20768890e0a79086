"""The graphs a bundle holds: each definition carries its module (static shapes, fused weight
norm), its inputs and outputs (names, order, shapes, dtypes: the contract with every runner), the
eager reference it must match and the inputs the parity gate and the on-device self-test check it
on, taken from one real generation (``ReferenceRun``).

Adding a graph means writing one builder here and listing it in ``GRAPH_BUILDERS``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..decoding import DecodePlan
from ..generate import DEFAULT_PROMPT, GenerationRequest, generate
from ..models.conditioners import conditioning
from ..models.oobleck import fuse_weight_norm
from ..models.pipeline import ArcPipeline
from ..sampling import NoiseDraws, draw_noise

PARITY_PROMPT = DEFAULT_PROMPT
PARITY_SEED = 1234


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


@dataclass
class ReferenceRun:
    """One eager fp32 generation of the parity prompt, with every graph input it produced."""

    request: GenerationRequest
    noise: NoiseDraws
    inputs: dict[str, list[tuple[torch.Tensor, ...]]] = field(default_factory=dict)
    audio: torch.Tensor | None = None  # [channels, samples] of the whole generation


class _Recorder:
    """A runtime that runs the eager pipeline and records what each graph was called with."""

    def __init__(self, pipeline: ArcPipeline, run: ReferenceRun):
        self.pipeline, self.run = pipeline, run
        self.cfg, self.tokenizer = pipeline.cfg, pipeline.tokenizer

    def _record(self, name: str, *args: torch.Tensor) -> None:
        # fresh contiguous copies: an expanded t has stride 0, which ExecuTorch cannot take
        self.run.inputs.setdefault(name, []).append(tuple(a.clone(memory_format=torch.contiguous_format) for a in args))

    def condition(self, ids, mask, seconds):
        self._record("conditioners", ids, mask, seconds.float())
        return self.pipeline.condition(ids, mask, seconds)

    def velocity(self, x, t, cross, glob):
        self._record("dit", x, t.float().reshape(1), cross, glob)
        return self.pipeline.velocity(x, t, cross, glob)

    def decode(self, latent):
        self._record("latent", latent)
        return self.pipeline.decode(latent)

    def decode_plan(self) -> DecodePlan:
        return self.pipeline.decode_plan()

    def default_seconds(self) -> float:
        return self.pipeline.default_seconds()

    def posterior(self, audio):
        return self.pipeline.posterior(audio)

    def schedule(self, steps: int, sigma_max: float = 1.0) -> torch.Tensor:
        return self.pipeline.schedule(steps, sigma_max)


def reference_run(pipeline: ArcPipeline, seconds: float, steps: int) -> ReferenceRun:
    req = GenerationRequest(PARITY_PROMPT, seconds, steps, PARITY_SEED)
    cfg = pipeline.cfg
    run = ReferenceRun(req, draw_noise((1, cfg.latent_dim, cfg.latent_length), steps, PARITY_SEED))
    result = generate(_Recorder(pipeline, run), req, noise=run.noise)
    run.audio = torch.from_numpy(result.audio)
    return run


@dataclass
class GraphDef:
    name: str
    module: nn.Module
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    reference: Callable[..., tuple[torch.Tensor, ...]]  # eager fp32 outputs for the same inputs
    cases: list[tuple[torch.Tensor, ...]]  # parity / self-test inputs; the first is the export example
    manifest: dict = field(default_factory=dict)  # graph-specific contract fields (the decode plan)

    def __post_init__(self) -> None:
        self.module.eval()


class ConditionersGraph(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.text_encoder = pipeline.text_encoder
        self.seconds = pipeline.conditioner.conditioners["seconds_total"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor):
        return conditioning(self.text_encoder, self.seconds, input_ids, attention_mask, seconds)


class DiTGraph(nn.Module):
    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.dit = pipeline.model.model

    def forward(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor, global_cond: torch.Tensor):
        return self.dit(x, t, cross_attn_cond, global_cond)


class DecoderGraph(nn.Module):
    """One decoder window: latents (diffusion scale) -> audio; weight norm fused, fp32.

    The pretransform's scale is folded into the first conv's weights (conv(s * z) = (s * W) conv z):
    an elementwise op ahead of a dynamically quantised conv trips ExecuTorch's layout pass."""

    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.decoder = fuse_weight_norm(copy.deepcopy(pipeline.pretransform.model.decoder)).float()
        with torch.no_grad():
            self.decoder.layers[0].weight.mul_(pipeline.cfg.pretransform.scale)

    def forward(self, latent: torch.Tensor):
        return self.decoder(latent)


class EncoderGraph(nn.Module):
    """Audio -> the VAE posterior's mean and std (audio-to-audio samples from them)."""

    def __init__(self, pipeline: ArcPipeline):
        super().__init__()
        self.encoder = fuse_weight_norm(copy.deepcopy(pipeline.pretransform.model.encoder)).float()
        self.register_buffer("scale", torch.tensor(pipeline.cfg.pretransform.scale))

    def forward(self, audio: torch.Tensor):
        from ..models.oobleck import vae_split

        mean, std = vae_split(self.encoder(audio))
        return mean / self.scale, std / self.scale


def _specs(cfg, plan: DecodePlan) -> dict[str, TensorSpec]:
    L, D, C, T = cfg.prompt.max_length, cfg.cond_dim, cfg.latent_dim, cfg.latent_length
    return {
        "cross": TensorSpec("cross_attn_cond", (1, L + 1, D), "float32"),
        "global": TensorSpec("global_cond", (1, D), "float32"),
        "latent": TensorSpec("latent", (1, C, T), "float32"),
        "window": TensorSpec("latent", (1, C, plan.window), "float32"),
        "audio": TensorSpec("audio", (1, cfg.audio_channels, cfg.sample_size), "float32"),
    }


def conditioners_graph(pipeline: ArcPipeline, run: ReferenceRun, plan: DecodePlan) -> GraphDef:
    cfg, s = pipeline.cfg, _specs(pipeline.cfg, plan)
    L = cfg.prompt.max_length
    return GraphDef("conditioners", ConditionersGraph(pipeline),
                    (TensorSpec("input_ids", (1, L), "int64"), TensorSpec("attention_mask", (1, L), "int64"),
                     TensorSpec("seconds", (1,), "float32")), (s["cross"], s["global"]),
                    pipeline.condition, run.inputs["conditioners"])


def dit_graph(pipeline: ArcPipeline, run: ReferenceRun, plan: DecodePlan) -> GraphDef:
    s = _specs(pipeline.cfg, plan)
    calls = run.inputs["dit"]  # the first (pure noise) and a middle step of the real sampling loop
    return GraphDef("dit", DiTGraph(pipeline),
                    (TensorSpec("x", s["latent"].shape, "float32"), TensorSpec("t", (1,), "float32"),
                     s["cross"], s["global"]), (TensorSpec("v", s["latent"].shape, "float32"),),
                    lambda *a: (pipeline.velocity(*a),), [calls[0], calls[len(calls) // 2]])


def decoder_graph(pipeline: ArcPipeline, run: ReferenceRun, plan: DecodePlan) -> GraphDef:
    s = _specs(pipeline.cfg, plan)
    latent = run.inputs["latent"][0][0]  # the real final latent of the reference generation
    windows = dict.fromkeys([plan.windows[0], plan.windows[len(plan.windows) // 2]])  # the first and a middle one
    cases = [(latent[..., w.start:w.start + plan.window].clone(),) for w in windows]
    audio = TensorSpec("audio", (1, pipeline.cfg.audio_channels, plan.window * pipeline.cfg.downsampling_ratio),
                       "float32")
    return GraphDef("decoder", DecoderGraph(pipeline), (s["window"],), (audio,),
                    lambda z: (pipeline.decode(z),), cases, {"decode": plan.to_json()})


def encoder_graph(pipeline: ArcPipeline, run: ReferenceRun, plan: DecodePlan) -> GraphDef:
    s = _specs(pipeline.cfg, plan)
    audio = torch.zeros(s["audio"].shape)
    audio[0, :, :run.audio.shape[1]] = run.audio  # the reference generation's own audio
    mean = TensorSpec("mean", s["latent"].shape, "float32")
    return GraphDef("encoder", EncoderGraph(pipeline), (s["audio"],), (mean, TensorSpec("std", mean.shape, "float32")),
                    pipeline.posterior, [(audio,)])


# name -> builder; `optional` graphs are exported on request (--with-encoder)
GRAPH_BUILDERS: dict[str, Callable[[ArcPipeline, ReferenceRun, DecodePlan], GraphDef]] = {
    "conditioners": conditioners_graph, "dit": dit_graph, "decoder": decoder_graph, "encoder": encoder_graph,
}
REQUIRED_GRAPHS = ("conditioners", "dit", "decoder")


def graph_defs(pipeline: ArcPipeline, run: ReferenceRun, plan: DecodePlan, names: tuple[str, ...]) -> list[GraphDef]:
    return [GRAPH_BUILDERS[name](pipeline, run, plan) for name in names]
