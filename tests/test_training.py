"""Training: losses (hand-computed), derangement, discriminator build, stages learn, DDP, resume."""

import copy
import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from weight_norm import effective_weight

from arc_edge.checkpoint import NO_RECORD, lineage_of, load_model_dir, random_pipeline, trained_record
from arc_edge.data.datasets import LatentDataset, ProceduralDataset
from arc_edge.data.signal_health import health
from arc_edge.errors import ConfigError, InputError
from arc_edge.models.oobleck import WNConvTranspose1d
from arc_edge.training import losses
from arc_edge.training.alignment import TextLatentAlignment
from arc_edge.training.audio_discriminator import MultiResolutionDiscriminator
from arc_edge.training.batches import crop_start, draw_batch, drop_words, step_generator, tokenize_batch
from arc_edge.training.discriminator import ARCDiscriminator
from arc_edge.training.distributed import DistEnv
from arc_edge.training.latent_cache import encode_dataset
from arc_edge.training.loop import load_checkpoint
from arc_edge.training.recipe import ARCOptions, RFOptions, VAEOptions, load_recipe
from arc_edge.training.stages import ARCStage, RFStage, VAEStage, check_comb_free_upsamplers, initialise_vae_weights

CPU = DistEnv(0, 1, torch.device("cpu"))


def sp(x):  # softplus written out
    return math.log1p(math.exp(x))


def test_relativistic_losses_hand_computed_with_signs():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])
    # D wants real above fake: loss = mean softplus(-(real - fake))
    assert losses.relativistic_d_loss(real, fake).item() == pytest.approx((sp(-1.5) + sp(2.0)) / 2, rel=1e-6)
    # G wants fake above real: loss = mean softplus(real - fake)
    assert losses.relativistic_g_loss(real, fake).item() == pytest.approx((sp(1.5) + sp(-2.0)) / 2, rel=1e-6)
    # f(x) = -log(1 + e^-x): D loss is -E f(real - fake)
    def f(x):
        return -math.log1p(math.exp(-x))
    assert losses.relativistic_d_loss(real, fake).item() == pytest.approx(-(f(1.5) + f(-2.0)) / 2, rel=1e-6)
    # raising the real score lowers D's loss and raises G's
    assert losses.relativistic_d_loss(real + 1, fake) < losses.relativistic_d_loss(real, fake)
    assert losses.relativistic_g_loss(real + 1, fake) > losses.relativistic_g_loss(real, fake)


def test_contrastive_and_lsgan_losses():
    own, other = torch.tensor([3.0]), torch.tensor([1.0])
    assert losses.contrastive_d_loss(own, other).item() == pytest.approx(sp(-2.0), rel=1e-6)
    assert losses.contrastive_d_loss(other, own).item() == pytest.approx(sp(2.0), rel=1e-6)
    assert losses.lsgan_d_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == 0.0
    assert losses.lsgan_g_loss(torch.tensor([0.3]), torch.tensor([0.5])).item() == pytest.approx(0.25)


def test_mid_side_term_sees_a_collapsed_stereo_image():
    t = torch.arange(4096) / 44100
    tone = torch.sin(2 * math.pi * 440 * t)
    left = torch.stack((tone, 0.15 * tone))[None]
    mono = torch.stack((0.575 * tone, 0.575 * tone))[None]  # same mid (L + R) as `left`, no side
    # side of the prediction is 0, so its spectral convergence is exactly 1; the mid matches
    sc_side = losses.spectral_convergence(mono[:, :1] - mono[:, 1:], left[:, :1] - left[:, 1:])
    assert sc_side.item() == pytest.approx(1.0, abs=1e-6)
    extra = losses.stereo_stft_loss(mono, left, mid_side_weight=2.0) - losses.multi_resolution_stft_loss(mono, left)
    expected = 2.0 * losses.spectral_convergence(losses.mid_side(mono), losses.mid_side(left))
    assert extra.item() == pytest.approx(expected.item(), rel=1e-5) and extra.item() > 0.5
    assert losses.stereo_stft_loss(left, left).item() == pytest.approx(0.0, abs=1e-6)


def test_rf_loss_targets_velocity():
    x0, eps = torch.randn(2, 3), torch.randn(2, 3)
    assert losses.rf_loss(eps - x0, x0, eps).item() == 0.0
    assert losses.rf_loss(torch.zeros(2, 3), x0, eps).item() == pytest.approx(((eps - x0) ** 2).mean().item())


@pytest.mark.parametrize("n", [2, 3, 4, 7, 16])
def test_derangement_has_no_fixed_points(n):
    gen = torch.Generator().manual_seed(n)
    for _ in range(200):
        perm = losses.derangement(n, gen)
        assert sorted(perm.tolist()) == list(range(n))
        assert all(perm[i] != i for i in range(n))


def test_derangement_needs_two_items():
    with pytest.raises(ValueError):
        losses.derangement(1)


def test_discriminator_takes_first_75_percent_of_blocks(tiny_pipeline, tiny_cfg):
    dit = tiny_pipeline.model.model
    disc = ARCDiscriminator(dit)
    assert disc.num_blocks == 3 and len(disc.trunk.transformer.layers) == 3  # 75% of 4
    for a, b in zip(disc.trunk.transformer.layers, dit.transformer.layers[:3], strict=True):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    # its own copy: D's conditioning projections are separate tensors
    assert disc.trunk.to_cond_embed[0].weight.data_ptr() != dit.to_cond_embed[0].weight.data_ptr()
    x = torch.randn(5, tiny_cfg.latent_dim, tiny_cfg.latent_length)
    cross = torch.randn(5, tiny_cfg.cross_attn_tokens, tiny_cfg.cond_dim)
    logits = disc(x, torch.rand(5), cross, torch.randn(5, tiny_cfg.cond_dim))
    assert logits.shape == (5, tiny_cfg.latent_length // 16)  # 4 stride-2 convs: patch logits


def test_saos_discriminator_uses_12_of_16_blocks():
    from arc_edge.config import builtin_config
    from arc_edge.models.dit import DiffusionTransformer
    with torch.device("meta"):
        disc = ARCDiscriminator(DiffusionTransformer(builtin_config("saos").dit))
    assert disc.num_blocks == 12


@pytest.fixture(scope="module")
def latent_cache(tmp_path_factory, tiny_pipeline, tiny_cfg):
    out = tmp_path_factory.mktemp("cache") / "latents"
    encode_dataset(tiny_pipeline, ProceduralDataset(6, tiny_cfg.sample_size, tiny_cfg.sample_rate), out)
    return out


def test_latent_cache_round_trip(latent_cache, tiny_cfg):
    ds = LatentDataset(latent_cache)
    assert len(ds) == 6 and ds[0]["latent"].shape == (tiny_cfg.latent_dim, tiny_cfg.latent_length)
    assert ds.caption(2) == ProceduralDataset(6, tiny_cfg.sample_size, tiny_cfg.sample_rate).caption(2)


def test_caption_variants_are_cached_and_drawn_deterministically(tiny_cfg, tiny_pipeline, tmp_path):
    data = ProceduralDataset(4, tiny_cfg.sample_size, tiny_cfg.sample_rate, caption_variants=5)
    assert data.caption(1) == ProceduralDataset(4, tiny_cfg.sample_size, tiny_cfg.sample_rate).caption(1)
    assert len(set(data.captions(1))) > 1
    encode_dataset(tiny_pipeline, data, tmp_path / "cache")
    cache = LatentDataset(tmp_path / "cache")
    assert [cache.captions(i) for i in range(4)] == [data.captions(i) for i in range(4)]
    drawn = [draw_batch(cache, 4, step_generator(0, step, 0))["caption"] for step in range(20)]
    assert drawn == [draw_batch(cache, 4, step_generator(0, step, 0))["caption"] for step in range(20)]
    flat = {c for batch in drawn for c in batch}
    assert flat <= {c for i in range(4) for c in data.captions(i)} and len(flat) > 4  # not only the first


def test_end_crops_reach_the_clips_release():
    length, crop = 131072, 16384
    uniform = [crop_start(length, crop, step_generator(0, s, 0)) for s in range(400)]
    assert max(uniform) < length - crop and min(uniform) >= 0 and len(set(uniform)) > 390
    share = [crop_start(length, crop, step_generator(0, s, 0), 0.25) for s in range(400)]
    at_end = sum(s == length - crop for s in share)
    assert 60 < at_end < 140  # about a quarter; the rest stay uniform
    assert all(crop_start(length, crop, step_generator(1, s, 0), 1.0) == length - crop for s in range(50))
    assert crop_start(crop, crop, step_generator(0, 0, 0), 0.5) == 0
    # on the frame grid: every start a multiple of the hop, all of them reached; step 1 draws as before
    framed = [crop_start(length, crop, step_generator(0, s, 0), 0.25, 2048) for s in range(400)]
    assert all(s % 2048 == 0 for s in framed) and set(framed) == set(range(0, length - crop + 1, 2048))
    assert [crop_start(length, crop, step_generator(0, s, 0), 0.25, 1) for s in range(400)] == share


def test_a_cache_with_broken_caption_variants_is_refused(latent_cache, tmp_path):
    import json
    import shutil

    from arc_edge.errors import InputError

    bad = tmp_path / "bad"
    shutil.copytree(latent_cache, bad)
    index = json.loads((bad / "captions.json").read_text())
    index["variants"] = [["something else"]] * len(index["captions"])
    (bad / "captions.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="variants"):
        LatentDataset(bad)


def test_waveform_and_dc_terms_see_what_magnitude_spectra_miss():
    t = torch.arange(147 * 100) / 44100  # 100 whole periods of 300 Hz: the tone's own mean is zero
    tone = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None].repeat(1, 2, 1)
    flipped, offset = -tone, tone + 0.1
    # a phase flip leaves every STFT magnitude equal, and a DC offset barely moves the spectral loss
    assert losses.multi_resolution_stft_loss(flipped, tone).item() < 1e-4
    assert losses.waveform_loss(flipped, tone).item() > 0.1
    assert losses.dc_loss(offset, tone).item() == pytest.approx(0.1, abs=1e-4)
    assert losses.dc_loss(flipped, tone).item() < 1e-3
    # the pooled terms keep a DC offset at full weight where the raw L1 of a tone sees it diluted
    assert losses.waveform_loss(offset, tone).item() == pytest.approx(0.1, abs=1e-3)


def test_band_split_mse_asks_for_the_phase_of_low_partials_only():
    t = torch.arange(8820) / 44100  # 0.2 s: 440 Hz and 5000 Hz are whole numbers of cycles, so no leakage
    low, high = torch.sin(2 * math.pi * 440 * t), 0.5 * torch.sin(2 * math.pi * 5000 * t)
    target = (low + high)[None, None]
    assert torch.allclose(losses.lowpass(target, 44100, 1500.0), low[None, None], atol=1e-4)
    assert torch.allclose(losses.highpass(target, 44100, 1500.0), high[None, None], atol=1e-4)
    flipped_high = (low - high)[None, None]  # the harmonic's phase flipped
    assert losses.waveform_mse(flipped_high, target, 44100, 1500.0).item() < 1e-8
    assert losses.waveform_mse(flipped_high, target).item() == pytest.approx(0.5, rel=1e-3)  # full band: 4 * 0.125
    flipped_low = (-low + high)[None, None]
    assert losses.waveform_mse(flipped_low, target, 44100, 1500.0).item() == pytest.approx(2.0, rel=1e-3)


def test_whine_term_is_the_upsampler_tone_relative_to_the_clip_as_the_health_check_measures_it():
    t = torch.arange(16384) / 44100
    tone = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None].repeat(1, 2, 1)
    whine = 0.05 * torch.cos(2 * math.pi * 11025 * t)  # sr / 4: a multiple of sr / 8
    assert losses.whine_loss(tone + whine, tone).item() == pytest.approx(0.1, rel=1e-3)  # RMS 0.035 over 0.35
    # a partial off the sr / 8 grid, a DC offset and a phase flip are not whines
    near = 0.05 * torch.cos(2 * math.pi * 11000 * t)
    assert losses.whine_loss(tone + near, tone).item() < 5e-3  # 25 Hz off the grid: 9 beats over the crop
    assert losses.whine_loss(tone + 0.1, tone).item() < 1e-5
    assert losses.whine_loss(-tone, tone).item() < 2e-3
    # the reference's own tone on the grid is kept, not penalised
    assert losses.whine_loss(tone + whine, tone + whine).item() < 1e-5
    # the health check (an FFT of the mono mix against the local floor) reads the same level
    measured = health((tone + whine)[0].numpy(), 44100, hop=2048)["artefact_tone_db"]
    assert measured == pytest.approx(20 * math.log10(0.1), abs=0.3)


