"""Samplers against independent formulas (the reference's schedule written out, oracle velocities)."""

import math

import pytest
import torch

from arc_edge.sampling import (
    draw_noise,
    logsnr_schedule,
    noisy_latent,
    sample_euler,
    sample_pingpong,
    with_cfg,
    x0_from_velocity,
)


def reference_grid(steps, sigma_max=1.0):
    """stable-audio-tools' sample_rf grid, computed here with plain math (float64)."""
    start = math.log((1 - sigma_max) / sigma_max + 1e-6) if sigma_max < 1 else -6.0
    t = [1 / (1 + math.exp(start + (2.0 - start) * i / steps)) for i in range(steps + 1)]
    t[0], t[-1] = sigma_max, 0.0
    return t


def test_8_step_schedule_matches_the_published_values():
    expected = [1, 0.99331, 0.98201, 0.95257, 0.88080, 0.73106, 0.5, 0.26894, 0]
    assert logsnr_schedule(8).tolist() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 50])
@pytest.mark.parametrize("sigma_max", [1.0, 0.7, 0.3])
def test_schedule_is_the_reference_logsnr_grid(steps, sigma_max):
    assert logsnr_schedule(steps, sigma_max).tolist() == pytest.approx(reference_grid(steps, sigma_max), abs=2e-7)


def test_x0_and_v_algebra_roundtrip():
    torch.manual_seed(0)
    x0, eps = torch.randn(3, 4), torch.randn(3, 4)
    t = 0.37
    x_t = noisy_latent(x0, eps, t)
    torch.testing.assert_close(x_t, (1 - t) * x0 + t * eps)
    torch.testing.assert_close(x0_from_velocity(x_t, t, eps - x0), x0)
    per_item = torch.tensor([0.2, 0.9, 0.5])  # a [B] t applies per batch item
    torch.testing.assert_close(noisy_latent(x0, eps, per_item), (1 - per_item[:, None]) * x0 + per_item[:, None] * eps)


def _oracle(target, seen):
    def velocity(x, t):  # the exact velocity towards ``target`` for the current x
        seen.append((x.clone(), t.clone()))
        return (x - (1 - t) * target) / t - target
    return velocity


def test_pingpong_with_oracle_velocity_recovers_data_and_follows_the_rule():
    torch.manual_seed(0)
    target = torch.randn(1, 2, 3)
    noise = draw_noise((1, 2, 3), 4, seed=5)
    seen = []
    ts = logsnr_schedule(4)
    out = sample_pingpong(_oracle(target, seen), noise, ts)
    torch.testing.assert_close(out, target, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(seen[0][0], noise.initial)
    # second model input = target re-noised with the step's fresh noise at t_1
    torch.testing.assert_close(seen[1][0], (1 - ts[1]) * target + ts[1] * noise.steps[0], rtol=1e-4, atol=1e-4)
    assert [s[1].item() for s in seen] == pytest.approx(ts[:4].tolist())


def test_samplers_follow_the_schedule_they_are_given():
    custom = torch.tensor([1.0, 0.6, 0.25, 0.0])
    seen = []
    sample_pingpong(_oracle(torch.zeros(1, 1, 2), seen), draw_noise((1, 1, 2), 3, 0), custom)
    assert [s[1].item() for s in seen] == pytest.approx([1.0, 0.6, 0.25])


def test_audio_to_audio_start_mixes_init_latent():
    init = torch.randn(1, 2, 3)
    noise = draw_noise((1, 2, 3), 2, seed=1)
    first = []
    sample_pingpong(lambda x, t: first.append(x.clone()) or torch.zeros_like(x), noise, logsnr_schedule(2, 0.6),
                    init_latent=init)
    torch.testing.assert_close(first[0], 0.4 * init + 0.6 * noise.initial)


def test_euler_integrates_constant_velocity_exactly_on_the_logsnr_grid():
    noise = draw_noise((1, 2, 3), 7, 3)
    v = torch.randn(1, 2, 3)
    seen = []
    out = sample_euler(lambda x, t: seen.append(t.item()) or v, noise, logsnr_schedule(7))
    torch.testing.assert_close(out, noise.initial - v)  # x0 = x1 - v for a straight path
    assert seen == pytest.approx(reference_grid(7)[:-1], abs=2e-7)  # not an evenly spaced grid


def test_cfg_combines_as_guidance_formula():
    x, t = torch.zeros(1), torch.zeros(1)
    guided = with_cfg(lambda x, t: torch.tensor([3.0]), lambda x, t: torch.tensor([1.0]), 4.0)
    assert guided(x, t).item() == pytest.approx(1 + 4 * (3 - 1))


def test_noise_is_drawn_in_the_reference_order():
    """stable-audio-tools: torch.manual_seed(seed); the initial noise; the VAE posterior sample
    (audio-to-audio); then one fresh tensor per ping-pong step, all from one generator."""
    a = draw_noise((2, 3), 3, seed=42, posterior=True)
    torch.manual_seed(42)
    expected = [torch.randn(2, 3) for _ in range(5)]
    torch.testing.assert_close(a.initial, expected[0])
    torch.testing.assert_close(a.posterior, expected[1])
    for got, want in zip(a.steps, expected[2:], strict=True):
        torch.testing.assert_close(got, want)
    plain = draw_noise((2, 3), 3, seed=42)
    assert plain.posterior is None and torch.equal(plain.steps[0], expected[1])
    assert not torch.equal(draw_noise((2, 3), 3, seed=43).initial, a.initial)
