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
WHINE_PERIOD = 8  # samples: the VAE's last upsampler leaves tones at multiples of sr / 8 (the training loss uses it too)
NO_TONE_SHARE = 1e-12  # -120 dB: rounding, not a tone
NYQUIST_MARGIN_HZ = 25.0  # steady tones this close to Nyquist are not looked for
MIN_FRAMES = 4  # over fewer hops, "repeats every hop" means little: no artefact tone is looked for
MIN_FLOOR_BINS = 16  # each side: a floor of fewer bins is noisy enough for noise to pass the ratio by chance
STEADY_TONE_RATIO = 20.0  # a grid bin this many times its local floor (and a local peak) is a steady tone, not chance
OWN_TONE_SHARE = 0.05  # the loudest peak with this share of the energy is the clip's own tone (unless the
# clip was asked to be noise: then nothing steady is its own, and a whistle this loud counts in full)
SUBHARMONIC_SHARE = 1 / 8  # a band at 1/d of the loudest one, this loud beside it, holds the fundamental
MAX_SUBHARMONIC = 4  # d at most this: a lower "fundamental" would excuse more of the grid as its harmonics
# a grid tone this near a harmonic belongs to the sound: a pulse's sidebands (up to 6 Hz out) and a
# fade's spread; a decoder's artefact tones next to a tone on the grid are one step (sr / hop) away
OWN_BAND_HZ = 12.0
FUNDAMENTAL_ERROR_BINS = 0.1  # per harmonic number: how far the n-th harmonic may lie from n times the estimate


def health(audio: np.ndarray, sample_rate: int, hop: int, tonal: bool = True) -> dict:
    """audio: [channels, n]. ``hop``: audio samples per latent frame (periodicity at the VAE's hop).
    ``tonal``: the clip may have a tone of its own, whose harmonics are not artefacts; False for a
    clip that was asked to be noise, where every steady tone is one."""
    audio = np.asarray(audio, dtype=np.float64)
    dc = audio.mean(axis=1)
    ac = audio - dc[:, None]
    mono = ac.mean(axis=0)
    rms = float(np.sqrt((ac ** 2).mean()))
    end_level = float(np.abs(ac[:, -1]).max() / max(rms, 1e-12))
    tone_share, tone_hz = artefact_tone(mono, sample_rate, hop, tonal)
    return {
        "dc": [round(float(d), 5) for d in dc],
        "peak": round(float(np.abs(audio).max()), 5),
        "clipped_share": float((np.abs(audio) >= CLIP_LEVEL).mean()),
        "ac_rms": rms,
        "silent": rms < SILENCE_RMS,
        "artefact_tone_db": round(10 * np.log10(max(tone_share, NO_TONE_SHARE)), 2),
        "artefact_tone_hz": round(tone_hz, 2),  # where the loudest one lies (0: none found)
        "hop_periodicity": round(_autocorrelation(mono, hop), 4),
        "end_level": round(end_level, 4),
    }