def test_whine_noise_factor_leaves_unmatched_noise_free_and_keeps_a_real_whine():
    t = torch.arange(16384) / 44100
    gen = torch.Generator().manual_seed(0)
    tone = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None].repeat(1, 2, 1)
    reference = tone + 0.3 * torch.randn(tone.shape, generator=gen)
    # noise rendered right in level but not sample for sample: what a crop's 2048 periods leave of it
    rendered = (tone + 0.3 * torch.randn(tone.shape, generator=gen)).requires_grad_()
    incoherent_only = math.sqrt(7 * 2 * 0.3 ** 2 / 16384 / (0.5 ** 2 / 2 + 0.3 ** 2))  # (p - 1) / n of its power
    assert losses.whine_loss(rendered, reference).item() == pytest.approx(incoherent_only, rel=0.2)
    loss = losses.whine_loss(rendered, reference, noise_factor=3.0)
    loss.backward()
    assert loss.item() < 1e-5 and rendered.grad.abs().max().item() < 1e-6
    # a whine at sr / 4, -20 dB under a clean tone, counts as without the factor
    whine = 0.05 * torch.cos(2 * math.pi * 11025 * t)
    assert losses.whine_loss(tone + whine, tone, noise_factor=3.0).item() == pytest.approx(0.1, rel=1e-3)


def test_buzz_term_counts_noise_that_repeats_but_not_noise_rendered_fresh_nor_a_matched_tone():
    gen = torch.Generator().manual_seed(0)
    reference = 0.3 * torch.randn(1, 2, 16384, generator=gen)
    buzzing = (0.3 * torch.randn(1, 2, 512, generator=gen)).repeat(1, 1, 32)  # the same 512 samples over and over
    fresh = 0.3 * torch.randn(1, 2, 16384, generator=gen)  # right in level, not sample for sample
    assert losses.buzz_loss(buzzing, reference, 512).item() > 0.5  # about the whole clip's RMS
    assert losses.buzz_loss(fresh, reference, 512).item() < 1e-3
    t = torch.arange(16384) / 44100
    tone = (0.5 * torch.sin(2 * math.pi * 44100 / 256 * t))[None, None].repeat(1, 2, 1)  # repeats every 256 samples
    assert losses.buzz_loss(tone, tone, 512).item() < 1e-5
    assert losses.buzz_loss(tone + buzzing, tone, 512).item() > 0.3


def test_spurious_tone_term_counts_steady_tones_a_reconstruction_adds_to_a_repeating_reference():
    hop, sr = 2048, 44100
    t = torch.arange(8 * hop) / sr

    def grid_tone(step: int, amplitude: float) -> torch.Tensor:
        return (amplitude * torch.sin(2 * math.pi * step * sr / hop * t))[None, None].repeat(1, 2, 1)

    reference = grid_tone(37, 0.3)
    levels = [losses.spurious_tone_loss(reference + grid_tone(32, 0.3 * 10 ** (db / 20)), reference, hop).item()
              for db in (-20, -30, -40, -50)]
    assert losses.spurious_tone_loss(reference, reference, hop).item() == 0.0
    assert levels == sorted(levels, reverse=True) and levels[-1] < 0.1 * levels[0]  # under the floor: ~free
    # one bin of 1025 at 25 dB over a floor 45 dB under the reference: ln(10 ** 2.5 + 1) / 1025
    assert levels[0] == pytest.approx(math.log(10 ** 2.5 + 1) / 1025, rel=0.02)
    # one-sided: a partial the reconstruction lacks is the other terms' business (the share it leaves to the
    # fundamental costs ln(1 / 0.9) in one bin)
    lacking = losses.spurious_tone_loss(reference + grid_tone(74, 0.01), reference + grid_tone(74, 0.1), hop).item()
    assert lacking == pytest.approx(math.log(1 / 0.9) / 1025, rel=0.05) and lacking < 0.03 * levels[0]
    # each spectrum against its own clip's energy: rendering the whole clip quieter does not hide a tone
    combed = reference + grid_tone(32, 0.03)
    assert losses.spurious_tone_loss(0.05 * combed, reference, hop).item() == pytest.approx(levels[0], rel=1e-4)
    # noise does not repeat every hop: it is not scored, whatever is added to it
    gen = torch.Generator().manual_seed(0)
    noise = 0.3 * torch.randn(1, 2, 8 * hop, generator=gen)
    assert losses.spurious_tone_loss(noise + grid_tone(32, 0.1), noise, hop).item() == 0.0
    # its gradient points at the added tone: a step against it makes the tone fainter
    added = torch.tensor(0.03, requires_grad=True)
    losses.spurious_tone_loss(reference + added * grid_tone(32, 1.0), reference, hop).backward()
    assert added.grad.item() > 0


def test_inharmonic_tone_term_holds_a_clip_without_reference_to_its_own_harmonics():
    hop, sr = 2048, 44100
    t = torch.arange(8 * hop) / sr

    def grid_saw(step: int, partials: int) -> torch.Tensor:
        saw = sum(torch.sin(2 * math.pi * n * step * sr / hop * t) / n for n in range(1, partials + 1))
        return (0.3 * saw)[None, None].repeat(1, 2, 1)

    clean = grid_saw(9, 20)
    assert losses.inharmonic_tone_loss(clean, hop).item() < 1e-8  # every steady tone is a harmonic of 9 steps
    comb = 0.3 * 10 ** (-25 / 20) * torch.sin(2 * math.pi * 14 * sr / hop * t)[None, None].repeat(1, 2, 1)
    combed = losses.inharmonic_tone_loss(clean + comb, hop).item()
    energy = (clean ** 2).mean().item()
    assert combed == pytest.approx(math.log(0.09 * 10 ** -2.5 / 2 / energy / 10 ** -4.5 + 1) / 1025, rel=0.02)
    noise = 0.3 * torch.randn(1, 2, 8 * hop, generator=torch.Generator().manual_seed(1))
    assert losses.inharmonic_tone_loss(noise + comb, hop).item() == 0.0  # noise does not repeat: not scored


def test_spurious_tone_term_needs_four_frames_per_crop(tiny_model_dir, tmp_path):
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--set", "spurious_tone_weight=1", "--set", "crop=4096",
             "--out", tmp_path / "run")
    assert r.returncode == 2 and "--set crop=" in r.stderr and not (tmp_path / "run").exists()


def _phase_sum_spread(conv: WNConvTranspose1d) -> float:
    """How far a transposed conv's s output phases are from summing alike (0: comb-free)."""
    s = conv.stride[0]
    w = effective_weight(conv)
    sums = w[..., :s] + w[..., s:]
    return float((sums - sums.mean(-1, keepdim=True)).abs().max() / sums.abs().max())


def test_comb_free_upsamplers_are_trained_and_stay_comb_free_and_the_first_stays_free(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    upsamplers = [m for m in pipe.pretransform.model.decoder.modules() if isinstance(m, WNConvTranspose1d)]
    stage = VAEStage(pipe, VAEOptions(batch_size=2, crop=8192, comb_free_upsamplers=2), CPU,
                     ProceduralDataset(2, 8192, tiny_cfg.sample_rate), tmp_path, fresh=True)
    projected = [conv.weight_v.detach().clone() for conv in upsamplers[-2:]]
    stage.step(step_generator(0, 0, 0), 0)
    assert all(_phase_sum_spread(conv) < 1e-5 for conv in upsamplers[-2:])
    assert all(_phase_sum_spread(conv) > 1e-2 for conv in upsamplers[:-2])
    assert all(not torch.equal(conv.weight_v, w) for conv, w in zip(upsamplers[-2:], projected, strict=True))  # trained


def test_comb_free_upsamplers_the_decoder_cannot_take_are_refused_before_anything_is_written(
        tiny_model_dir, tiny_cfg, tmp_path):
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--set", "comb_free_upsamplers=5", "--out", tmp_path / "run")
    assert r.returncode == 2 and "set it to 4 or less" in r.stderr and not (tmp_path / "run").exists()
    check_comb_free_upsamplers(4, tiny_cfg.decoder)  # the last four of five: accepted
    nearest = dataclasses.replace(tiny_cfg.decoder, use_nearest_upsample=True)
    with pytest.raises(ConfigError, match="comb-free already"):
        check_comb_free_upsamplers(1, nearest)
    check_comb_free_upsamplers(0, nearest)


def test_buzz_period_longer_than_half_the_crop_is_refused_before_anything_is_written(tiny_model_dir, tmp_path):
    r = _cli("train", "decoder", "--init", tiny_model_dir, "--set", "buzz_weight=1", "--set", "buzz_period=8192",
             "--set", "crop=16384", "--out", tmp_path / "run")
    assert r.returncode == 2 and "--set buzz_period=8191 or less" in r.stderr and not (tmp_path / "run").exists()


def test_tolerances_make_the_dc_and_whine_terms_constraints_that_stop_pulling_once_met():
    t = torch.arange(147 * 100) / 44100  # whole periods of 300 Hz: the tone's own mean is zero
    tone = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None].repeat(1, 2, 1)
    faint = (tone + 0.002).requires_grad_()  # under a 0.003 tolerance: met, no pull
    loss = losses.dc_loss(faint, tone, tolerance=0.003)
    loss.backward()
    assert loss.item() == 0 and faint.grad.abs().max().item() == 0
    assert losses.dc_loss(faint, tone).item() == pytest.approx(0.002, abs=1e-5)  # without one: all of it
    assert losses.dc_loss(tone + 0.01, tone, tolerance=0.003).item() == pytest.approx(0.007, abs=1e-5)
    # a whine's RMS ratio counts only past its tolerance: -60 dB is free, -20 dB counts 0.1 - 0.005
    quiet = (tone + 0.0005 * torch.cos(2 * math.pi * 11025 * t)).requires_grad_()  # ratio 0.001
    loss = losses.whine_loss(quiet, tone, tolerance=0.005)
    loss.backward()
    assert loss.item() == 0 and quiet.grad.abs().max().item() == 0
    assert losses.whine_loss(quiet, tone).item() == pytest.approx(0.001, rel=1e-2)
    loud = tone + 0.05 * torch.cos(2 * math.pi * 11025 * t)
    assert losses.whine_loss(loud, tone, tolerance=0.005).item() == pytest.approx(0.095, rel=1e-3)


def test_whine_exponent_two_pulls_in_proportion_to_the_whine_and_one_pulls_alike_on_any_whine():
    t = torch.arange(147 * 100) / 44100
    tone = 0.5 * torch.sin(2 * math.pi * 300 * t)[None, None].repeat(1, 2, 1)
    whine = torch.cos(2 * math.pi * 11025 * t)

    def pull(amplitude: float, exponent: float) -> tuple[float, float]:
        rendered = (tone + amplitude * whine).requires_grad_()
        loss = losses.whine_loss(rendered, tone, exponent=exponent)
        loss.backward()
        return loss.item(), rendered.grad.norm().item()

    # ratios 0.1 (-20 dB) and 0.001 (-60 dB)
    (loud_rms, loud_pull), (faint_rms, faint_pull) = pull(0.05, 1.0), pull(0.0005, 1.0)
    assert (loud_rms, faint_rms) == (pytest.approx(0.1, rel=1e-3), pytest.approx(0.001, rel=1e-2))
    assert loud_pull == pytest.approx(faint_pull, rel=0.05)  # a norm: the same pull at any level
    (loud_power, loud_pull), (faint_power, faint_pull) = pull(0.05, 2.0), pull(0.0005, 2.0)
    assert (loud_power, faint_power) == (pytest.approx(0.01, rel=2e-3), pytest.approx(1e-6, rel=2e-2))
    assert loud_pull / faint_pull == pytest.approx(100, rel=0.05)


def test_log_floor_bounds_the_log_term_of_empty_bins():
    t = torch.arange(4096) / 44100
    tone = torch.sin(2 * math.pi * 440 * t)[None, None]
    hiss = tone + 1e-3 * torch.randn(tone.shape, generator=torch.Generator().manual_seed(0))
    # a faint noise floor in the tone's empty bins costs a lot under a 1e-5 floor, almost nothing
    # under a 1e-1 floor (the convergence term is the same in both)
    low = losses.multi_resolution_stft_loss(hiss, tone, log_floor=1e-5).item()
    high = losses.multi_resolution_stft_loss(hiss, tone, log_floor=1e-1).item()
    convergence = losses.spectral_convergence(hiss, tone).item()
    assert low - convergence > 1.0 and high - convergence < 0.05


def test_envelope_loss_measures_level_not_phase():
    t = torch.arange(8192) / 44100
    f = 44100 * 10 / 1024  # whole periods per 1024-sample frame: frame RMS is the same at any phase
    tone = torch.sin(2 * math.pi * f * t)[None, None]
    shifted = torch.sin(2 * math.pi * f * t + 1.0)[None, None]
    assert losses.envelope_loss(0.5 * tone, tone).item() == pytest.approx(math.log(2), rel=1e-4)
    assert losses.envelope_loss(shifted, tone).item() < 1e-3


