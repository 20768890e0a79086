"""Samplers against independent formulas."""

import math

import pytest
import torch

from arc_edge.sampling import (draw_noise, euler_schedule, noisy_latent, pingpong_schedule, sample_euler,
                               sample_pingpong, with_cfg, x0_from_velocity)


def test_pingpong_8_step_schedule_matches_reference():
    expected = [1, 0.99331, 0.98201, 0.95257, 0.88080, 0.73106, 0.5, 0.26894, 0]
    assert pingpong_schedule(8).tolist() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 4, 8, 50])
def test_pingpong_schedule_is_sigmoid_of_linear_logsnr(steps):
    t = pingpong_schedule(steps)
    assert t[0] == 1 and t[-1] == 0 and len(t) == steps + 1
    for i in range(1, steps):
        logsnr = -6 + 8 * i / steps
        assert t[i].item() == pytest.approx(1 / (1 + math.exp(logsnr)), abs=1e-6)


def test_audio_to_audio_schedule_starts_at_sigma_max():
    s = 0.7
    t = pingpong_schedule(4, sigma_max=s)
    assert t[0].item() == pytest.approx(s)
    start = math.log((1 - s) / s)
    for i in range(1, 4):
        logsnr = start + (2 - start) * i / 4
        assert t[i].item() == pytest.approx(1 / (1 + math.exp(logsnr)), abs=1e-6)


def test_x0_and_v_algebra_roundtrip():
    torch.manual_seed(0)
    x0, eps = torch.randn(3, 4), torch.randn(3, 4)
    t = 0.37
    x_t = noisy_latent(x0, eps, t)
    torch.testing.assert_close(x_t, (1 - t) * x0 + t * eps)
    torch.testing.assert_close(x0_from_velocity(x_t, t, eps - x0), x0)


def test_pingpong_with_oracle_velocity_recovers_data_and_follows_the_rule():
    torch.manual_seed(0)
    target = torch.randn(1, 2, 3)
    noises = draw_noise((1, 2, 3), 4, seed=5)
    seen = []

    def oracle(x, t):  # the exact velocity towards ``target`` for the current x
        seen.append((x.clone(), t.clone()))
        eps = (x - (1 - t) * target) / t
        return eps - target

    out = sample_pingpong(oracle, noises, 4)
    torch.testing.assert_close(out, target, rtol=1e-4, atol=1e-4)
    ts = pingpong_schedule(4)
    torch.testing.assert_close(seen[0][0], noises[0])
    # second model input = target re-noised with the step's fresh noise at t_1
    torch.testing.assert_close(seen[1][0], (1 - ts[1]) * target + ts[1] * noises[1], rtol=1e-4, atol=1e-4)
    assert [s[1].item() for s in seen] == pytest.approx(ts[:4].tolist())


def test_audio_to_audio_start_mixes_init_latent():
    init = torch.randn(1, 2, 3)
    noises = draw_noise((1, 2, 3), 2, seed=1)
    first = []
    sample_pingpong(lambda x, t: first.append(x.clone()) or torch.zeros_like(x), noises, 2, init_latent=init,
                    sigma_max=0.6)
    torch.testing.assert_close(first[0], 0.4 * init + 0.6 * noises[0])


def test_euler_integrates_constant_velocity_exactly():
    noise = torch.randn(1, 2, 3)
    v = torch.randn(1, 2, 3)
    out = sample_euler(lambda x, t: v, noise, steps=7)
    torch.testing.assert_close(out, noise - v)  # x0 = x1 - v for a straight path
    assert euler_schedule(4).tolist() == pytest.approx([1, 0.75, 0.5, 0.25, 0])


def test_cfg_combines_as_guidance_formula():
    x, t = torch.zeros(1), torch.zeros(1)
    guided = with_cfg(lambda x, t: torch.tensor([3.0]), lambda x, t: torch.tensor([1.0]), 4.0)
    assert guided(x, t).item() == pytest.approx(1 + 4 * (3 - 1))


def test_noise_is_seeded_and_deterministic():
    a = draw_noise((2, 3), 3, seed=42)
    b = draw_noise((2, 3), 3, seed=42)
    c = draw_noise((2, 3), 3, seed=43)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], a[1])
