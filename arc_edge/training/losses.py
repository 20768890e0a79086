"""Training losses: rectified flow, the VAE's spectral + KL terms, and ARC's adversarial terms.

ARC (arXiv 2505.08175) with f(x) = -log(1 + e^-x), written in softplus form:
  relativistic D loss  softplus(-(D(real) - D(fake)))   (D wants real above its paired fake)
  relativistic G loss  softplus(D(real) - D(fake))      (G wants its fake above the real)
  contrastive D loss   softplus(-(D(x, c) - D(x, c')))   (real audio scores higher with its own prompt)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.signal_health import WHINE_PERIOD

PEAK_LIMIT = 0.95  # headroom under full scale: the int8 graphs' error adds a little


def rf_loss(v_pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(v_pred, noise - x0)


def relativistic_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-(d_real - d_fake)).mean()


def relativistic_g_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(d_real - d_fake).mean()


def contrastive_d_loss(d_matched: torch.Tensor, d_mismatched: torch.Tensor) -> torch.Tensor:
    return F.softplus(-(d_matched - d_mismatched)).mean()


def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN (the paper's ablation): real -> 1, fake -> 0."""
    return ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()


def lsgan_g_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return ((d_fake - 1) ** 2).mean()


# ARC's ``loss`` option -> (generator loss, discriminator loss)
GAN_LOSSES = {"relativistic": (relativistic_g_loss, relativistic_d_loss), "lsgan": (lsgan_g_loss, lsgan_d_loss)}


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """The audio discriminator's hinge loss (real logits above 1, fake below -1)."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - d_fake).mean()


def feature_matching_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """L1 between the discriminator's activations for the reference and for its reconstruction, each
    layer relative to the reference's mean |activation|, averaged over layers: a distance learned by
    the adversary, paired like the spectral terms (the adversarial term alone only asks for realism)."""
    terms = [F.l1_loss(f, r.detach()) / r.detach().abs().mean().clamp_min(1e-8) for r, f in zip(real, fake, strict=True)]
    return torch.stack(terms).mean()


def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random permutation of 0..n-1 with no fixed point (n >= 2), by rejection."""
    if n < 2:
        raise ValueError("a derangement needs at least 2 items")
    while True:
        perm = torch.randperm(n, generator=generator)
        if not torch.any(perm == torch.arange(n)):
            return perm