def test_stereo_balance_loss_sees_pan_not_level():
    t = torch.arange(8192) / 44100
    tone = torch.sin(2 * math.pi * (44100 * 10 / 1024) * t)
    left = torch.stack([tone, 0.25 * tone])[None]  # left/right level ratio 4
    centred = torch.stack([tone, tone])[None]
    assert losses.stereo_balance_loss(centred, left).item() == pytest.approx(math.log(4), rel=1e-4)
    assert losses.stereo_balance_loss(0.1 * left, left).item() < 0.01  # quieter, same image (up to the power floor)
    assert losses.envelope_loss(0.1 * left, left).item() == pytest.approx(math.log(10), rel=1e-3)


def test_log_mel_loss_is_smaller_for_a_nearby_partial():
    from arc_edge.melscale import mel_filterbank

    fb = mel_filterbank(44100, 2048, 64, 40.0, 22050.0)
    t = torch.arange(16384) / 44100

    def tone(f):
        return torch.sin(2 * math.pi * f * t)[None, None]
    near, far = losses.log_mel_loss(tone(470), tone(440), fb), losses.log_mel_loss(tone(1500), tone(440), fb)
    assert losses.log_mel_loss(tone(440), tone(440), fb).item() == 0.0
    assert 0 < near.item() < 0.5 * far.item()


def test_mel_floor_leaves_faint_noise_between_partials_free_and_keeps_a_missing_partial():
    from arc_edge.melscale import mel_filterbank

    fb = mel_filterbank(44100, 2048, 64, 40.0, 22050.0)
    t = torch.arange(16384) / 44100

    def tone(third):  # a 900 Hz tone with its 3rd harmonic at ``third`` of the fundamental
        return (0.5 * torch.sin(2 * math.pi * 900 * t) + 0.5 * third * torch.sin(2 * math.pi * 2700 * t))[None, None]
    hiss = 1e-4 * torch.randn(tone(0).shape, generator=torch.Generator().manual_seed(0))
    # under the additive 1e-5 the hiss in the empty bands is most of the loss; under a floor of 1 (an STFT
    # magnitude ~0.002 in amplitude at 2048 points) it is nothing
    assert losses.log_mel_loss(tone(0.33) + hiss, tone(0.33), fb).item() > 1.0
    assert losses.log_mel_loss(tone(0.33) + hiss, tone(0.33), fb, floor=1.0).item() < 1e-3
    # a 3rd harmonic 14 dB short still counts under the floor: log(5) in the bands that hold it
    short = losses.log_mel_loss(tone(0.066), tone(0.33), fb, floor=1.0).item()
    assert 0.02 < short < math.log(5)


def test_spectral_transport_loss_grows_with_the_distance_in_octaves_and_ignores_phase():
    t = torch.arange(32768) / 44100

    def tone(hz: float, phase: float = 0.0) -> torch.Tensor:
        return torch.sin(2 * math.pi * hz * t + phase)[None, None]

    target = tone(400.0)
    ladder = [losses.spectral_transport_loss(tone(hz, 1.0), target).item() for hz in (400, 566, 800, 1600)]
    assert ladder == sorted(ladder) and ladder[0] < 0.01
    # an octave down costs what an octave up costs: the axis is log-frequency, not Hz
    assert losses.spectral_transport_loss(tone(200.0, 1.0), target).item() == pytest.approx(ladder[2], rel=0.05)
    # a tone four octaves off still costs less than silence, so a decoder is not pulled to silence
    assert losses.spectral_transport_loss(tone(25.0), target) < losses.spectral_transport_loss(
        1e-4 * torch.randn_like(target), target)


def test_vae_stage_trains_on_the_transport_and_whine_terms_when_weighted(tiny_cfg, tmp_path):
    data = ProceduralDataset(2, 8192, tiny_cfg.sample_rate)

    def first_step(**options):
        opts = VAEOptions(batch_size=2, crop=8192, transport_weight=5.0, whine_weight=3.0, **options)
        return VAEStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True).step(step_generator(0, 0, 0), 0)

    logged = first_step()
    assert logged["transport"] > 0 and logged["whine"] > 0
    expected = logged["stft"] + 1e-4 * logged["kl"] + 5 * logged["transport"] + 3 * logged["whine"]
    assert logged["loss"] == pytest.approx(expected, rel=1e-5)
    buzzed = first_step(buzz_weight=7.0, buzz_period=256)
    assert buzzed["buzz"] > 1e-5 and buzzed["loss"] == pytest.approx(expected + 7 * buzzed["buzz"], rel=1e-5)
    combed = first_step(spurious_tone_weight=9.0)
    assert combed["spurious_tone"] > 0 and combed["loss"] == pytest.approx(expected + 9 * combed["spurious_tone"], rel=1e-5)
    # the factor reaches the term (and nothing else): it takes the incoherent part of the residual out
    floored = first_step(whine_noise_factor=100.0)
    assert floored["whine"] < logged["whine"] - 0.01  # unwired, the two runs would log the same whine
    assert floored["loss"] == pytest.approx(logged["loss"] - 3 * (logged["whine"] - floored["whine"]), rel=1e-5)
    tolerance = 0.5 * logged["whine"]  # each clip's ratio counts less by at most this much
    tolerant = first_step(whine_tolerance=tolerance)
    assert logged["whine"] - tolerance - 1e-6 <= tolerant["whine"] < logged["whine"] - 1e-6
    # the mel floor reaches the mel term: a new decoder's output is faint noise, mostly under a floor of 1
    mel, mel_floored = first_step(mel_weight=1.0), first_step(mel_weight=1.0, mel_log_floor=1.0)
    assert mel_floored["mel"] < 0.5 * mel["mel"]
    assert mel_floored["loss"] == pytest.approx(mel["loss"] - (mel["mel"] - mel_floored["mel"]), rel=1e-5)


def test_hinge_and_feature_matching_losses_hand_computed():
    d_real, d_fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    assert losses.hinge_d_loss(d_real, d_fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2)
    assert losses.hinge_g_loss(d_fake).item() == pytest.approx((3 + 1) / 2)
    real, fake = [torch.full((2, 3), 2.0), torch.full((4,), -10.0)], [torch.full((2, 3), 3.0), torch.full((4,), -10.0)]
    # each layer relative to the reference's mean |activation|: |3 - 2| / 2 and 0
    assert losses.feature_matching_loss(real, fake).item() == pytest.approx(0.25)
    assert losses.feature_matching_loss(real, real).item() == 0


def test_audio_discriminator_sees_the_phase_that_the_magnitude_terms_miss():
    t = torch.arange(16384) / 44100
    hz = 44100 / 512 * 10  # on a bin centre of every FFT size: sine and cosine have the same magnitudes
    sine, cosine = (f(2 * math.pi * hz * t).expand(1, 2, -1) for f in (torch.sin, torch.cos))
    for n_fft in (2048, 1024, 512):  # interior frames (the padded edge frames differ)
        mags = [torch.stft(x[0, 0], n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
                [:, 4:-4] for x in (sine, cosine)]
        assert ((mags[0] - mags[1]).norm() / mags[0].norm()).item() < 1e-3
    torch.manual_seed(0)
    disc = MultiResolutionDiscriminator(2)
    with torch.no_grad():
        for (_, a), (_, b) in zip(disc(sine), disc(cosine), strict=True):
            assert ((a[0] - b[0]).abs().mean() / a[0].abs().mean()).item() > 0.2


def test_vae_stage_trains_against_the_audio_discriminator_and_resumes_it(tiny_cfg, tmp_path):
    data = ProceduralDataset(2, 8192, tiny_cfg.sample_rate)
    opts = VAEOptions(batch_size=2, crop=8192, adversarial_weight=0.5, feature_matching_weight=2.0)
    stage = VAEStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True)
    before = {k: v.clone() for k, v in stage.discriminator.state_dict().items()}
    logged = stage.step(step_generator(0, 0, 0), 0)
    expected = logged["stft"] + 1e-4 * logged["kl"] + 0.5 * logged["adversarial"] + 2 * logged["feature_matching"]
    assert logged["loss"] == pytest.approx(expected, rel=1e-5)
    assert logged["feature_matching"] > 0 and logged["d_loss"] > 0
    assert any(not torch.equal(before[k], v) for k, v in stage.discriminator.state_dict().items())
    again = VAEStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True)
    again.load_state(stage.state())
    assert all(torch.equal(v, again.discriminator.state_dict()[k]) for k, v in stage.discriminator.state_dict().items())
    plain = VAEStage(_fresh(tiny_cfg), VAEOptions(batch_size=2, crop=8192), CPU, data, tmp_path, fresh=True)
    with pytest.raises(ConfigError, match="adversary"):
        plain.load_state(stage.state())


def test_signal_preserving_init_starts_the_vae_with_a_narrow_posterior(tiny_cfg):
    pipe = _fresh(tiny_cfg)
    initialise_vae_weights(pipe, VAEOptions(init="signal_preserving", initial_scale_bias=-4.0))
    bias = pipe.pretransform.model.encoder.layers[-1].bias
    half = bias.shape[0] // 2
    assert torch.all(bias[half:] == -4.0) and not torch.all(bias[:half] == -4.0)


def test_train_vae_with_init_trains_the_given_weights_not_a_reinitialised_vae(tmp_path, tiny_model_dir):
    """The default recipe's init scheme is for a new VAE; --init DIR (e.g. official weights) must
    start from DIR's VAE. With a vanishing learning rate the trained VAE is DIR's, to float precision."""
    r = _cli("train", "vae", "--init", tiny_model_dir, "--out", tmp_path / "ft", "--steps", "1", "--batch-size", "1",
             "--set", "crop=8192", "--set", "lr=1e-12", "--set", "dataset_size=2")
    assert r.returncode == 0, r.stderr
    given = load_model_dir(Path(tiny_model_dir)).pretransform.state_dict()
    trained = load_model_dir(tmp_path / "ft" / "model").pretransform.state_dict()
    assert given.keys() == trained.keys()
    for key, value in given.items():
        assert torch.allclose(trained[key], value, atol=1e-6), key


def _fresh(tiny_cfg):
    return random_pipeline(tiny_cfg, seed=0).train()


def test_steady_tone_share_draws_steady_unfaded_sines_of_every_pitch_and_pan_and_keeps_the_old_data_at_zero():
    tones = ProceduralDataset(90, 1024, 44100, steady_tone_share=1.0)
    specs = [tones.example(i)[0] for i in range(90)]
    assert {(s.waveform, s.pulse, s.fade) for s in specs} == {("sine", "steady", "none")}
    assert {s.pan for s in specs} == {"left", "center", "right"} and {s.pitch for s in specs} == {"low", "mid", "high"}
    mixed = [ProceduralDataset(400, 1024, 44100, steady_tone_share=0.5).example(i)[0] for i in range(400)]
    plain = [ProceduralDataset(400, 1024, 44100).example(i)[0] for i in range(400)]
    assert 0.45 < _steady_sine_share(mixed) < 0.6 and _steady_sine_share(plain) < 0.1
    # share 0 draws nothing extra: recipes without tones train on exactly the examples they did before
    assert ProceduralDataset(5, 1024, 44100, seed=3, steady_tone_share=0.0).captions(4) == \
        ProceduralDataset(5, 1024, 44100, seed=3).captions(4)


def test_irrelevant_words_go_into_the_asked_share_of_captions_and_leave_the_sounds_and_captions_in_order(
        inserted_words):
    from arc_edge.data.procedural import _IRRELEVANT_WORDS, DOMAIN_WORDS

    plain = ProceduralDataset(200, 1024, 44100, seed=2, caption_variants=4)
    mixed = ProceduralDataset(200, 1024, 44100, seed=2, caption_variants=4, irrelevant_word_share=0.5)
    changed = 0
    for i in range(200):
        (spec, before), (mixed_spec, after) = plain.example(i), mixed.example(i)
        assert mixed_spec == spec  # the same sound: only its captions gain words
        for old, new in zip(before, after, strict=True):
            if old == new:
                continue
            changed += 1
            extra = inserted_words(old, new)
            assert 1 <= len(extra) <= 3 and all(x.lower() in _IRRELEVANT_WORDS for x in extra), (old, new)
    assert 300 < changed < 500  # half of the 800 captions
    # no word of the list names a sound or an attribute, so none can change what a caption asks for
    assert not set(_IRRELEVANT_WORDS) & DOMAIN_WORDS
    with pytest.raises(ValueError, match="irrelevant_word_share"):
        ProceduralDataset(5, 1024, 44100, irrelevant_word_share=1.5)


