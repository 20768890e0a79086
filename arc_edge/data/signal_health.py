"""Signal health of a clip: what a listener hears that attribute scores do not show.

Every quality figure is reported next to these, so a model cannot score by accident (a DC offset
on one channel measured as "panned", a fixed whine measured as "pitch"). Energy figures are taken
after removing each channel's DC.
"""

from __future__ import annotations

import numpy as np

CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
SILENCE_RMS = 1e-4  # AC RMS below this is silence
DC_LIMIT = 0.01  # |DC| per channel above this is an offset a listener hears as a thump at the onset
ARTEFACT_LIMIT_DB = -40.0  # artefact tones above this (relative to the clip's AC energy) are audible
CLICK_RATIO = 0.5  # last sample above this share of the clip's AC RMS: the clip ends in a click
TONE_HALF_WIDTH_HZ = 25.0  # artefact frequencies this close to Nyquist are not looked for
FLOOR_HALF_WIDTH_HZ = 60.0  # the local spectral floor an artefact tone is measured against
WHINE_PERIOD = 8  # samples: the VAE's upsampler leaves tones at multiples of sr / 8 (the training loss uses it too)


def artefact_frequencies(sample_rate: int, upsampling: int = WHINE_PERIOD) -> list[float]:
    """Tones a transposed-conv upsampler by ``upsampling`` leaves at multiples of sr / upsampling
    (5.5, 11 and 16.5 kHz at 44.1 kHz for the VAE's last stride of 8)."""
    step = sample_rate / upsampling
    return [k * step for k in range(1, upsampling // 2 + 1) if k * step < sample_rate / 2 - TONE_HALF_WIDTH_HZ]


def health(audio: np.ndarray, sample_rate: int, hop: int) -> dict:
    """audio: [channels, n]. ``hop``: audio samples per latent frame (periodicity at the VAE's hop)."""
    audio = np.asarray(audio, dtype=np.float64)
    dc = audio.mean(axis=1)
    ac = audio - dc[:, None]
    mono = ac.mean(axis=0)
    rms = float(np.sqrt((ac ** 2).mean()))
    # whole periods of sr/8 and no window: an exactly periodic whine then lies in one bin
    whole = mono[: len(mono) // WHINE_PERIOD * WHINE_PERIOD]
    spectrum = np.abs(np.fft.rfft(whole)) ** 2
    bin_hz = sample_rate / len(whole)
    excess = sum(_tone_excess(spectrum, f / bin_hz, FLOOR_HALF_WIDTH_HZ / bin_hz) for f in artefact_frequencies(sample_rate))
    tone_share = float(excess / max(spectrum.sum(), 1e-30))
    end_level = float(np.abs(ac[:, -1]).max() / max(rms, 1e-12))
    return {
        "dc": [round(float(d), 5) for d in dc],
        "peak": round(float(np.abs(audio).max()), 5),
        "clipped_share": float((np.abs(audio) >= CLIP_LEVEL).mean()),
        "ac_rms": rms,
        "silent": rms < SILENCE_RMS,
        "artefact_tone_db": round(10 * np.log10(max(tone_share, 1e-12)), 2),
        "hop_periodicity": round(_autocorrelation(mono, hop), 4),
        "end_level": round(end_level, 4),
    }


def _tone_excess(spectrum: np.ndarray, centre: float, half_width: float) -> float:
    """Power of a steady tone at bin ``centre`` above the local floor (the mean power of the bins
    within ``half_width`` around it). An upsampler's whine is exactly periodic at a multiple of
    sr/8, so it lies in that one bin; measured against the floor, a saw's own harmonics or
    broadband noise near sr/8 are not taken for a whine."""
    c, w = int(round(centre)), max(int(half_width), 4)
    if c - w < 0 or c + w >= len(spectrum):
        return 0.0
    floor = np.concatenate((spectrum[c - w:c - 1], spectrum[c + 2:c + w + 1])).mean()
    return max(float(spectrum[c] - floor), 0.0)


def _autocorrelation(x: np.ndarray, lag: int) -> float:
    """Normalised autocorrelation at ``lag`` (near 1: the signal repeats every ``lag`` samples)."""
    if lag >= len(x) // 2:
        return 0.0
    a, b = x[:-lag], x[lag:]
    return float((a @ b) / max(np.sqrt((a @ a) * (b @ b)), 1e-30))


def problems(h: dict) -> list[str]:
    """What is wrong with one clip, in words (empty: healthy)."""
    out = []
    if max(abs(d) for d in h["dc"]) > DC_LIMIT:
        out.append("dc")
    if h["clipped_share"] > 0:
        out.append("clipping")
    if h["silent"]:
        out.append("silence")
    if h["artefact_tone_db"] > ARTEFACT_LIMIT_DB:
        out.append("artefact_tone")
    if h["end_level"] > CLICK_RATIO:
        out.append("end_click")
    return out


def summarize_health(clips: list[dict]) -> dict:
    """Share of clips with each problem, and the worst figures."""
    n = max(len(clips), 1)
    found = [problems(h) for h in clips]
    return {
        "clips": len(clips),
        "healthy_share": sum(not p for p in found) / n,
        "problem_share": {k: sum(k in p for p in found) / n
                          for k in ("dc", "clipping", "silence", "artefact_tone", "end_click")},
        "max_abs_dc": max((max(abs(d) for d in h["dc"]) for h in clips), default=0.0),
        "median_abs_dc": float(np.median([max(abs(d) for d in h["dc"]) for h in clips])) if clips else 0.0,
        "max_artefact_tone_db": max((h["artefact_tone_db"] for h in clips), default=-120.0),
        "median_hop_periodicity": float(np.median([h["hop_periodicity"] for h in clips])) if clips else 0.0,
        "limits": {"dc": DC_LIMIT, "artefact_tone_db": ARTEFACT_LIMIT_DB, "end_level": CLICK_RATIO},
    }