def _stft_mag(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop_length=n_fft // 4, window=window, return_complex=True)
    return spec.abs().clamp_min(1e-5)


def _mean_over_resolutions(pred: torch.Tensor, target: torch.Tensor, ffts: tuple[int, ...], term) -> torch.Tensor:
    """Mean over STFT sizes of ``term(pred magnitudes, target magnitudes)``."""
    total = pred.new_zeros(())
    for n_fft in ffts:
        total = total + term(_stft_mag(pred, n_fft), _stft_mag(target, n_fft))
    return total / len(ffts)


def _convergence(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.norm(t - p) / torch.linalg.norm(t)


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor,
                               ffts: tuple[int, ...] = (2048, 512, 128), log_floor: float = 1e-5) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over resolutions (per channel).

    ``log_floor`` bounds the log term from below. Procedural tones leave most STFT bins empty; with
    a tiny floor the log term is dominated by how silent those bins are, which a small decoder
    satisfies best by turning its whole output down."""
    def term(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _convergence(p, t) + F.l1_loss(p.clamp_min(log_floor).log(), t.clamp_min(log_floor).log())
    return _mean_over_resolutions(pred, target, ffts, term)


def spectral_convergence(pred: torch.Tensor, target: torch.Tensor, ffts: tuple[int, ...] = (2048, 512, 128)
                         ) -> torch.Tensor:
    """||T - P|| / ||T|| of STFT magnitudes over the whole batch, averaged over resolutions."""
    return _mean_over_resolutions(pred, target, ffts, _convergence)


def mid_side(x: torch.Tensor) -> torch.Tensor:
    """Stereo [B, 2, T] -> [B, 2, T] of L + R and L - R."""
    return torch.stack((x[:, 0] + x[:, 1], x[:, 0] - x[:, 1]), dim=1)


def stereo_stft_loss(pred: torch.Tensor, target: torch.Tensor, ffts: tuple[int, ...] = (2048, 512, 128),
                     mid_side_weight: float = 1.0, log_floor: float = 1e-5) -> torch.Tensor:
    """Per-channel spectral loss plus spectral convergence on mid (L+R) and side (L-R). No log term on
    mid/side: the side of a centred sound is exactly zero, and a log-magnitude loss towards zero
    swamps everything else. On its own this did not keep the pan; see ``stereo_balance_loss``."""
    loss = multi_resolution_stft_loss(pred, target, ffts, log_floor)
    if mid_side_weight > 0 and pred.shape[1] == 2:
        loss = loss + mid_side_weight * spectral_convergence(mid_side(pred), mid_side(target), ffts)
    return loss


def _log_rms(x: torch.Tensor, frame: int) -> torch.Tensor:
    """[..., T] -> [..., T // frame] log RMS per frame."""
    frames = x.shape[-1] // frame
    power = x[..., :frames * frame].reshape(*x.shape[:-1], frames, frame).pow(2).mean(-1)
    return 0.5 * (power + 1e-6).log()


def envelope_loss(pred: torch.Tensor, target: torch.Tensor, frame: int = 1024) -> torch.Tensor:
    """L1 between per-channel log-RMS envelopes (frames of ``frame`` samples). It measures loudness,
    pan, pulsing and fades whatever the phase or exact frequency, so it rewards the right level
    even while the decoder cannot yet place the partials, where the spectral terms favour silence."""
    return F.l1_loss(_log_rms(pred, frame), _log_rms(target, frame))


def stereo_balance_loss(pred: torch.Tensor, target: torch.Tensor, frame: int = 1024) -> torch.Tensor:
    """L1 between the per-frame left/right level ratios (log RMS of L minus log RMS of R) of stereo
    [B, 2, T] audio. Per-channel losses mostly teach the level both channels share; this one sees
    only the difference between them, the stereo image (pan)."""
    def balance(x: torch.Tensor) -> torch.Tensor:
        level = _log_rms(x, frame)
        return level[:, 0] - level[:, 1]
    return F.l1_loss(balance(pred), balance(target))


def spectral_transport_loss(pred: torch.Tensor, target: torch.Tensor, n_fft: int = 4096,
                            min_hz_bin: int = 2) -> torch.Tensor:
    """Earth mover's distance between each frame's normalised magnitude spectra on a log-frequency
    axis (the L1 between their cumulative distributions, weighted per bin by its width in octaves),
    as a fraction of the axis, averaged over frames weighted by the target's level. Bin-wise spectral
    terms give a partial at the wrong frequency no gradient towards the right one, only towards
    silence; this distance shrinks as the partial moves towards its target, whatever the phase.
    Bins below ``min_hz_bin`` (DC and the lowest) are left out."""
    pred_mag, target_mag = (_stft_mag(x, n_fft)[:, min_hz_bin:] for x in (pred, target))
    level = target_mag.sum(1)
    p, t = pred_mag / pred_mag.sum(1, keepdim=True), target_mag / level[:, None]
    bins = torch.arange(min_hz_bin, min_hz_bin + p.shape[1], device=p.device, dtype=p.dtype)
    octaves = torch.log2((bins + 1) / bins)
    distance = ((p.cumsum(1) - t.cumsum(1)).abs() * octaves[:, None]).sum(1) / octaves.sum()
    return (distance * level).sum() / level.sum().clamp_min(1e-8)


def log_mel_loss(pred: torch.Tensor, target: torch.Tensor, filterbank: torch.Tensor, floor: float = 0.0
                 ) -> torch.Tensor:
    """L1 between log-mel spectrograms (per channel; n_fft from the filterbank, hop n_fft / 4). Mel
    bands overlap, so a partial near but not at its target still moves the loss towards it.

    ``floor`` > 0 bounds each band from below at the level of a band whose every bin sits at that STFT
    magnitude (``floor`` times the band's filter weight), as ``log_floor`` does for the STFT term; 0 adds
    1e-5 instead. Under the tiny additive floor the bands between a tone's partials decide the loss: on a
    high saw's reconstruction 99% of the term's gradient went to the faint noise there, 1% to the partials."""
    n_fft = 2 * (filterbank.shape[1] - 1)
    band_floor = (floor * filterbank.sum(1, keepdim=True)) if floor > 0 else None

    def log_mel(x: torch.Tensor) -> torch.Tensor:
        bands = filterbank @ _stft_mag(x, n_fft)
        return (bands + 1e-5).log() if band_floor is None else torch.maximum(bands, band_floor).log()
    return F.l1_loss(log_mel(pred), log_mel(target))


def waveform_loss(pred: torch.Tensor, target: torch.Tensor, pools: tuple[int, ...] = (1, 16, 256)) -> torch.Tensor:
    """L1 between waveforms, raw and average-pooled over ``pools`` samples, averaged. Magnitude
    spectra are blind to phase and, at their FFT sizes, to DC and the lowest partials: a decoder
    trained on them alone answers tones with a DC offset and a comb at its upsampling rates. The
    pooled terms weight the low end (a pool of 256 samples keeps only what lies below ~170 Hz)."""
    total = pred.new_zeros(())
    for pool in pools:
        p, t = (pred, target) if pool == 1 else (F.avg_pool1d(pred, pool), F.avg_pool1d(target, pool))
        total = total + F.l1_loss(p, t)
    return total / len(pools)


def lowpass(x: torch.Tensor, sample_rate: int, cutoff_hz: float) -> torch.Tensor:
    """``x`` [..., T] without its partials above ``cutoff_hz`` (an FFT brick wall over the whole crop)."""
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate, device=x.device)
    return torch.fft.irfft(torch.fft.rfft(x) * (freqs <= cutoff_hz), n=x.shape[-1])


def highpass(x: torch.Tensor, sample_rate: int, cutoff_hz: float) -> torch.Tensor:
    """``x`` [..., T] without its partials at or below ``cutoff_hz`` (the complement of ``lowpass``)."""
    return x - lowpass(x, sample_rate, cutoff_hz)


def waveform_mse(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 44100, cutoff_hz: float = 0.0
                 ) -> torch.Tensor:
    """Mean-squared error between waveforms, below ``cutoff_hz`` if one is given (> 0). Unlike the
    magnitude spectra its gradient says where each partial's phase should be, so a decoder that makes
    silence or a wrong carrier can reach the tone (a probe: four steady sines, tiny VAE, 50 steps: exact
    tones with this term; silence with the STFT terms, alone or beside it). Over the whole band it also
    asks for the phase of every harmonic and of noise, which the decoder answers by leaving them out."""
    if cutoff_hz > 0:
        pred, target = lowpass(pred, sample_rate, cutoff_hz), lowpass(target, sample_rate, cutoff_hz)
    return F.mse_loss(pred, target)


def dc_loss(pred: torch.Tensor, target: torch.Tensor, tolerance: float = 0.0) -> torch.Tensor:
    """L1 between the per-channel means (the DC) of [B, C, T] audio, counting only what goes past
    ``tolerance``. An L1 pushes with its full weight however small the offset: at step 9's decoder the
    offsets were under 0.002 and the term still had the second largest gradient, chasing the random mean
    of each noise crop. With a tolerance it is a constraint: met, it leaves the update to the others."""
    return F.relu((pred.mean(-1) - target.mean(-1)).abs() - tolerance).mean()


def periodic_part(x: torch.Tensor, period: int) -> torch.Tensor:
    """The part of [B, C, T] audio that repeats exactly every ``period`` samples, DC removed: [B, C, period].
    It holds every tone at a multiple of sr / period; noise and other partials average out over the crop."""
    n = x.shape[-1] // period * period
    folded = x[..., :n].reshape(*x.shape[:-1], n // period, period).mean(-2)
    return folded - folded.mean(-1, keepdim=True)


def whine_loss(pred: torch.Tensor, target: torch.Tensor | None = None, period: int = WHINE_PERIOD,
               noise_factor: float = 0.0, tolerance: float = 0.0, exponent: float = 1.0) -> torch.Tensor:
    """RMS of the difference between the reconstruction's and the reference's ``period``-periodic parts,
    relative to the reference's AC RMS, per clip, averaged: the upsampler's fixed whine at multiples of
    sr / period (the magnitude terms let it through: under their log floor, or beside a loud partial).
    Without a reference (a generated clip): the clip's own periodic part over its own (constant) RMS.

    A residual that does not repeat still leaves a periodic part, since a crop holds only so many
    periods: rendered noise that is not the reference's sample for sample leaves about -34 dB, every
    step, with a gradient of no use to the decoder (at whine_weight 1000 it outweighed every other term
    under gradient clipping). With ``noise_factor`` > 0 the periodic power counts only beyond that many
    times the mean of what repeats every ``period`` - 1 and ``period`` + 1 samples, which a whine at
    multiples of sr / period does not reach and an incoherent residual fills as much.

    Each clip's ratio counts only beyond ``tolerance``: the term is a norm, so below it its gradient
    does not shrink (at step 9's decoder the tones sat at 0.001-0.004, -50 dB and under, and the term
    still took most of every clipped update). With ``exponent`` 2 the term is the power ratio instead,
    whose gradient shrinks with the whine: it pulls hard on a loud whine and little on a faint one."""
    def periodic_power(p: int) -> torch.Tensor:
        return periodic_part(residual, p).pow(2).mean((1, 2))

    residual = pred if target is None else pred - target  # periodic_part is linear
    reference = (pred if target is None else target).detach()
    periodic = periodic_power(period)
    if noise_factor > 0:
        with torch.no_grad():  # a floor, not a target: the decoder must not be pulled to add noise
            incoherent = (periodic_power(period - 1) + periodic_power(period + 1)) / 2
        periodic = F.relu(periodic - noise_factor * incoherent)
    power = (reference - reference.mean(-1, keepdim=True)).pow(2).mean((1, 2))
    ratio = (periodic / (power + 1e-6) + 1e-12).sqrt()  # 1e-12: a finite gradient at 0
    return F.relu(ratio - tolerance).pow(exponent).mean()


BUZZ_NOISE_FACTOR = 3.0  # noise is the buzz term's very case: an incoherent residual must not count


def buzz_loss(pred: torch.Tensor, target: torch.Tensor, period: int) -> torch.Tensor:
    """``whine_loss`` at ``period`` samples with an incoherent floor: what the reconstruction repeats every
    ``period`` samples beyond the reference, over the reference's AC RMS. A reference's own repeating
    tone is matched, not penalised; noise rendered right in level but not sample for sample is free."""
    return whine_loss(pred, target, period=period, noise_factor=BUZZ_NOISE_FACTOR)


SPURIOUS_TONE_FLOOR_DB = -45.0  # per grid bin, re the clip's own energy: under the health check's -40 dB limit
REPEATING_SHARE_FROM = 0.5  # references repeating less than this share of their energy every hop are not scored


def _steady_spectrum(x: torch.Tensor, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, C, T] -> (the power of what repeats every ``hop`` samples in each grid bin (multiples of sr /
    hop) over the clip's energy [B, C, hop // 2 + 1], the share of the energy that repeats [B, C])."""
    repeating = periodic_part(x, hop)
    energy = (x - x.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True) + 1e-12
    # a steady sine of power P lies in one bin of the period's rfft with |X|^2 = P * hop^2 / 2
    return torch.fft.rfft(repeating).abs().pow(2) / (energy * hop ** 2 / 2), repeating.pow(2).mean(-1) / energy[..., 0]


def _repeating_weight(repeating_share: torch.Tensor) -> torch.Tensor:
    """[B, C] -> [B]: how much a clip counts, from how much of it repeats every hop (no gradient)."""
    return (F.relu(repeating_share.mean(-1) - REPEATING_SHARE_FROM) / (1 - REPEATING_SHARE_FROM)).detach()


def spurious_tone_loss(pred: torch.Tensor, target: torch.Tensor, hop: int,
                       floor_db: float = SPURIOUS_TONE_FLOOR_DB) -> torch.Tensor:
    """How far the reconstruction's steady tones (what it repeats every ``hop`` samples, one rfft bin per
    multiple of sr / hop) rise above the reference's, each spectrum relative to its own clip's energy
    (as the health check measures), in log power over a floor ``floor_db``: one-sided, so a missing
    partial is the other terms' business. Relative to the reference's energy instead, a decoder met it
    by rendering tones 5-30 dB too quiet.

    Below the band split's 1500 Hz only the MSE sees the decoder's comb (its upsamplers' tones a grid
    step or more from a tone), and a -20 dB tone is 1% of the MSE a tone's phase error makes. Each clip
    counts in proportion to how much of its reference repeats every hop beyond ``REPEATING_SHARE_FROM``
    (a frame-locked tone: nearly all; noise, or a tone off the grid, nothing): there the reference's own
    steady spectrum is the target, and elsewhere it is chance."""
    floor = 10 ** (floor_db / 10)
    p_power, _ = _steady_spectrum(pred, hop)
    t_power, repeating_share = _steady_spectrum(target, hop)
    excess = F.relu((p_power + floor).log() - (t_power + floor).log()).mean(-1)  # [B, C]
    return (excess.mean(-1) * _repeating_weight(repeating_share)).mean()


def inharmonic_tone_loss(pred: torch.Tensor, hop: int, floor_db: float = SPURIOUS_TONE_FLOOR_DB) -> torch.Tensor:
    """``spurious_tone_loss`` for a clip with no reference (a decode of the DiT's own latents): its
    steady tones off the harmonics of its loudest one, against the floor. The data are single sounds,
    so a clean render of a steady tone has nothing else that repeats every hop."""
    floor = 10 ** (floor_db / 10)
    power, repeating_share = _steady_spectrum(pred, hop)
    bins = torch.arange(power.shape[-1], device=power.device)
    loudest = power.detach().mean(1)[:, 1:].argmax(-1) + 1  # [B]
    off_harmonics = (bins[None] % loudest[:, None] != 0).to(power.dtype)[:, None]  # [B, 1, bins]; DC is a harmonic
    excess = (F.relu((power + floor).log() - math.log(floor)) * off_harmonics).mean(-1)
    return (excess.mean(-1) * _repeating_weight(repeating_share)).mean()


def peak_loss(pred: torch.Tensor, limit: float = PEAK_LIMIT) -> torch.Tensor:
    """How far each channel's largest |sample| goes past ``limit``, averaged over clips and channels:
    what a written file would clip (the eval counts a sample at full scale as clipping)."""
    return F.relu(pred.abs().amax(-1) - limit).mean()


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of paired unit vectors a[i] <-> b[i] [B, D]: each must pick its own pair
    from the batch, in both directions."""
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def vae_kl(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    var = std ** 2
    return 0.5 * (mean ** 2 + var - var.log() - 1).sum(1).mean()
