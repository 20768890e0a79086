"""Text-to-audio generation, shared by every runtime (eager PyTorch, ExecuTorch, onnxruntime).

A runtime provides four calls: ``condition(ids, mask, seconds)``, ``velocity(x, t, cross, global)``,
``decode(latent)`` and (for audio-to-audio) ``encode(audio)``. Everything else (tokenising, the
schedule, noise, the sampler loop, trimming) happens here once.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch

from .config import ModelConfig
from .errors import InputError
from .sampling import draw_noise, sample_euler, sample_pingpong, with_cfg
from .tokenizer import PromptTokenizer

SAMPLERS = ("pingpong", "euler")


class Runtime(Protocol):
    def condition(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                 global_cond: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...

    def encode(self, audio: torch.Tensor) -> torch.Tensor: ...


@dataclass
class GenerationRequest:
    prompt: str
    seconds: float
    steps: int = 8
    seed: int = 0
    sampler: str = "pingpong"
    cfg_scale: float = 1.0
    init_audio: np.ndarray | None = None  # [channels, samples] at the model rate
    init_noise: float = 1.0  # sigma_max: < 1 keeps part of the init audio


@dataclass
class GenerationResult:
    audio: np.ndarray  # [channels, samples]
    sample_rate: int
    stage_ms: dict[str, float] = field(default_factory=dict)
    step_ms: list[float] = field(default_factory=list)
    truncated_prompt: bool = False


def validate_request(cfg: ModelConfig, req: GenerationRequest) -> None:
    if not 0 < req.seconds <= cfg.max_seconds + 1e-9:
        raise InputError(f"--seconds {req.seconds:g} is out of range; this model makes up to "
                         f"{cfg.max_seconds:.2f} s (choose 0 < seconds <= {cfg.max_seconds:.2f})")
    if req.steps < 1 or req.steps > 1000:
        raise InputError(f"--steps {req.steps} is out of range; use 1..1000 (8 for ARC ping-pong)")
    if req.sampler not in SAMPLERS:
        raise InputError(f"unknown sampler '{req.sampler}'; choose one of {', '.join(SAMPLERS)}")
    if not 0 < req.init_noise <= 1:
        raise InputError(f"--init-noise {req.init_noise:g} is out of range; use 0 < value <= 1")
    if req.init_noise < 1 and req.init_audio is None:
        raise InputError("--init-noise below 1 needs --init-audio")


def tokenize(tokenizer: PromptTokenizer, prompt: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    tok = tokenizer.encode(prompt)
    if tok.truncated:
        warnings.warn(f"the prompt is longer than {tokenizer.max_length - 1} tokens and was truncated", stacklevel=2)
    return torch.tensor([tok.ids], dtype=torch.long), torch.tensor([tok.mask], dtype=torch.long), tok.truncated


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], torch.Tensor]):
        t0 = time.perf_counter()
        out = fn()
        self.ms[name] = (time.perf_counter() - t0) * 1e3
        return out


@torch.inference_mode()
def generate(runtime: Runtime, tokenizer: PromptTokenizer, cfg: ModelConfig, req: GenerationRequest,
             on_step: Callable[[int, int], None] | None = None,
             noises: list[torch.Tensor] | None = None) -> GenerationResult:
    validate_request(cfg, req)
    timer = _Timer()
    start = time.perf_counter()
    ids, mask, truncated = tokenize(tokenizer, req.prompt)
    seconds = torch.tensor([float(req.seconds)])
    cross, glob = timer.run("conditioners", lambda: runtime.condition(ids, mask, seconds))
    shape = (1, cfg.latent_dim, cfg.latent_length)
    noises = noises if noises is not None else draw_noise(shape, req.steps, req.seed)

    init_latent = None
    if req.init_audio is not None:
        audio = torch.from_numpy(np.ascontiguousarray(req.init_audio))[None].float()
        init_latent = timer.run("encoder", lambda: runtime.encode(audio))

    step_ms: list[float] = []
    last = [time.perf_counter()]

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return runtime.velocity(x, t, cross, glob)

    def step_done(i: int, n: int) -> None:
        now = time.perf_counter()
        step_ms.append((now - last[0]) * 1e3)
        last[0] = now
        if on_step:
            on_step(i, n)

    last[0] = time.perf_counter()
    if req.sampler == "pingpong":
        latent = sample_pingpong(velocity, noises, req.steps, init_latent, req.init_noise, step_done)
    else:
        def uncond(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return runtime.velocity(x, t, torch.zeros_like(cross), glob)
        latent = sample_euler(with_cfg(velocity, uncond, req.cfg_scale), noises[0], req.steps, init_latent,
                              req.init_noise, step_done)
    timer.ms["dit_total"] = sum(step_ms)
    audio = timer.run("decoder", lambda: runtime.decode(latent))
    timer.ms["total"] = (time.perf_counter() - start) * 1e3
    n = int(round(req.seconds * cfg.sample_rate))
    return GenerationResult(audio[0, :, :n].float().numpy(), cfg.sample_rate, timer.ms, step_ms, truncated)