def test_builtin_data_name_beside_a_folder_of_that_name_says_which_is_used(tiny_cfg, tmp_path, monkeypatch, capsys):
    from arc_edge.commands.train import make_dataset
    from arc_edge.data.datasets import ProceduralDataset

    monkeypatch.chdir(tmp_path)
    make_dataset("procedural-grid", tiny_cfg, 4, 0)
    assert "note:" not in capsys.readouterr().out
    (tmp_path / "procedural-grid").mkdir()  # e.g. a latent cache written with --out procedural-grid
    assert isinstance(make_dataset("procedural-grid", tiny_cfg, 4, 0), ProceduralDataset)
    assert "pass ./procedural-grid" in capsys.readouterr().out
    monkeypatch.setenv("RANK", "1")  # under torchrun only rank 0 says it
    make_dataset("procedural-grid", tiny_cfg, 4, 0)
    assert "note:" not in capsys.readouterr().out


def _starts_at_phase_zero(saw: np.ndarray) -> bool:
    """A centred saw of about 13 grid steps (sample 39 lies a quarter period in)."""
    return bool(np.allclose(saw[:, 0], 0.0, atol=0.01) and np.allclose(saw[:, 39], -0.196, atol=0.01))


def test_procedural_grid_data_plays_every_tone_frame_locked(tiny_cfg):
    from arc_edge.commands.train import make_dataset
    from arc_edge.data.procedural import PITCH_RANGES, SoundSpec, render

    hop, sr = tiny_cfg.downsampling_ratio, tiny_cfg.sample_rate
    grid, plain = (make_dataset(name, tiny_cfg, 200, 0, caption_variants=2) for name in ("procedural-grid", "procedural"))
    for i in range(200):
        locked, drawn = grid.example(i)[0], plain.example(i)[0]
        assert locked.attributes() == drawn.attributes()  # the same sounds; only the frequency moves
        k = locked.frequency * hop / sr
        assert k == round(k) and round(k) % 4 != 0
        lo, hi = PITCH_RANGES[locked.pitch]
        assert lo <= locked.frequency <= hi and abs(math.log(locked.frequency / drawn.frequency)) < 0.3  # k=4 skipped
    # a steady, unfaded tone on the grid repeats exactly once per latent frame (its jumps on the same samples);
    # off the grid it does not; frame-locked, it starts at phase 0 (a band-limited saw mid-jump, at 0, and a
    # quarter period on at -0.5 of its swing: -0.5 x 0.7 x 0.8 x 0.7)
    for k, repeats in ((13, True), (13.3, False)):
        saw = SoundSpec("saw", "mid", "steady", "center", "none", k * sr / hop)
        audio = render(saw, 8 * hop / sr, sr, seed=5, frame_locked=True)  # frames 0-5 lie before the release
        assert all(np.array_equal(audio[:, :hop], audio[:, f * hop:(f + 1) * hop]) for f in range(1, 6)) == repeats
        assert _starts_at_phase_zero(audio) and np.abs(audio[:, :hop]).max() > 0.3
    assert not _starts_at_phase_zero(render(saw, 0.1, sr, 5))  # unlocked: the seed's phase
    # noise has no phase: the seed's noise either way
    noise = SoundSpec("noise", "mid", "steady", "center", "none", 13 * sr / hop)
    assert np.array_equal(render(noise, 0.1, sr, 5, frame_locked=True), render(noise, 0.1, sr, 5))
    assert grid[3]["audio"].shape == (2, tiny_cfg.sample_size)


def test_frame_locked_tones_on_a_grid_too_coarse_for_a_register_are_a_clear_error():
    import dataclasses
    from types import SimpleNamespace

    from arc_edge.config import builtin_config
    from arc_edge.errors import InputError
    from arc_edge.evaluation import evaluate

    coarse = 44100 / 256  # 172 Hz: no multiple lies in the low register (80-160 Hz)
    with pytest.raises(InputError, match=r"\(172.266 Hz\).*the low register has none; use the usual procedural data"):
        ProceduralDataset(4, 1024, 44100, frame_rate=coarse)
    runtime = SimpleNamespace(cfg=dataclasses.replace(builtin_config("tiny"), downsampling_ratio=256))
    with pytest.raises(InputError, match="the low register has none"):  # before anything is generated
        evaluate(runtime, [], 1, 8, "pingpong", None, frame_locked=True)
    ProceduralDataset(4, 1024, 44100, frame_rate=44100 / 2048)  # the tiny and SAOS hop: every register has steps


def _steady_sine_share(specs) -> float:
    return sum((s.waveform, s.pulse, s.fade) == ("sine", "steady", "none") for s in specs) / len(specs)


class _Untouchable(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        raise AssertionError("the warm-up steps must not draw from the training data")


def test_vae_tone_warmup_steps_draw_only_steady_tones_then_the_given_data(tiny_cfg, tmp_path):
    opts = VAEOptions(batch_size=1, crop=8192, tone_warmup_steps=2, stft_weight=0.0, mse_weight=1.0, dataset_size=3)
    stage = VAEStage(_fresh(tiny_cfg), opts, CPU, _Untouchable(), tmp_path, fresh=True)
    for step in range(2):
        logged = stage.step(step_generator(0, step, 0), step)
        assert "stft" not in logged and logged["mse"] > 0
    with pytest.raises(AssertionError, match="warm-up"):
        stage.step(step_generator(0, 2, 0), 2)


def test_vae_tone_warmup_plays_its_tones_on_the_datas_frame_grid(tiny_cfg, tmp_path):
    from arc_edge.commands.train import make_dataset

    hop, sr = tiny_cfg.downsampling_ratio, tiny_cfg.sample_rate
    opts = VAEOptions(tone_warmup_steps=2, dataset_size=40)
    for name, locked in (("procedural-grid", True), ("procedural", False)):
        stage = VAEStage(_fresh(tiny_cfg), opts, CPU, make_dataset(name, tiny_cfg, 4, 0), tmp_path, fresh=True)
        specs = [stage.warmup_tones.example(i)[0] for i in range(40)]
        assert _steady_sine_share(specs) == 1.0
        on_grid = [(s.frequency * hop / sr) == round(s.frequency * hop / sr) for s in specs]
        assert all(on_grid) if locked else not any(on_grid)
        audio = stage.warmup_tones[0]["audio"].numpy()  # frame-locked: every frame before the release repeats
        assert np.array_equal(audio[:, :hop], audio[:, hop:2 * hop]) == locked


def test_unit_latents_sets_the_pretransform_scale_so_the_datas_latents_have_unit_std(tiny_cfg, tmp_path):
    data = ProceduralDataset(12, 8192, tiny_cfg.sample_rate)
    pipe = _fresh(tiny_cfg)
    audio = torch.stack([data[i]["audio"] for i in range(12)])
    with torch.no_grad():
        before = pipe.posterior(audio)[0]
        reconstruction = pipe.decode(before)
    assert pipe.cfg.pretransform.scale == 1.0 and abs(before.std().item() - 1.0) > 0.1  # a fresh VAE's are not
    stage = VAEStage(pipe, VAEOptions(unit_latents=True), CPU, data, tmp_path, fresh=True)
    exported = stage.export_pipeline()
    with torch.no_grad():
        after = exported.posterior(audio)[0]
        assert after.std().item() == pytest.approx(1.0, rel=2e-3)
        # the scale divides after encoding and multiplies before decoding: the sound is the same
        assert torch.allclose(exported.decode(after), reconstruction, atol=1e-5)
    assert exported.cfg.raw["model"]["pretransform"]["scale"] == pytest.approx(before.std().item(), rel=2e-3)
    assert VAEStage(_fresh(tiny_cfg), VAEOptions(), CPU, data, tmp_path, fresh=True).export_pipeline().cfg \
        .pretransform.scale == 1.0


def test_rf_on_audio_encodes_in_the_latent_scale_of_the_cache_and_the_decoder(tiny_cfg):
    """Audio data is encoded on the fly; its latents must be divided by the pretransform scale as the
    latent cache's and generation's are (decode multiplies by it), or a VAE with scale != 1 trains a
    DiT on latents that decode to the wrong level."""
    from arc_edge.training.stages import _latents, with_latent_scale

    pipe = _fresh(tiny_cfg)
    pipe.cfg = with_latent_scale(pipe.cfg, 4.0)
    audio = torch.stack([ProceduralDataset(2, 8192, tiny_cfg.sample_rate)[i]["audio"] for i in range(2)])
    got = _latents({"audio": audio}, pipe, torch.Generator().manual_seed(3), torch.device("cpu"))
    with torch.no_grad():
        mean, std = pipe.posterior(audio)
    noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(got, mean + std * noise, atol=1e-6)
    assert torch.allclose(pipe.decode(mean), pipe.pretransform.model.decode(mean * 4.0), atol=1e-6)


def test_resume_continues_on_the_runs_own_data_and_refuses_other_data(tmp_path):
    run = tmp_path / "run"
    base = ("train", "vae", "--out", run, "--batch-size", "1", "--set", "crop=8192", "--set", "dataset_size=2")
    assert _cli(*base, "--steps", "1").returncode == 0
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav", "caption": "a tone"}\n')
    r = _cli(*base, "--steps", "2", "--resume", "--data", manifest)
    assert r.returncode == 2 and "was trained on --data procedural" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli("train", "arc", "--out", run, "--resume")  # another stage: named before anything else is checked
    assert r.returncode == 2 and "holds a 'vae' run, not 'arc'; resume it with 'train vae'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = _cli(*base, "--steps", "2", "--resume")  # no --data: the run's own
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "recipe.json").read_text())["data"] == "procedural"
    assert load_checkpoint(run)["step"] == 2
    # the run's model/ says which checkpoint it is (weights metadata), and `info` shows it
    info = _cli("info", "--model", run / "model", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["trained"] == {"stage": "vae", "step": "2"}


def test_resume_continues_on_the_runs_own_options_and_names_the_changed_ones(tmp_path):
    run = tmp_path / "run"
    base = ("train", "vae", "--out", run, "--batch-size", "1", "--set", "crop=8192", "--set", "dataset_size=2")
    assert _cli(*base, "--steps", "1", "--set", "kl_weight=0.5", "--set", "mse_weight=3").returncode == 0
    r = _cli("train", "vae", "--out", run, "--resume", "--steps", "2")  # no --set: the run's own options
    assert r.returncode == 0, r.stderr
    assert "changed options" not in r.stdout
    recorded = json.loads((run / "recipe.json").read_text())
    assert (recorded["kl_weight"], recorded["mse_weight"], recorded["crop"], recorded["steps"]) == (0.5, 3.0, 8192, 2)
    r = _cli("train", "vae", "--out", run, "--resume", "--steps", "3", "--set", "kl_weight=0.25")
    assert r.returncode == 0, r.stderr
    assert "changed options: kl_weight 0.5 -> 0.25" in r.stdout
    recorded = json.loads((run / "recipe.json").read_text())
    assert (recorded["kl_weight"], recorded["mse_weight"]) == (0.25, 3.0)
    # a recorded value no recipe could hold is refused in one line, and the checkpoint is untouched
    (run / "recipe.json").write_text(json.dumps({**recorded, "lr": -1.0}))
    r = _cli("train", "vae", "--out", run, "--resume", "--steps", "4")
    assert r.returncode == 2 and "recipe.json" in r.stderr and "lr" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # a broken record would silently swap in the recipe's options and another --data: refused too
    for broken in ("", "{not json", "[1, 2]", "\xff\xfe"):
        (run / "recipe.json").write_bytes(broken.encode("latin-1"))
        r = _cli("train", "vae", "--out", run, "--resume", "--steps", "4")
        assert r.returncode == 2 and "recipe.json is not" in r.stderr, (broken, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    assert load_checkpoint(run)["step"] == 3


def test_a_resume_refused_for_a_broken_checkpoint_leaves_no_tokenizer_file(tmp_path):
    run = tmp_path / "run"
    assert _cli("train", "vae", "--out", run, "--batch-size", "1", "--steps", "1", "--set", "crop=8192",
                "--set", "dataset_size=2").returncode == 0
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    ckpt["pipeline"] = {k: v for i, (k, v) in enumerate(ckpt["pipeline"].items()) if i}  # one weight missing
    torch.save(ckpt, run / "checkpoint.pt")
    r = _cli("train", "vae", "--out", run, "--resume", "--steps", "2")
    assert r.returncode != 0 and "does not match its own config" in r.stderr
    assert not (run / "resume_spiece.model").exists()


def test_a_run_on_procedural_grid_data_records_it_and_resumes_on_it(tmp_path):
    run = tmp_path / "run"
    base = ("train", "vae", "--out", run, "--batch-size", "1", "--set", "crop=8192", "--set", "dataset_size=2",
            "--set", "steady_tone_share=0.5")  # tones mix into either procedural data
    assert _cli(*base, "--steps", "1", "--data", "procedural-grid").returncode == 0
    assert json.loads((run / "recipe.json").read_text())["data"] == "procedural-grid"
    r = _cli(*base, "--steps", "2", "--resume", "--data", "procedural")
    assert r.returncode == 2 and "was trained on --data procedural-grid" in r.stderr
    assert _cli(*base, "--steps", "2", "--resume").returncode == 0 and load_checkpoint(run)["step"] == 2


def test_tone_options_go_into_the_built_in_data_only(tmp_path):
    from arc_edge.audio_io import write_wav
    write_wav(tmp_path / "a.wav", 0.1 * np.sin(np.linspace(0, 400, 8192))[None].repeat(2, 0), 44100)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav", "caption": "a tone"}\n')
    for option in ("steady_tone_share=0.5", "tone_warmup_steps=5"):  # asked for by name: refused
        r = _cli("train", "vae", "--data", manifest, "--out", tmp_path / "run", "--steps", "1", "--set", option)
        assert r.returncode == 2 and option.split("=")[0] in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()
    # the built-in recipe's [vae] sets both (for the procedural data): on a manifest they are said and left out
    r = _cli("train", "vae", "--data", manifest, "--out", tmp_path / "run", "--steps", "1", "--batch-size", "1",
             "--set", "crop=8192")
    assert r.returncode == 0, r.stderr
    assert ("note: steady_tone_share = 0.5 and tone_warmup_steps = 600 (the recipe's) mix procedural tones into the "
            f"built-in data only; not used with --data {manifest.resolve()}") in r.stdout
    recorded = json.loads((tmp_path / "run" / "recipe.json").read_text())
    assert (recorded["steady_tone_share"], recorded["tone_warmup_steps"]) == (0.0, 0)
    # a bad manifest is still the error said, not a note about tones
    r = _cli("train", "vae", "--data", tmp_path / "missing.jsonl", "--out", tmp_path / "run2", "--steps", "1")
    assert r.returncode == 2 and "procedural tones" not in r.stdout and len(r.stderr.strip().splitlines()) == 1


def test_caption_options_with_a_manifest_are_named_as_unused(tmp_path, init_model):
    from arc_edge.audio_io import write_wav
    write_wav(tmp_path / "a.wav", 0.1 * np.sin(np.linspace(0, 400, 8192))[None].repeat(2, 0), 44100)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.wav", "caption": "a tone"}\n')
    r = _cli("train", "encode", "--init", init_model, "--data", manifest, "--out", tmp_path / "lat")
    assert r.returncode == 0, r.stderr  # the default recipe's [rf] sets both: said, not refused
    assert ("note: caption_variants = 32 and irrelevant_word_share = 0.5 reword only the procedural captions; "
            f"the captions of --data {manifest} are used as written") in r.stdout
    assert json.loads((tmp_path / "lat" / "captions.json").read_text())["captions"] == ["a tone"]
    r = _cli("train", "rf", "--init", init_model, "--data", manifest, "--out", tmp_path / "run", "--steps", "1",
             "--batch-size", "1", "--set", "caption_variants=1", "--set", "irrelevant_word_share=0")
    assert r.returncode == 0, r.stderr
    assert "reword only" not in r.stdout
    reworded = tmp_path / "reworded.toml"
    reworded.write_text(SMALL_RECIPE.format(steps=1) + "caption_variants = 2\nirrelevant_word_share = 0.5\n")
    r = _cli("train", "encode", "--init", init_model, "--out", tmp_path / "lat2", "--recipe", reworded)
    assert r.returncode == 0, r.stderr  # procedural captions: the options are used, nothing said
    assert "reword only" not in r.stdout
    assert all(len(v) == 2 for v in json.loads((tmp_path / "lat2" / "captions.json").read_text())["variants"])


def test_vae_steps_reduce_reconstruction_loss(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = ProceduralDataset(2, 8192, tiny_cfg.sample_rate)  # two fixed clips: loss must fall on them
    stage = VAEStage(pipe, VAEOptions(batch_size=2, crop=8192, lr=1e-3), CPU, data, tmp_path, fresh=True)
    audio = torch.stack([data[i]["audio"] for i in range(2)])

    def eval_loss():
        with torch.no_grad():
            return losses.multi_resolution_stft_loss(pipe.decode(pipe.posterior(audio)[0]), audio).item()
    before = eval_loss()
    for step in range(30):
        stage.step(step_generator(0, step, 0), step)
    assert eval_loss() < before * 0.75


def _fixed_rf_loss(pipe, x0, captions):
    gen = torch.Generator().manual_seed(9)
    t = torch.rand(x0.shape[0], generator=gen) * 0.8 + 0.1
    noise = torch.randn(x0.shape, generator=gen)
    ids, mask = tokenize_batch(pipe.tokenizer, captions)
    with torch.no_grad():
        cross, glob = pipe.condition(ids, mask, torch.full((x0.shape[0],), 1.0))
        v = pipe.velocity((1 - t[:, None, None]) * x0 + t[:, None, None] * noise, t, cross, glob)
    return losses.rf_loss(v, x0, noise).item()


def test_rf_steps_reduce_loss_and_train_a_tokenizer(tiny_cfg, latent_cache, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = LatentDataset(latent_cache)
    stage = RFStage(pipe, RFOptions(batch_size=6, lr=2e-3, cfg_dropout=0.0), CPU, data, tmp_path, fresh=True)
    assert (tmp_path / "spiece.model").is_file() and pipe.tokenizer.model_file == tmp_path / "spiece.model"
    x0 = torch.stack([data[i]["latent"] for i in range(6)])
    before = _fixed_rf_loss(pipe, x0, [data.caption(i) for i in range(6)])
    for step in range(25):
        stage.step(step_generator(0, step, 0), step)
    assert _fixed_rf_loss(pipe, x0, [data.caption(i) for i in range(6)]) < before * 0.8


def test_rf_from_a_model_can_keep_its_tokenizer_and_text_encoder(tiny_cfg, latent_cache, tmp_path):
    pipe = _fresh(tiny_cfg)
    tokenizer, t5 = pipe.tokenizer, pipe.text_encoder
    start = {k: v.clone() for k, v in t5.state_dict().items()}
    stage = RFStage(pipe, RFOptions(batch_size=6, lr=2e-3, cfg_dropout=0.0, new_text_encoder=False), CPU,
                    LatentDataset(latent_cache), tmp_path, fresh=True)
    assert pipe.tokenizer is tokenizer and pipe.text_encoder is t5 and not (tmp_path / "spiece.model").exists()
    assert all(torch.equal(v, start[k]) for k, v in t5.state_dict().items())
    for step in range(3):
        stage.step(step_generator(0, step, 0), step)
    assert any(not torch.equal(v, start[k]) for k, v in t5.state_dict().items())  # and trains it on


def test_info_nce_matches_a_hand_computed_cross_entropy():
    a = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.1, 1.0], [-1.0, 0.3]]), dim=-1)
    b = torch.nn.functional.normalize(torch.tensor([[0.9, 0.0], [0.0, 1.0], [-0.5, -0.5]]), dim=-1)
    sims = [[float(x @ y) / 0.5 for y in b] for x in a]

    def xent(rows):
        return sum(math.log(sum(math.exp(v) for v in row)) - row[i] for i, row in enumerate(rows)) / len(rows)
    columns = [list(c) for c in zip(*sims, strict=True)]
    assert losses.info_nce(a, b, 0.5).item() == pytest.approx(0.5 * (xent(sims) + xent(columns)), rel=1e-5)
    assert losses.info_nce(a, a, 0.05) < losses.info_nce(a, a.roll(1, 0), 0.05)