def artefact_tone(mono: np.ndarray, sample_rate: int, hop: int, tonal: bool = True) -> tuple[float, float]:
    """(energy share, frequency in Hz) of the loudest steady tone that is not a harmonic of the clip's
    own tone (with ``tonal`` False, of any steady tone); (0, 0) when there is none.

    A decoder whose upsamplers repeat every hop (and every sr / 8, sr / 32 ... inside it) leaves
    its artefacts exactly periodic at the hop: over whole hops and with no window, they lie each in
    one bin of the grid of multiples of sr / hop. A grid bin counts when it is a local peak at least
    ``STEADY_TONE_RATIO`` times the mean of the bins around it (so noise does not, by chance) and
    is not near a harmonic of the clip's fundamental (a tone on the grid, as frame-locked tones
    are, is the sound itself)."""
    frames = len(mono) // hop
    if frames < MIN_FRAMES:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(mono[: frames * hop])) ** 2
    total = spectrum.sum()
    if total <= 0:
        return 0.0, 0.0
    bin_hz = sample_rate / (frames * hop)
    last = int((sample_rate / 2 - NYQUIST_MARGIN_HZ) / bin_hz)
    half = max(frames // 2, MIN_FLOOR_BINS)
    centres = np.arange(frames, last - half, frames)  # every grid frequency with its whole floor window inside
    centres = centres[centres > half]
    if not len(centres):
        return 0.0, 0.0
    around = _sums_around(spectrum, centres, half) - spectrum[centres - 1] - spectrum[centres] - spectrum[centres + 1]
    floor = around / (2 * half - 2)
    peak = (spectrum[centres] >= spectrum[centres - 1]) & (spectrum[centres] >= spectrum[centres + 1])
    excess = np.where(peak & (spectrum[centres] > STEADY_TONE_RATIO * floor), spectrum[centres] - floor, 0.0)
    fundamental = own_fundamental_bin(mono[: frames * hop], spectrum, bin_hz) if tonal else None
    if fundamental is not None:
        n = np.maximum(np.round(centres / fundamental), 1)
        excess[np.abs(centres - n * fundamental) <= OWN_BAND_HZ / bin_hz + FUNDAMENTAL_ERROR_BINS * n] = 0.0
    loudest = int(np.argmax(excess))
    share = float(excess[loudest] / total)
    return (share, float(centres[loudest] * bin_hz)) if share > NO_TONE_SHARE else (0.0, 0.0)


def own_fundamental_bin(mono: np.ndarray, spectrum: np.ndarray, bin_hz: float) -> float | None:
    """The fundamental of the clip's own tone (in bins of ``spectrum``, the power of an unwindowed FFT
    of ``mono``), or None for a clip with no dominant tone (noise). The clip's tone is the band of +-``OWN_BAND_HZ`` with
    the most energy (a pulsed or faded tone spreads inside it) when that holds ``OWN_TONE_SHARE`` of
    the energy; a band at 1/d of its frequency with ``SUBHARMONIC_SHARE`` of its energy holds the
    fundamental (the loudest being a harmonic)."""
    windowed = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    half = max(int(OWN_BAND_HZ / bin_hz), 1)
    lowest = int(np.ceil(20.0 / bin_hz)) + half  # nothing under 20 Hz is a tone
    if lowest + half >= len(spectrum):
        return None
    band = np.zeros(len(spectrum))
    band[lowest: len(spectrum) - half] = _sums_around(spectrum, np.arange(lowest, len(spectrum) - half), half)
    loudest = int(np.argmax(band))
    if band[loudest] < OWN_TONE_SHARE * spectrum.sum():
        return None
    fundamental = _band_peak(windowed, loudest, half)
    for d in range(MAX_SUBHARMONIC, 1, -1):
        centre = int(round(fundamental / d))
        if centre >= lowest and band[centre] >= SUBHARMONIC_SHARE * band[loudest]:
            return _band_peak(windowed, centre, half)
    return fundamental


def _sums_around(power: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """The power in the bins within ``half`` of each centre (each window wholly inside ``power``)."""
    sums = np.concatenate(([0.0], np.cumsum(power)))
    return sums[centres + half + 1] - sums[centres - half]


def _band_peak(power: np.ndarray, centre: int, half: int) -> float:
    """The loudest bin within ``half`` bins of ``centre``, to a fraction of a bin (a parabola
    through the log powers around it)."""
    lo = max(centre - half, 1)
    i = lo + int(np.argmax(power[lo: centre + half + 1]))
    if i >= len(power) - 1:
        return float(i)
    a, b, c = np.log(np.maximum(power[i - 1:i + 2], 1e-300))
    denominator = a - 2 * b + c
    return float(i) if denominator >= 0 else float(i + 0.5 * (a - c) / denominator)


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
        "median_artefact_tone_db": float(np.median([h["artefact_tone_db"] for h in clips])) if clips else -120.0,
        "median_hop_periodicity": float(np.median([h["hop_periodicity"] for h in clips])) if clips else 0.0,
        "limits": {"dc": DC_LIMIT, "artefact_tone_db": ARTEFACT_LIMIT_DB, "end_level": CLICK_RATIO},
    }
