"""Samplers for rectified-flow models: the ARC ping-pong sampler and Euler, with optional CFG.

Conventions (rectified flow): x_t = (1 - t) x0 + t eps, the model predicts v = eps - x0,
so x0 = x_t - t v. t = 1 is pure noise, t = 0 is data.

As in k-diffusion (which takes ``sigmas``), a sampler takes its schedule as an argument: the
schedule is computed once (``logsnr_schedule``), stored in bundles, and read by every runner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

# velocity(x, t) -> v, with the conditioning already bound.
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int], None]

LOGSNR_MIN, LOGSNR_MAX = -6.0, 2.0


def logsnr_schedule(steps: int, sigma_max: float = 1.0) -> torch.Tensor:
    """t values [steps + 1] from sigma_max down to 0, evenly spaced in logSNR up to +2.

    stable-audio-tools' ``sample_rf`` grid, used by its ping-pong and Euler samplers alike
    (float32 linspace; log((1 - s) / s + 1e-6) as the start for audio-to-audio)."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0.0 < sigma_max <= 1.0:
        raise ValueError("sigma_max must be in (0, 1]")
    start = math.log((1.0 - sigma_max) / sigma_max + 1e-6) if sigma_max < 1.0 else LOGSNR_MIN
    t = torch.sigmoid(-torch.linspace(start, LOGSNR_MAX, steps + 1))
    t[0] = sigma_max
    t[-1] = 0.0
    return t


def x0_from_velocity(x_t: torch.Tensor, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
    return x_t - t * v


def noisy_latent(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The rectified-flow interpolation (1 - t) x0 + t noise; ``t`` broadcasts from the left
    (a [B] tensor applies per batch item)."""
    if isinstance(t, torch.Tensor) and t.dim() == 1 and x0.dim() > 1:
        t = t.reshape(-1, *([1] * (x0.dim() - 1)))
    return (1.0 - t) * x0 + t * noise


@dataclass
class NoiseDraws:
    """Every random draw of one generation, in stable-audio-tools' order on one seeded generator:
    the starting noise, the VAE posterior sample (audio-to-audio only), one tensor per step."""

    initial: torch.Tensor
    steps: list[torch.Tensor]
    posterior: torch.Tensor | None = None


def draw_noise(shape: tuple[int, ...], steps: int, seed: int, posterior: bool = False) -> NoiseDraws:
    gen = torch.Generator().manual_seed(seed)
    initial = torch.randn(shape, generator=gen)
    post = torch.randn(shape, generator=gen) if posterior else None
    return NoiseDraws(initial, [torch.randn(shape, generator=gen) for _ in range(steps)], post)


def _start(noise: torch.Tensor, t0: torch.Tensor, init_latent: torch.Tensor | None) -> torch.Tensor:
    return noise if init_latent is None else noisy_latent(init_latent, noise, t0)


def sample_pingpong(velocity: VelocityFn, noise: NoiseDraws, schedule: torch.Tensor,
                    init_latent: torch.Tensor | None = None, on_step: StepCallback | None = None) -> torch.Tensor:
    """ARC's sampler: denoise fully with one model call, then re-noise with fresh noise to the next t."""
    steps = len(schedule) - 1
    if len(noise.steps) < steps:
        raise ValueError(f"need {steps} step noise tensors, got {len(noise.steps)}")
    x = _start(noise.initial, schedule[0], init_latent)
    batch = x.shape[0]
    for i in range(steps):
        t = schedule[i]
        x0 = x0_from_velocity(x, t, velocity(x, t.expand(batch)))
        x = noisy_latent(x0, noise.steps[i], schedule[i + 1])
        if on_step:
            on_step(i, steps)
    return x


def sample_euler(velocity: VelocityFn, noise: NoiseDraws, schedule: torch.Tensor,
                 init_latent: torch.Tensor | None = None, on_step: StepCallback | None = None) -> torch.Tensor:
    """Deterministic Euler integration of the flow along ``schedule`` (stable-audio-tools' sample_rf)."""
    steps = len(schedule) - 1
    x = _start(noise.initial, schedule[0], init_latent)
    batch = x.shape[0]
    for i in range(steps):
        x = x + (schedule[i + 1] - schedule[i]) * velocity(x, schedule[i].expand(batch))
        if on_step:
            on_step(i, steps)
    return x


SAMPLERS = {"pingpong": sample_pingpong, "euler": sample_euler}


def with_cfg(cond_velocity: VelocityFn, uncond_velocity: VelocityFn, scale: float) -> VelocityFn:
    """Classifier-free guidance: v_u + scale * (v_c - v_u); scale 1 is plain conditional."""
    if scale == 1.0:
        return cond_velocity

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v_u = uncond_velocity(x, t)
        return v_u + scale * (cond_velocity(x, t) - v_u)

    return guided