def test_rf_alignment_term_trains_the_text_encoder_to_tell_captions_apart(tiny_cfg, latent_cache, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = LatentDataset(latent_cache)
    opts = RFOptions(batch_size=4, lr=2e-3, cfg_dropout=0.0, alignment_weight=0.5)
    stage = RFStage(pipe, opts, CPU, data, tmp_path, fresh=True)
    x0 = torch.stack([data[i]["latent"] for i in range(6)])
    ids, mask = tokenize_batch(pipe.tokenizer, [data.caption(i) for i in range(6)])

    def alignment_on_six_distinct_clips() -> float:
        with torch.no_grad():
            return stage.denoiser(x0, torch.full((6,), 0.5), ids, mask, torch.ones(6), torch.ones(6), x0)[1].item()
    text_before = [p.detach().clone() for p in pipe.text_encoder.parameters()]
    before = alignment_on_six_distinct_clips()
    logged = [stage.step(step_generator(0, step, 0), step) for step in range(30)]
    assert logged[-1]["loss"] == pytest.approx(logged[-1]["rf"] + 0.5 * logged[-1]["alignment"], rel=1e-5)
    assert alignment_on_six_distinct_clips() < 0.8 * before  # log(6) = 1.79 is chance
    assert any(not torch.equal(b, p) for b, p in zip(text_before, pipe.text_encoder.parameters(), strict=True))
    # the heads are training state: saved for an exact resume, refused by a run without them
    assert "alignment" in stage.state()
    with pytest.raises(ConfigError, match="cannot switch alignment_weight"):
        RFStage(_fresh(tiny_cfg), RFOptions(batch_size=4), CPU, data, tmp_path, fresh=False).load_state(stage.state())
    # heads saved by an earlier version (a whole-clip latent summary: half the inputs) are refused in one line
    old_heads = stage.state()
    weight = old_heads["alignment"]["latent_head.weight"]
    old_heads["alignment"]["latent_head.weight"] = weight[:, :weight.shape[1] // 2].clone()
    with pytest.raises(ConfigError, match="without --resume"):
        RFStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=False).load_state(old_heads)


def test_alignment_summary_tells_a_fade_in_from_a_fade_out():
    # a fade in and its time reversal (a fade out) have the same mean and std over the whole clip;
    # the summary the alignment term contrasts must still tell them apart
    ramp = torch.linspace(0.0, 1.0, 8)
    fade_in = torch.randn(2, 3, 8) * ramp
    fade_out = fade_in.flip(-1)
    head = TextLatentAlignment(cond_dim=4, latent_dim=3, segments=2)
    assert torch.allclose(fade_in.mean(-1), fade_out.mean(-1)) and torch.allclose(fade_in.std(-1), fade_out.std(-1))
    summary_in, summary_out = head.latent_summary(fade_in), head.latent_summary(fade_out)
    assert summary_in.shape == (2, 2 * 3 * 2)
    assert not torch.allclose(summary_in, summary_out)
    first_half = fade_in[..., :4]
    assert torch.allclose(summary_in[:, :6], torch.cat((first_half.mean(-1), first_half.std(-1)), dim=1))


def test_arc_steps_teach_the_discriminator(tiny_cfg, latent_cache, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = LatentDataset(latent_cache)
    stage = ARCStage(pipe, ARCOptions(batch_size=6, lr=1e-5, lr_d=2e-3), CPU, data, tmp_path, fresh=True)
    first = [stage.step(step_generator(0, s, 0), s) for s in range(3)]
    later = [stage.step(step_generator(0, s, 0), s) for s in range(3, 30)]
    def d_total(ms):
        return sum(m["d_adv"] + m["d_contrastive"] for m in ms) / len(ms)
    assert d_total(later[-5:]) < d_total(first)
    assert set(first[0]) == {"g_loss", "d_adv", "d_contrastive", "d_real_gt_fake", "d_own_gt_other"}


def test_edited_spec_changes_exactly_one_attribute_and_never_the_pitch_of_noise():
    import random

    from arc_edge.data.procedural import ATTRIBUTES, PITCH_RANGES, edited_spec, random_spec

    rng = random.Random(0)
    changed = set()
    for _ in range(400):
        spec = random_spec(rng)
        for attributes in (("waveform",), tuple(ATTRIBUTES)):
            new = edited_spec(spec, attributes, rng)
            diff = [k for k in ATTRIBUTES if getattr(new, k) != getattr(spec, k)]
            assert len(diff) == 1 and diff[0] in attributes
            assert not (diff == ["pitch"] and spec.waveform == "noise")
            lo, hi = PITCH_RANGES[new.pitch]
            assert new.frequency == spec.frequency if diff != ["pitch"] else lo <= new.frequency <= hi
            changed.add(diff[0])
    assert changed == set(ATTRIBUTES)  # every attribute gets edited under "all"


def test_a_latent_cache_of_procedural_data_keeps_each_sound_and_refuses_a_broken_record(latent_cache, tiny_cfg,
                                                                                        tmp_path):
    data = LatentDataset(latent_cache)
    source = ProceduralDataset(6, tiny_cfg.sample_size, tiny_cfg.sample_rate)  # what the fixture encoded
    assert data.has_specs() and [data[i]["spec"] for i in range(6)] == [source.example(i)[0] for i in range(6)]
    broken = tmp_path / "broken"
    shutil.copytree(latent_cache, broken)
    index = json.loads((broken / "captions.json").read_text())
    index["specs"][2]["waveform"] = "kazoo"
    (broken / "captions.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="'specs'.*re-encode"):
        LatentDataset(broken)
    del index["specs"]  # a cache from before the sounds were kept, or of a manifest
    (broken / "captions.json").write_text(json.dumps(index))
    assert not LatentDataset(broken).has_specs() and "spec" not in LatentDataset(broken)[0]


def test_arc_edited_negatives_teach_the_discriminator_the_attribute_alone(tiny_cfg, latent_cache, tiny_model_dir,
                                                                         tmp_path):
    data = LatentDataset(latent_cache)
    opts = ARCOptions(batch_size=6, lr=1e-5, lr_d=2e-3, edited_negatives="waveform")

    def edited_loss(weight: float) -> float:  # the same run but for the term's weight (0: measured, not trained)
        torch.manual_seed(0)
        stage = ARCStage(_fresh(tiny_cfg), dataclasses.replace(opts, edited_weight=weight), CPU, data, tmp_path,
                         fresh=True)
        metrics = [stage.step(step_generator(0, s, 0), s) for s in range(30)]
        assert {"d_edited", "d_own_gt_edited"} <= set(metrics[0])
        return sum(m["d_edited"] for m in metrics[-10:]) / 10

    assert edited_loss(4.0) < edited_loss(0.0) - 0.05
    # a cache that does not say what each latent is: refused before the run folder is made
    bare = tmp_path / "bare"
    shutil.copytree(latent_cache, bare)
    index = json.loads((bare / "captions.json").read_text())
    del index["specs"]
    (bare / "captions.json").write_text(json.dumps(index))
    with pytest.raises(ConfigError, match="edited_negatives"):
        ARCStage(_fresh(tiny_cfg), opts, CPU, LatentDataset(bare), tmp_path, fresh=True)
    recipe = tmp_path / "arc.toml"
    recipe.write_text("[arc]\nsteps = 1\nbatch_size = 3\ndataset_size = 6\nsample_every = 0\n")
    r = _cli("train", "arc", "--init", tiny_model_dir, "--data", bare, "--recipe", recipe,
             "--set", "edited_negatives=\"all\"", "--out", tmp_path / "run")
    assert r.returncode == 2 and "edited_negatives" in r.stderr and not (tmp_path / "run").exists()


def test_arc_rejects_batch_of_one(tiny_cfg, latent_cache, tmp_path):
    with pytest.raises(ConfigError, match="at least 2"):
        ARCStage(_fresh(tiny_cfg), ARCOptions(batch_size=1), CPU, LatentDataset(latent_cache), tmp_path, fresh=True)


def test_batches_are_a_function_of_step_and_rank(latent_cache):
    data = LatentDataset(latent_cache)
    a = draw_batch(data, 4, step_generator(0, 5, 0))["caption"]
    assert a == draw_batch(data, 4, step_generator(0, 5, 0))["caption"]
    assert a != draw_batch(data, 4, step_generator(0, 5, 1))["caption"]  # another rank
    assert a != draw_batch(data, 4, step_generator(0, 6, 0))["caption"]  # another step



def _is_subsequence(short: list[str], long: list[str]) -> bool:
    rest = iter(long)
    return all(word in rest for word in short)


def test_word_dropout_leaves_out_the_asked_share_of_words_but_never_a_negation_or_what_it_negates():
    text = "a low sine wave, steady, no pulsing, dying away on the left, not a saw"
    words = text.split(" ")
    # each negation and its next two words ("no pulsing, dying", "not a saw"), the register and the side
    kept_always = 8
    gen = torch.Generator().manual_seed(0)
    dropped = free = 0
    for _ in range(400):
        kept = drop_words(text, 0.3, gen).split(" ")
        assert _is_subsequence(kept, words)  # words only left out, in their order
        assert kept[-3:] == ["not", "a", "saw"] and "no" in kept and "pulsing," in kept and "dying" in kept
        assert "low" in kept and "left," in kept
        free += len(words) - kept_always
        dropped += len(words) - len(kept)
    assert 0.25 < dropped / free < 0.35
    assert drop_words("Sine", 0.9999, torch.Generator().manual_seed(1)) == "Sine"  # a caption never empties
    assert drop_words(text, 0.0, gen) == text


def test_word_dropout_keeps_every_word_that_names_the_register_the_frequency_or_the_side():
    text = "Make me a DEEP buzzy saw at 900 Hz, 120Hz hum, hard LEFT, fading away please"
    spared = {"DEEP", "900", "Hz,", "120Hz", "LEFT,"}
    gen = torch.Generator().manual_seed(3)
    seen_dropped = set()
    for _ in range(200):
        kept = drop_words(text, 0.5, gen).split(" ")
        assert spared <= set(kept)
        seen_dropped |= set(text.split(" ")) - set(kept)
    assert seen_dropped == set(text.split(" ")) - spared  # every other word is left out some of the time


def test_word_dropout_in_a_batch_shortens_the_captions_it_would_draw_and_draws_nothing_at_zero(latent_cache):
    data = LatentDataset(latent_cache)
    whole = draw_batch(data, 16, step_generator(0, 5, 0))
    assert draw_batch(data, 16, step_generator(0, 5, 0), word_dropout=0.0)["caption"] == whole["caption"]
    thinned = draw_batch(data, 16, step_generator(0, 5, 0), word_dropout=0.4)
    assert all(_is_subsequence(t.split(" "), w.split(" ")) for t, w in zip(thinned["caption"], whole["caption"], strict=True))
    assert sum(len(t) for t in thinned["caption"]) < sum(len(w) for w in whole["caption"])
    assert torch.equal(thinned["latent"], whole["latent"])  # the same examples: only their captions lose words


def test_rf_stage_trains_on_captions_with_words_left_out(tiny_cfg, latent_cache, tmp_path, monkeypatch):
    import arc_edge.training.stages as stages
    seen = []
    real = stages.tokenize_batch
    monkeypatch.setattr(stages, "tokenize_batch", lambda tok, captions: (seen.append(captions), real(tok, captions))[1])
    data = LatentDataset(latent_cache)
    opts = RFOptions(batch_size=6, lr=1e-3, word_dropout=0.4, new_text_encoder=False)
    stage = RFStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True)
    stage.step(step_generator(0, 0, 0), 0)
    assert seen[-1] == draw_batch(data, 6, step_generator(0, 0, 0), word_dropout=0.4)["caption"]
    assert seen[-1] != draw_batch(data, 6, step_generator(0, 0, 0))["caption"]
    with pytest.raises(ConfigError, match="word_dropout"):
        load_recipe(None, "rf", {"word_dropout": 0.8})


# --- CLI runs: torchrun/DDP and resume -------------------------------------------------------

SMALL_RECIPE = """
[rf]
steps = {steps}
batch_size = 3
dataset_size = 6
save_every = 2
log_every = 1
sample_every = 0
"""


@pytest.fixture(scope="module")
def init_model(tmp_path_factory, tiny_model_dir):
    return tiny_model_dir


def _cli(*args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "arc_edge.cli", *map(str, args)], check=False, capture_output=True, text=True,
                          timeout=600, env=env, **kw)


def _recipe(tmp_path, steps):
    p = tmp_path / f"r{steps}.toml"
    p.write_text(SMALL_RECIPE.format(steps=steps))
    return p


def _checkpoint(run):
    return torch.load(Path(run) / "checkpoint.pt", weights_only=True)


def _with_vae_part_nudged(model_dir: Path, part: str, out: Path) -> Path:
    from arc_edge.checkpoint import save_model_dir
    pipeline = load_model_dir(model_dir)
    with torch.no_grad():
        for p in getattr(pipeline.pretransform.model, part).parameters():
            p.add_(0.01)
    save_model_dir(pipeline, out)
    return out


def _vae_part(model_dir: Path, part: str) -> dict:
    return getattr(load_model_dir(model_dir).pretransform.model, part).state_dict()


def test_vae_from_joins_a_dit_run_to_a_decoder_tuned_apart_but_never_to_another_encoder(tmp_path, init_model,
                                                                                       latent_cache):
    tuned = _with_vae_part_nudged(init_model, "decoder", tmp_path / "tuned")  # as a later 'train decoder' gives
    run = tmp_path / "run"
    r = _cli("train", "rf", "--init", init_model, "--vae-from", tuned, "--data", latent_cache, "--recipe",
             _recipe(tmp_path, 1), "--out", run)
    assert r.returncode == 0, r.stderr
    got, want, before = _vae_part(run / "model", "decoder"), _vae_part(tuned, "decoder"), _vae_part(init_model, "decoder")
    assert all(torch.equal(got[k], want[k]) for k in want) and not all(torch.equal(got[k], before[k]) for k in want)
    dit, init_dit = (load_model_dir(d).model.state_dict() for d in (run / "model", init_model))
    assert not all(torch.equal(dit[k], init_dit[k]) for k in dit)  # the DiT is the run's, trained from --init's
    record = trained_record(run / "model")  # neither source was written by a training run
    assert (record["from"], record["vae_from"]) == (NO_RECORD, NO_RECORD)

    other = _with_vae_part_nudged(init_model, "encoder", tmp_path / "other")
    r = _cli("train", "rf", "--init", init_model, "--vae-from", other, "--data", latent_cache, "--recipe",
             _recipe(tmp_path, 1), "--out", tmp_path / "run2")
    assert r.returncode == 2 and "another encoder" in r.stderr and not (tmp_path / "run2").exists()
    r = _cli("train", "rf", "--init", init_model, "--vae-from", tuned / "model.safetensors", "--data", latent_cache,
             "--out", tmp_path / "run4")
    assert r.returncode == 2 and "is not a folder" in r.stderr and not (tmp_path / "run4").exists()
    broken = tmp_path / "broken"
    shutil.copytree(tuned, broken)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    r = _cli("train", "rf", "--init", init_model, "--vae-from", broken, "--data", latent_cache, "--out", tmp_path / "run5")
    assert r.returncode == 2 and r.stderr.startswith("arc-edge: error: --vae-from: ")
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run5").exists()
    r = _cli("train", "rf", "--vae-from", tuned, "--out", run, "--resume")
    assert r.returncode == 2 and "a resumed run keeps the VAE" in r.stderr
    r = _cli("train", "decoder", "--init", init_model, "--vae-from", tuned, "--out", tmp_path / "run3")
    assert r.returncode == 2 and "takes no --vae-from" in r.stderr


def test_each_run_records_the_runs_behind_it_and_info_names_them_newest_first(tmp_path, init_model, latent_cache):
    first, second = tmp_path / "first", tmp_path / "second"
    r = _cli("train", "rf", "--init", init_model, "--data", latent_cache, "--recipe", _recipe(tmp_path, 2),
             "--out", first)
    assert r.returncode == 0, r.stderr
    assert trained_record(first / "model") == {"stage": "rf", "step": "2", "from": NO_RECORD}
    r = _cli("train", "rf", "--init", first / "model", "--data", latent_cache, "--recipe", _recipe(tmp_path, 4),
             "--steps", 2, "--out", second)
    assert r.returncode == 0, r.stderr
    r = _cli("train", "rf", "--data", latent_cache, "--recipe", _recipe(tmp_path, 4), "--out", second, "--resume")
    assert r.returncode == 0, r.stderr
    # the resumed run still names the run it began from, not itself
    assert trained_record(second / "model") == {"stage": "rf", "step": "4", "from": f"rf 2 <- {NO_RECORD}"}
    r = _cli("info", "--model", second / "model")
    assert r.returncode == 0 and f"trained:      rf 4 <- rf 2 <- {NO_RECORD}" in r.stdout
    assert lineage_of({"stage": "arc", "step": "400", "vae_from": "decoder 1000", "from": "rf 9"}) == \
        "arc 400 [VAE: decoder 1000] <- rf 9"
    assert lineage_of({"stage": "rf", "step": "1", "from": "x" * 5000}).endswith("x <- ...")  # a long chain is cut

    ckpt = _checkpoint(second)
    ckpt["lineage"] = {"from": 3}  # a hand-made checkpoint: what info would print must be text
    torch.save(ckpt, second / "checkpoint.pt")
    r = _cli("train", "rf", "--data", latent_cache, "--recipe", _recipe(tmp_path, 6), "--out", second, "--resume")
    assert r.returncode == 2 and "malformed 'lineage'" in r.stderr


def test_resume_continues_exactly(tmp_path, init_model, latent_cache):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _cli("train", "rf", "--init", init_model, "--data", latent_cache, "--recipe", _recipe(tmp_path, 4),
                "--out", straight).returncode == 0
    r = _cli("train", "rf", "--init", init_model, "--data", latent_cache, "--recipe", _recipe(tmp_path, 4),
             "--steps", 2, "--out", split)
    assert r.returncode == 0, r.stderr
    assert _checkpoint(split)["step"] == 2
    r = _cli("train", "rf", "--data", latent_cache, "--recipe", _recipe(tmp_path, 4), "--out", split, "--resume")
    assert r.returncode == 0, r.stderr
    a, b = _checkpoint(straight), _checkpoint(split)
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["pipeline"][k], b["pipeline"][k]) for k in a["pipeline"])
    rows = (split / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]
    # a run directory is never silently reused
    r = _cli("train", "rf", "--init", init_model, "--data", latent_cache, "--out", split)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_kill_then_resume(tmp_path, init_model, latent_cache):
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "arc_edge.cli", "train", "rf", "--init", str(init_model),
                             "--data", str(latent_cache), "--recipe", str(_recipe(tmp_path, 10_000)), "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    # wait for the event itself (the run says so when a checkpoint is on disk), then kill mid-run
    saves = 0
    for line in proc.stdout:
        saves += line.startswith("saved checkpoint at step")
        if saves == 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    saved = _checkpoint(run)["step"]
    assert saved >= 4 and saved % 2 == 0
    r = _cli("train", "rf", "--data", latent_cache, "--recipe", _recipe(tmp_path, 10_000), "--steps", saved + 2,
             "--out", run, "--resume")
    assert r.returncode == 0, r.stderr
    assert _checkpoint(run)["step"] == saved + 2
    assert (run / "model" / "model.safetensors").is_file()


