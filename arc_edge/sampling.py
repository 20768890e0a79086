"""Samplers for rectified-flow models: the ARC ping-pong sampler and Euler with CFG.

Conventions (rectified flow): x_t = (1 - t) x0 + t eps, the model predicts v = eps - x0,
so x0 = x_t - t v. t = 1 is pure noise, t = 0 is data.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

# velocity(x, t) -> v, with the conditioning already bound.
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int], None]

LOGSNR_MIN, LOGSNR_MAX = -6.0, 2.0


def pingpong_schedule(steps: int, sigma_max: float = 1.0) -> torch.Tensor:
    """t values [steps + 1] from sigma_max down to 0: logSNR evenly spaced up to +2."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0.0 < sigma_max <= 1.0:
        raise ValueError("sigma_max must be in (0, 1]")
    start = LOGSNR_MIN if sigma_max >= 1.0 else math.log((1.0 - sigma_max) / sigma_max)
    logsnr = torch.linspace(start, LOGSNR_MAX, steps + 1, dtype=torch.float64)
    t = torch.sigmoid(-logsnr)
    t[0] = sigma_max
    t[-1] = 0.0
    return t.float()


def euler_schedule(steps: int, sigma_max: float = 1.0) -> torch.Tensor:
    if steps < 1:
        raise ValueError("steps must be at least 1")
    return torch.linspace(sigma_max, 0.0, steps + 1)


def x0_from_velocity(x_t: torch.Tensor, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
    return x_t - t * v


def noisy_latent(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    return (1.0 - t) * x0 + t * noise


def draw_noise(shape: tuple[int, ...], steps: int, seed: int) -> list[torch.Tensor]:
    """steps + 1 noise tensors (the start, then one per step), reproducible from ``seed`` on CPU."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen) for _ in range(steps + 1)]


def _start(noise: torch.Tensor, t0: torch.Tensor, init_latent: torch.Tensor | None) -> torch.Tensor:
    return noise if init_latent is None else noisy_latent(init_latent, noise, t0)


def sample_pingpong(velocity: VelocityFn, noises: list[torch.Tensor], steps: int,
                    init_latent: torch.Tensor | None = None, sigma_max: float = 1.0,
                    on_step: StepCallback | None = None) -> torch.Tensor:
    """ARC's sampler: denoise fully with one model call, then re-noise with fresh noise to the next t."""
    if len(noises) < steps + 1:
        raise ValueError(f"need {steps + 1} noise tensors, got {len(noises)}")
    ts = pingpong_schedule(steps, sigma_max)
    x = _start(noises[0], ts[0], init_latent)
    batch = x.shape[0]
    for i in range(steps):
        t = ts[i]
        x0 = x0_from_velocity(x, t, velocity(x, t.expand(batch)))
        x = noisy_latent(x0, noises[i + 1], ts[i + 1])
        if on_step:
            on_step(i, steps)
    return x


def sample_euler(velocity: VelocityFn, noise: torch.Tensor, steps: int,
                 init_latent: torch.Tensor | None = None, sigma_max: float = 1.0,
                 on_step: StepCallback | None = None) -> torch.Tensor:
    """Deterministic Euler integration of the flow from t = sigma_max to 0."""
    ts = euler_schedule(steps, sigma_max)
    x = _start(noise, ts[0], init_latent)
    batch = x.shape[0]
    for i in range(steps):
        x = x + (ts[i + 1] - ts[i]) * velocity(x, ts[i].expand(batch))
        if on_step:
            on_step(i, steps)
    return x


def with_cfg(cond_velocity: VelocityFn, uncond_velocity: VelocityFn, scale: float) -> VelocityFn:
    """Classifier-free guidance: v_u + scale * (v_c - v_u); scale 1 is plain conditional."""
    if scale == 1.0:
        return cond_velocity

    def guided(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v_u = uncond_velocity(x, t)
        return v_u + scale * (cond_velocity(x, t) - v_u)

    return guided
