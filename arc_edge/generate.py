"""Text-to-audio generation, shared by every runtime (eager PyTorch, ExecuTorch, onnxruntime).

A runtime carries its model config and tokenizer and provides the graph calls: ``condition``,
``velocity``, ``decode`` (one decoder window, see ``decode_plan``) and, for audio-to-audio,
``posterior`` (the VAE posterior's mean and std). Everything else (tokenising, the schedule,
noise, the sampler loop, guidance, windowed decoding, trimming) happens here once.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from .config import ModelConfig
from .decoding import DecodePlan, check_duration, decode_in_windows, end_fade_samples
from .errors import GenerationError, InputError
from .sampling import SAMPLERS, NoiseDraws, draw_noise, with_cfg
from .tokenizer import PromptTokenizer

DEFAULT_PROMPT = "a low square wave panned left, pulsing slowly"
MAX_STEPS = 1000
# stable-audio-tools' generate_diffusion_cond default; ARC's ping-pong sampler needs none (1).
DEFAULT_CFG = {"pingpong": 1.0, "euler": 6.0}


class Runtime(Protocol):
    cfg: ModelConfig
    tokenizer: PromptTokenizer

    def condition(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, seconds: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def velocity(self, x: torch.Tensor, t: torch.Tensor, cross_attn_cond: torch.Tensor,
                 global_cond: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...

    def decode_plan(self) -> DecodePlan: ...

    def default_seconds(self) -> float: ...

    def posterior(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def schedule(self, steps: int, sigma_max: float = 1.0) -> torch.Tensor: ...


@dataclass
class GenerationRequest:
    prompt: str
    seconds: float
    steps: int = 8
    seed: int = 0
    sampler: str = "pingpong"
    cfg_scale: float | None = None  # None: DEFAULT_CFG of the sampler
    init_audio: np.ndarray | None = None  # [channels, samples] at the model rate
    init_noise: float = 1.0  # sigma_max: < 1 keeps part of the init audio

    @property
    def guidance(self) -> float:
        return DEFAULT_CFG[self.sampler] if self.cfg_scale is None else self.cfg_scale


@dataclass
class GenerationResult:
    audio: np.ndarray  # [channels, samples]
    sample_rate: int
    stage_ms: dict[str, float] = field(default_factory=dict)
    step_ms: list[float] = field(default_factory=list)
    truncated_prompt: bool = False


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise InputError(f"{name} {value} is not a finite number; give a real value")


def validate_options(req: GenerationRequest, init_audio_given: bool | None = None) -> None:
    """The checks that need no model, so bad arguments fail before anything heavy is loaded
    (``init_audio_given``: whether init audio will come, when it is not loaded yet)."""
    check_duration(req.seconds)
    if not 0 <= req.seed < 2**63:
        raise InputError(f"--seed {req.seed} is out of range; use 0 .. 2^63-1")
    if req.steps < 1 or req.steps > MAX_STEPS:
        raise InputError(f"--steps {req.steps} is out of range; use 1..{MAX_STEPS} (8 for ARC ping-pong)")
    if req.sampler not in SAMPLERS:
        raise InputError(f"unknown sampler '{req.sampler}'; choose one of {', '.join(SAMPLERS)}")
    _finite("--cfg", req.guidance)
    if req.guidance < 0:
        raise InputError(f"--cfg {req.guidance:g} is negative; use 1 for no guidance or a larger scale")
    _finite("--init-noise", req.init_noise)
    if not 0 < req.init_noise <= 1:
        raise InputError(f"--init-noise {req.init_noise:g} is out of range; use 0 < value <= 1")
    has_init = req.init_audio is not None if init_audio_given is None else init_audio_given
    if req.init_noise < 1 and not has_init:
        raise InputError("--init-noise below 1 needs --init-audio")
    if req.init_audio is not None and not np.all(np.isfinite(req.init_audio)):
        raise InputError("the init audio contains NaN or infinite samples; give a clean audio file")


def validate_request(cfg: ModelConfig, req: GenerationRequest) -> None:
    validate_options(req)
    check_duration(req.seconds, cfg.max_seconds)


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


def noise_for(runtime: Runtime, req: GenerationRequest) -> NoiseDraws:
    cfg = runtime.cfg
    return draw_noise((1, cfg.latent_dim, cfg.latent_length), req.steps, req.seed,
                      posterior=req.init_audio is not None)


@torch.inference_mode()
def generate(runtime: Runtime, req: GenerationRequest, on_step: Callable[[int, int], None] | None = None,
             noise: NoiseDraws | None = None, on_audio: Callable[[np.ndarray], None] | None = None
             ) -> GenerationResult:
    """One generation. ``on_audio`` receives each decoded window's audio [channels, n] as soon as it
    is ready (time to first audio); the result holds the whole clip."""
    cfg = runtime.cfg
    validate_request(cfg, req)
    timer = _Timer()
    start = time.perf_counter()
    ids, mask, truncated = tokenize(runtime.tokenizer, req.prompt)
    seconds = torch.tensor([float(req.seconds)])
    cross, glob = timer.run("conditioners", lambda: runtime.condition(ids, mask, seconds))
    noise = noise if noise is not None else noise_for(runtime, req)

    init_latent = None
    if req.init_audio is not None:
        audio = torch.from_numpy(np.ascontiguousarray(req.init_audio))[None].float()
        mean, std = timer.run("encoder", lambda: runtime.posterior(audio))
        # stable-audio-tools encodes by sampling the posterior, with the generation's seeded noise
        init_latent = mean + std * noise.posterior

    step_ms: list[float] = []
    last = [time.perf_counter()]

    def step_done(i: int, n: int) -> None:
        now = time.perf_counter()
        step_ms.append((now - last[0]) * 1e3)
        last[0] = now
        if on_step:
            on_step(i, n)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return runtime.velocity(x, t, cross, glob)

    def uncond(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # the reference's null conditioning
        return runtime.velocity(x, t, torch.zeros_like(cross), glob)

    schedule = runtime.schedule(req.steps, req.init_noise)
    last[0] = time.perf_counter()
    latent = SAMPLERS[req.sampler](with_cfg(velocity, uncond, req.guidance), noise, schedule, init_latent, step_done)
    timer.ms["dit_total"] = sum(step_ms)
    if not torch.isfinite(latent).all():  # e.g. a guidance scale so large that the velocity overflows
        raise GenerationError(f"sampling produced NaN or infinite values (guidance scale {req.guidance:g}); "
                              "lower --cfg (1 to 10 is usual), or check the model's weights")

    n = int(round(req.seconds * cfg.sample_rate))
    t_dec = time.perf_counter()
    chunks = []
    fade = end_fade_samples(cfg.sample_rate)
    for chunk in decode_in_windows(runtime.decode, latent, runtime.decode_plan(), cfg.downsampling_ratio, n, fade,
                                   cfg.sample_rate):
        chunks.append(chunk[0].float().numpy())
        if not np.isfinite(chunks[-1]).all():
            raise GenerationError("the decoder produced NaN or infinite samples from finite latents; check the "
                                  "model's weights")
        if len(chunks) == 1:
            timer.ms["first_audio"] = (time.perf_counter() - start) * 1e3
        if on_audio:
            on_audio(chunks[-1])
    timer.ms["decoder"] = (time.perf_counter() - t_dec) * 1e3
    timer.ms["total"] = (time.perf_counter() - start) * 1e3
    return GenerationResult(np.concatenate(chunks, axis=1), cfg.sample_rate, timer.ms, step_ms, truncated)


def reconstruct(runtime: Runtime, audio: np.ndarray, device: torch.device | None = None) -> np.ndarray:
    """VAE encode (posterior mean) and decode of ``audio`` [channels, n], decoded as a generation is
    (the runtime's decode plan, DC blocker included): the ceiling any generator in that latent space
    has. ``device``: where the runtime's weights are (a training run's GPU); the audio comes back on
    the CPU."""
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(audio))[None]
        latent = runtime.posterior(x if device is None else x.to(device))[0]
        chunks = decode_in_windows(lambda w: runtime.decode(w).cpu(), latent, runtime.decode_plan(),
                                   runtime.cfg.downsampling_ratio, audio.shape[1], sample_rate=runtime.cfg.sample_rate)
        return torch.cat(list(chunks), dim=-1)[0].numpy()