def test_torchrun_two_processes_on_cpu(tmp_path, init_model, latent_cache):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                        "-m", "arc_edge.cli", "train", "rf", "--init", str(init_model), "--data", str(latent_cache),
                        "--recipe", str(_recipe(tmp_path, 4)), "--out", str(run)],
                       check=False, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    single = tmp_path / "single"
    assert _cli("train", "rf", "--init", init_model, "--data", latent_cache, "--recipe", _recipe(tmp_path, 4),
                "--out", single).returncode == 0
    a, b = _checkpoint(run), _checkpoint(single)
    assert a.keys() == b.keys() and a["pipeline"].keys() == b["pipeline"].keys()
    assert a["step"] == 4
    # two ranks saw different data, so the averaged update differs from the single-process one
    assert not torch.equal(a["pipeline"]["model.model.transformer.project_in.weight"],
                           b["pipeline"]["model.model.transformer.project_in.weight"])
    assert (run / "model" / "model_config.json").is_file()


def test_recipe_rejects_unknown_options_and_values_outside_their_choices():
    assert load_recipe(None, "arc", {"loss": "lsgan"}).loss == "lsgan"
    with pytest.raises(ConfigError, match="loss = 'hinge' is not one of relativistic, lsgan"):
        load_recipe(None, "arc", {"loss": "hinge"})
    with pytest.raises(ConfigError, match="t_sampling"):
        load_recipe(None, "rf", {"t_sampling": "uniform"})
    with pytest.raises(ConfigError, match="init"):
        load_recipe(None, "vae", {"init": "xavier"})
    with pytest.raises(ConfigError, match="unknown option"):
        load_recipe(None, "vae", {"lerning_rate": 1e-3})
    with pytest.raises(ConfigError, match="alignment_weight trains the text encoder"):
        load_recipe(None, "rf", {"alignment_weight": 0.1, "train_text_encoder": False})


def test_fresh_vae_learns_a_steady_tone_from_the_waveform_mse(tiny_cfg, tmp_path):
    """Magnitude spectra give a fresh decoder no path to a tone; the waveform MSE does. Before
    spectral_from_step the magnitude terms are logged, not trained on."""
    pipe = _fresh(tiny_cfg)
    sr, n = tiny_cfg.sample_rate, 4096
    t = torch.arange(n) / sr
    audio = torch.stack([0.4 * torch.sin(2 * math.pi * f * t).expand(2, n) for f in (300.0, 900.0)])
    data = [{"audio": a, "caption": "", "captions": [""], "seconds": n / sr} for a in audio]
    opts = VAEOptions(batch_size=2, crop=n, init="signal_preserving", mse_weight=100.0, spectral_from_step=1000,
                      envelope_weight=1.0, dc_weight=10.0)
    initialise_vae_weights(pipe, opts)
    stage = VAEStage(pipe, opts, CPU, data, tmp_path, fresh=True)
    for step in range(40):
        logged = stage.step(step_generator(0, step, 0), step)
    assert logged["loss"] == pytest.approx(100 * logged["mse"] + 1e-4 * logged["kl"] + 10 * logged["dc"], rel=1e-4)
    with torch.no_grad():
        recon = pipe.decode(pipe.posterior(audio)[0])
    for got, f in zip(recon[:, 0, 1024:3072], (300.0, 900.0), strict=True):
        spectrum = torch.fft.rfft((got - got.mean()) * torch.hann_window(2048)).abs()
        assert abs(float(spectrum.argmax()) * sr / 2048 - f) < 2 * sr / 2048


def test_band_split_options_change_what_the_mse_and_magnitude_terms_see(tiny_cfg, tmp_path):
    sr, n = tiny_cfg.sample_rate, 4096
    t = torch.arange(n) / sr
    audio = torch.stack([0.4 * torch.sin(2 * math.pi * f * t).expand(2, n) for f in (300.0, 900.0)])
    data = [{"audio": a, "caption": "", "captions": [""], "seconds": n / sr} for a in audio]

    def first_step(**split) -> dict[str, float]:
        opts = VAEOptions(batch_size=2, crop=n, mse_weight=1.0, mel_weight=1.0, **split)
        return VAEStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True).step(step_generator(0, 0, 0), 0)

    full, split = first_step(), first_step(mse_lowpass_hz=1500.0, spectral_highpass_hz=1500.0)
    for term in ("stft", "mel", "mse"):
        assert split[term] != pytest.approx(full[term], rel=1e-3), term
    assert split["kl"] == pytest.approx(full["kl"])  # the same weights, draws and latents: only the terms differ


def test_freeze_encoder_trains_the_decoder_and_keeps_the_latents(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = ProceduralDataset(2, 8192, tiny_cfg.sample_rate)
    audio = torch.stack([data[i]["audio"] for i in range(2)])
    with torch.no_grad():
        latents_before = pipe.posterior(audio)[0]
    decoder_before = [p.detach().clone() for p in pipe.pretransform.model.decoder.parameters()]
    stage = VAEStage(pipe, VAEOptions(batch_size=2, crop=8192, lr=1e-3, freeze_encoder=True), CPU, data, tmp_path,
                     fresh=True)
    for step in range(2):
        stage.step(step_generator(0, step, 0), step)
    with torch.no_grad():
        assert torch.equal(pipe.posterior(audio)[0], latents_before)
    assert any(not torch.equal(b, p) for b, p in zip(decoder_before, pipe.pretransform.model.decoder.parameters(),
                                                     strict=True))


def test_a_decoder_fine_tune_of_a_whole_model_keeps_its_dit_and_encoder(tmp_path, init_model):
    run = tmp_path / "dec"
    r = _cli("train", "vae", "--init", init_model, "--out", run, "--steps", "1", "--batch-size", "1",
             "--set", "crop=8192", "--set", "dataset_size=2", "--set", "freeze_encoder=true")
    assert r.returncode == 0, r.stderr
    before, after = load_model_dir(init_model), load_model_dir(run / "model")
    old, new = before.state_dict(), after.state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("pretransform.model.decoder.") for k in changed)
    info = _cli("info", "--model", run / "model", "--json")  # its DiT is not this run's: the record says so
    record = json.loads(info.stdout)
    assert record["trained"] == {"stage": "vae (decoder only)", "step": "1", "from": NO_RECORD}
    assert record["lineage"] == f"vae (decoder only) 1 <- {NO_RECORD}"


def test_train_default_runs_the_recipes_decoder_table_last_on_the_decoder_alone(tmp_path):
    recipe = tmp_path / "recipe.toml"
    small = "steps = 1\nbatch_size = 2\ndataset_size = 2\n"
    audio = small + "crop = 8192\n"
    recipe.write_text(f"[vae]\n{audio}[rf]\n{small}[arc]\n{small}[decoder]\n{audio}dc_weight = 100.0\n")
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(str(tmp_path / "run" / "decoder" / "model"))
    assert json.loads((tmp_path / "run" / "decoder" / "recipe.json").read_text())["dc_weight"] == 100.0
    old = load_model_dir(tmp_path / "run" / "arc" / "model").state_dict()
    new = load_model_dir(tmp_path / "run" / "decoder" / "model").state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("pretransform.model.decoder.") for k in changed)
    # 'train decoder' runs the same table on any finished model: here it repeats the default's last stage
    # (on the default's data: frame-locked tones)
    r = _cli("train", "decoder", "--init", tmp_path / "run" / "arc" / "model", "--recipe", recipe,
             "--data", "procedural-grid", "--out", tmp_path / "again")
    assert r.returncode == 0, r.stderr
    again = load_model_dir(tmp_path / "again" / "model").state_dict()
    assert all(torch.equal(again[k], new[k]) for k in new)
    r = _cli("train", "decoder", "--out", tmp_path / "no_init")
    assert r.returncode == 2 and "needs --init" in r.stderr and not (tmp_path / "no_init").exists()


def test_train_default_runs_a_tables_phases_as_one_run_resumed_with_their_options(tmp_path):
    recipe = tmp_path / "recipe.toml"
    small = "dataset_size = 2\nbatch_size = "
    recipe.write_text(f"[vae]\nsteps = 1\n{small}1\ncrop = 8192\nkl_weight = 0.5\nmse_weight = 3.0\n"
                      "[[vae.then]]\nsteps = 2\nkl_weight = 0.25\n[[vae.then]]\nsteps = 3\nmse_weight = 1.0\n"
                      f"[rf]\nsteps = 1\n{small}2\n[[rf.then]]\nsteps = 2\nword_dropout = 0.15\n"
                      f"[arc]\nsteps = 1\n{small}2\n")
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert "goes on in" not in r.stdout  # the note is for single-stage runs of a phased table
    vae = tmp_path / "run" / "vae"
    recorded = json.loads((vae / "recipe.json").read_text())
    # each phase keeps what the phases before it set and changes only what it names
    assert (recorded["steps"], recorded["kl_weight"], recorded["mse_weight"], recorded["crop"]) == (3, 0.25, 1.0, 8192)
    assert recorded["data"] == "procedural-grid"  # the default model's data unless --data says otherwise
    assert [int(row.split(",")[0]) for row in (vae / "metrics.csv").read_text().splitlines()[1:]] == [1, 2, 3]
    rf = json.loads((tmp_path / "run" / "rf" / "recipe.json").read_text())
    assert (rf["steps"], rf["word_dropout"]) == (2, 0.15) and load_checkpoint(tmp_path / "run" / "rf")["step"] == 2
    # the same as the stage commands a user would run by hand: the first phase, then resumes with each phase's changes
    manual = tmp_path / "manual"
    steps = [("--recipe", recipe, "--data", "procedural-grid", "--steps", "1"),
             ("--resume", "--steps", "2", "--set", "kl_weight=0.25"), ("--resume", "--steps", "3", "--set", "mse_weight=1.0")]
    for i, extra in enumerate(steps):
        r = _cli("train", "vae", "--out", manual, *extra)
        assert r.returncode == 0, r.stderr
        assert ("goes on in 2 more phase(s)" in r.stdout) == (i == 0)
    ours, theirs = load_model_dir(vae / "model").state_dict(), load_model_dir(manual / "model").state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # a resumed default run skips the phases it has finished and leaves their weights as they were
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run", "--resume")
    assert r.returncode == 0, r.stderr
    assert all(torch.equal(ours[k], v) for k, v in load_model_dir(vae / "model").state_dict().items())


@pytest.mark.parametrize("phases, message", [
    ("[[vae.then]]\nsteps = 1\n", "phase 2 needs steps"),   # not past the table's own 2 steps
    ("[[vae.then]]\nkl_weight = 0.1\n", "phase 2 needs steps"),
    ("[[vae.then]]\nsteps = 3\n[[vae.then]]\nsteps = 3\n", "phase 3 needs steps"),
    ("[vae.then]\nsteps = 3\n", "array of tables"),
    ("[[vae.then]]\nsteps = 3\nkl_wieght = 0.1\n", "[vae] phase 2: unknown option(s) kl_wieght"),
])
def test_a_broken_phase_is_a_one_line_error_before_anything_is_written(tmp_path, phases, message):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f"[vae]\nsteps = 2\n{phases}")
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run")
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    recipe.write_text("[vae]\nsteps = 2\n[[vae.then]]\nsteps = 3\n")
    r = _cli("train", "default", "--recipe", recipe, "--steps", "5", "--out", tmp_path / "run")
    assert r.returncode == 2 and "--steps would end every phase" in r.stderr and not (tmp_path / "run").exists()


def test_a_decoder_table_that_would_move_the_latents_is_refused(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("[decoder]\nfreeze_encoder = false\n")
    with pytest.raises(ConfigError, match="freeze_encoder"):
        load_recipe(recipe, "decoder")
    assert load_recipe(None, "decoder").freeze_encoder and not load_recipe(None, "vae").freeze_encoder


def test_peak_and_reference_free_whine_terms():
    t = torch.arange(16384) / 44100
    tone = torch.sin(2 * math.pi * 300 * t)[None, None].repeat(2, 2, 1)
    assert losses.peak_loss(0.9 * tone).item() == 0.0
    assert losses.peak_loss(1.05 * tone).item() == pytest.approx(0.10, abs=1e-3)
    whine = 0.05 * torch.cos(2 * math.pi * 11025 * t)
    # without a reference the clip's own whine counts, over the clip's own RMS (the tone's and the whine's)
    own = math.sqrt((0.05 ** 2 / 2) / (0.5 ** 2 / 2 + 0.05 ** 2 / 2))
    assert losses.whine_loss(0.5 * tone + whine).item() == pytest.approx(own, rel=1e-3)


def test_the_generated_pool_holds_the_latents_generation_decodes(init_model):
    from arc_edge.decoding import decode_in_windows
    from arc_edge.generate import GenerationRequest, generate
    from arc_edge.training.generated_pool import generated_latents

    pipe = load_model_dir(init_model)
    item = {"caption": "a soft square wave panned right", "seconds": 2.0}
    pool = generated_latents(pipe, [item], 1, seed=5)
    assert pool.shape == (1, pipe.cfg.latent_dim, pipe.cfg.latent_length)
    with torch.no_grad():  # decoded as generation decodes (the model's DC blocker included)
        decoded = torch.cat(list(decode_in_windows(pipe.decode, pool / pipe.cfg.pretransform.scale, pipe.decode_plan(),
                                                   pipe.cfg.downsampling_ratio, sample_rate=pipe.cfg.sample_rate)),
                            -1)[0].numpy()
    seconds = pipe.cfg.sample_size / pipe.cfg.sample_rate  # the whole clip: generation fades no end
    audio = generate(pipe, GenerationRequest(prompt=item["caption"], seconds=seconds, seed=5)).audio
    assert audio.shape == decoded.shape and abs(audio - decoded).max() < 1e-4


def test_the_generated_pool_draws_every_wording_of_its_sounds():
    from arc_edge.training.generated_pool import pool_items

    data = ProceduralDataset(3, 4096, 44100, caption_variants=8)
    items = pool_items(data, 30, seed=1)
    assert all(item["caption"] in data.captions(i % 3) for i, item in enumerate(items))
    assert len({item["caption"] for item in items}) > 3  # not one wording per sound
    assert [item["caption"] for item in pool_items(data, 30, seed=1)] == [item["caption"] for item in items]
    # one caption per example: the pool of earlier runs, caption for caption
    single = ProceduralDataset(3, 4096, 44100)
    assert [item["caption"] for item in pool_items(single, 5, seed=1)] == [single[i % 3]["caption"] for i in range(5)]


def test_mixed_conditions_lie_between_a_row_and_another_row():
    from arc_edge.training.generated_pool import mix_conditions

    gen = torch.Generator().manual_seed(0)
    cross, glob = torch.randn(6, 5, 4, generator=gen), torch.randn(6, 4, generator=gen)
    same = mix_conditions(cross, glob, 0.0, gen)
    assert torch.equal(same[0], cross) and torch.equal(same[1], glob)
    mixed_cross, mixed_glob = mix_conditions(cross, glob, 1.0, gen)
    for i in range(6):
        # w * own + (1 - w) * other, the same w and partner for both tensors
        fits = []
        for j in set(range(6)) - {i}:
            d = (cross[i] - cross[j]).flatten()
            w = float(((mixed_cross[i] - cross[j]).flatten() @ d) / (d @ d))
            if (torch.allclose(mixed_cross[i], w * cross[i] + (1 - w) * cross[j], atol=1e-5)
                    and torch.allclose(mixed_glob[i], w * glob[i] + (1 - w) * glob[j], atol=1e-5)):
                fits.append(w)
        assert len(fits) == 1 and 0.0 <= fits[0] < 1.0, i  # every row mixed, with exactly one other row
    half = mix_conditions(cross.repeat(100, 1, 1), glob.repeat(100, 1), 0.5, gen)[1]
    changed = (half != glob.repeat(100, 1)).any(-1).float().mean().item()
    assert 0.4 < changed < 0.6


def test_the_generated_pool_mixes_the_conditioning_and_nothing_else(init_model, monkeypatch):
    import arc_edge.training.generated_pool as generated_pool

    pipe = load_model_dir(init_model)
    items = [{"caption": "a soft square wave panned right", "seconds": 2.0},
             {"caption": "a low sine wave on the left, fading out", "seconds": 2.0}]
    plain = generated_pool.generated_latents(pipe, items, 2, seed=5)
    mixed = generated_pool.generated_latents(pipe, items, 2, seed=5, mixed_share=1.0)
    assert (mixed - plain).abs().amax() > 1e-3
    assert torch.equal(generated_pool.generated_latents(pipe, items, 2, seed=5, mixed_share=1.0), mixed)
    # with the mixing undone (its random draws still made) the same noise gives the plain pool: mixing
    # draws from its own stream, not the noise's
    def draw_and_keep(cross, glob, share, gen):
        torch.rand(3 * len(cross), generator=gen)
        return cross, glob
    monkeypatch.setattr(generated_pool, "mix_conditions", draw_and_keep)
    assert torch.equal(generated_pool.generated_latents(pipe, items, 2, seed=5, mixed_share=1.0), plain)
    with pytest.raises(ConfigError, match="generated_mixed_share"):
        load_recipe(None, "vae", {"generated_mixed_share": 0.5, "freeze_encoder": True})


def test_vae_stage_crops_on_the_frame_grid_when_asked(tiny_cfg, tmp_path, monkeypatch):
    import arc_edge.training.stages as stages

    starts, real = [], stages.crop_start
    monkeypatch.setattr(stages, "crop_start", lambda *args: starts.append(real(*args)) or starts[-1])
    data = ProceduralDataset(2, tiny_cfg.sample_size, tiny_cfg.sample_rate)
    for on_frames in (False, True):
        opts = VAEOptions(batch_size=1, crop=8192, crop_on_frames=on_frames)
        stage = VAEStage(_fresh(tiny_cfg), opts, CPU, data, tmp_path, fresh=True)
        for i in range(4):
            stage.step(step_generator(0, i, 0), i)
    hop = tiny_cfg.downsampling_ratio
    assert any(s % hop for s in starts[:4]) and all(s % hop == 0 for s in starts[4:])


def test_vae_stage_decodes_the_generated_pool_with_reference_free_health_terms(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = ProceduralDataset(2, tiny_cfg.sample_size, tiny_cfg.sample_rate)

    def first_step(**tolerances):
        opts = VAEOptions(batch_size=2, crop=8192, dc_weight=10.0, whine_weight=3.0, peak_weight=5.0,
                          generated_latents=3, freeze_encoder=True, **tolerances)
        stage = VAEStage(copy.deepcopy(pipe), opts, CPU, data, tmp_path, fresh=True)
        assert stage.generated.shape == (3, tiny_cfg.latent_dim, tiny_cfg.latent_length)
        return stage.step(step_generator(0, 0, 0), 0)

    logged = first_step()
    assert logged["generated_dc"] > 0 and logged["generated_whine"] > 0
    expected = (logged["stft"] + 1e-4 * logged["kl"] + 10 * (logged["dc"] + logged["generated_dc"])
                + 3 * (logged["whine"] + logged["generated_whine"]) + 5 * (logged["peak"] + logged["generated_peak"]))
    assert logged["loss"] == pytest.approx(expected, rel=1e-5)
    # the tolerances reach both the data's terms and the generated pool's
    dc_tolerance = 0.5 * min(logged["dc"], logged["generated_dc"])
    whine_tolerance = 0.5 * min(logged["whine"], logged["generated_whine"])
    tolerant = first_step(dc_tolerance=dc_tolerance, whine_tolerance=whine_tolerance)
    for name in ("dc", "generated_dc", "whine", "generated_whine"):
        assert tolerant[name] < logged[name] - 1e-6, name  # unwired, the same step would log the same value
    combed = first_step(spurious_tone_weight=7.0)
    assert combed["loss"] == pytest.approx(
        expected + 7 * (combed["spurious_tone"] + combed["generated_spurious_tone"]), rel=1e-5)
    with pytest.raises(ConfigError, match="freeze_encoder"):
        load_recipe(None, "vae", {"generated_latents": 8})


def test_the_pools_windows_span_generated_crop(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = ProceduralDataset(2, tiny_cfg.sample_size, tiny_cfg.sample_rate)
    hop, frames = tiny_cfg.downsampling_ratio, tiny_cfg.latent_length
    for generated_crop, expected in ((0, 4), (8 * hop, 8), (10 * tiny_cfg.sample_size, frames)):
        opts = VAEOptions(batch_size=2, crop=4 * hop, whine_weight=1.0, generated_latents=3, freeze_encoder=True,
                          generated_crop=generated_crop)
        stage = VAEStage(copy.deepcopy(pipe), opts, CPU, data, tmp_path, fresh=True)
        decoder = stage.pipeline.pretransform.model.decoder
        lengths: list[tuple[int, int]] = []
        decoder.register_forward_hook(lambda module, args, out, seen=lengths: seen.append(tuple(args[0].shape[::2])))
        logged = stage.step(step_generator(0, 0, 0), 0)
        # the data's crop and the pool's windows; one decoder call when they are the same length
        assert lengths == ([(4, 4)] if expected == 4 else [(2, 4), (2, expected)]), generated_crop
        assert logged["generated_whine"] > 0
    with pytest.raises(ConfigError, match="generated_crop sets the length"):  # without a pool it would do nothing
        load_recipe(None, "vae", {"generated_crop": 8 * hop, "freeze_encoder": True})


def test_the_anchor_term_holds_the_pools_loudness_to_the_decoder_the_run_began_with(tiny_cfg, tmp_path):
    pipe = _fresh(tiny_cfg)
    data = ProceduralDataset(2, tiny_cfg.sample_size, tiny_cfg.sample_rate)
    opts = VAEOptions(batch_size=2, crop=8192, generated_latents=3, freeze_encoder=True, generated_anchor_weight=2.0,
                      lr=1e-12)  # the steps leave the decoder as it is: only the hook below changes it
    stage = VAEStage(copy.deepcopy(pipe), opts, CPU, data, tmp_path, fresh=True)
    logged = stage.step(step_generator(0, 0, 0), 0)
    assert logged["generated_anchor"] < 1e-4  # the decoder is still the one the run began with
    # every decode at half the amplitude from now on: each frame's log RMS lower by ln 2
    stage.pipeline.pretransform.model.decoder.register_forward_hook(lambda module, args, out: 0.5 * out)
    logged = stage.step(step_generator(0, 1, 0), 1)
    assert logged["generated_anchor"] == pytest.approx(math.log(2), rel=2e-3)
    assert logged["loss"] == pytest.approx(logged["stft"] + 1e-4 * logged["kl"] + 2.0 * logged["generated_anchor"],
                                           rel=1e-5)
    resumed = VAEStage(copy.deepcopy(pipe), opts, CPU, data, tmp_path, fresh=False)
    resumed.load_state(stage.state())  # the decoder the run began with, not the one it resumes from
    assert all(torch.equal(a, b) for a, b in zip(resumed.anchor_decoder.state_dict().values(),
                                                 pipe.pretransform.model.decoder.state_dict().values(), strict=True))
    with pytest.raises(ConfigError, match="switch generated_anchor_weight"):
        VAEStage(copy.deepcopy(pipe), VAEOptions(**{**vars(opts), "generated_anchor_weight": 0.0}), CPU, data,
                 tmp_path, fresh=False).load_state(stage.state())
    with pytest.raises(ConfigError, match="set generated_latents > 0"):
        load_recipe(None, "vae", {"generated_anchor_weight": 1.0, "freeze_encoder": True})


def test_train_default_checks_every_table_before_it_writes_anything(tmp_path):
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("[vae]\nsteps = 1\n[decoder]\ndc_wieght = 100.0\n")
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run")
    assert r.returncode == 2 and "[decoder]" in r.stderr and "dc_wieght" in r.stderr
    # a crop of part of a latent frame (the tiny model's is 2048 samples) failed in the losses once training ran
    recipe.write_text("[decoder]\ncrop = 10000\n")
    r = _cli("train", "default", "--recipe", recipe, "--out", tmp_path / "run")
    assert r.returncode == 2 and "crop = 10000" in r.stderr and "--set crop=10240" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    r = _cli("train", "vae", "--set", "crop=3000", "--out", tmp_path / "run")
    assert r.returncode == 2 and "--set crop=2048" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
    r = _cli("train", "vae", "--set", "generated_crop=5000", "--set", "generated_latents=8", "--set",
             "freeze_encoder=true", "--out", tmp_path / "run")
    assert r.returncode == 2 and "--set generated_crop=4096" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
