"""Attribute analysers: measure waveform, pitch register, pulsing, pan and fade back from audio.

They use the same boundaries as the procedural generator (``procedural.py``) and nothing learned,
so they are an independent judge of whether generated audio follows its prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .procedural import PITCH_RANGES, PULSE_RATES

FRAME_HZ = 100  # envelope frames per second


@dataclass(frozen=True)
class Measurement:
    attributes: dict[str, str]
    f0_hz: float
    pan_ratio: float  # left energy / total
    fade_slope: float
    pulse_depth: dict[str, float]
    periodicity: float


def _envelope(mono: np.ndarray, sr: int) -> np.ndarray:
    hop = sr // FRAME_HZ
    n = len(mono) // hop
    frames = mono[: n * hop].reshape(n, hop)
    return np.sqrt((frames ** 2).mean(axis=1) + 1e-12)


def pan_ratio(audio: np.ndarray) -> float:
    e = (audio.astype(np.float64) ** 2).sum(axis=1)
    return float(e[0] / max(e.sum(), 1e-12))


def classify_pan(ratio: float) -> str:
    return "left" if ratio > 0.7 else "right" if ratio < 0.3 else "center"


def fade_slope(env: np.ndarray) -> float:
    """Slope of the envelope over the clip (time scaled to [0, 1]) relative to its mean."""
    x = np.linspace(0.0, 1.0, len(env))
    slope = np.polyfit(x, env, 1)[0]
    return float(slope / max(env.mean(), 1e-9))


def classify_fade(slope: float) -> str:
    return "in" if slope > 0.8 else "out" if slope < -0.8 else "none"


def pulse_depths(env: np.ndarray) -> dict[str, float]:
    """Modulation depth of the (detrended, mean-normalised) envelope at each pulsing rate."""
    x = np.linspace(0.0, 1.0, len(env))
    trend = np.polyval(np.polyfit(x, env, 1), x)
    resid = (env - trend) / max(env.mean(), 1e-9)
    t = np.arange(len(env)) / FRAME_HZ
    depths = {}
    for name, rate in PULSE_RATES.items():
        if rate > 0:  # amplitude of the sinusoid at that rate (least squares projection)
            c, s = np.cos(2 * np.pi * rate * t), np.sin(2 * np.pi * rate * t)
            depths[name] = float(2 * np.hypot(resid @ c, resid @ s) / len(env))
    return depths


def classify_pulse(depths: dict[str, float]) -> str:
    name, depth = max(depths.items(), key=lambda kv: kv[1])
    return name if depth > 0.25 else "steady"


def _loudest_window(mono: np.ndarray, sr: int, seconds: float = 0.25) -> np.ndarray:
    n = min(len(mono), int(seconds * sr))
    hop = max(n // 4, 1)
    starts = range(0, max(len(mono) - n, 0) + 1, hop)
    best = max(starts, key=lambda s: float((mono[s:s + n] ** 2).sum()))
    return mono[best:best + n]


def f0_autocorrelation(segment: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 1500.0
                       ) -> tuple[float, float]:
    """-> (f0 in Hz, normalised autocorrelation at that lag; near 1 for periodic sound)."""
    x = segment - segment.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / max(ac[0], 1e-12)
    # unbiased: correct for the shrinking overlap at long lags
    ac = ac * n / np.maximum(n - np.arange(n), 1)
    lo, hi = int(sr / fmax), min(int(sr / fmin), n - 2)
    lag = lo + int(np.argmax(ac[lo:hi]))
    # prefer the shortest lag whose peak is nearly as high (avoids octave-down errors)
    peak = ac[lag]
    for cand in range(lo, lag):
        if ac[cand] >= 0.9 * peak and ac[cand] >= ac[cand - 1] and ac[cand] >= ac[cand + 1]:
            lag = cand
            break
    if 1 <= lag < n - 1:  # parabolic refinement
        a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
        denom = a - 2 * b + c
        # a flat or noisy peak can put the vertex far away: stay within half a sample of the peak
        shift = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom != 0 else 0.0
    else:
        shift = 0.0
    return float(sr / (lag + shift)), float(min(ac[lag], 1.0))


def classify_pitch(f0: float) -> str:
    low_hi, mid_lo = PITCH_RANGES["low"][1], PITCH_RANGES["mid"][0]
    mid_hi, high_lo = PITCH_RANGES["mid"][1], PITCH_RANGES["high"][0]
    if f0 < np.sqrt(low_hi * mid_lo):
        return "low"
    return "mid" if f0 < np.sqrt(mid_hi * high_lo) else "high"


def harmonic_ratios(segment: np.ndarray, sr: int, f0: float, count: int = 3) -> list[float]:
    """Magnitude of harmonics 2..count+1 relative to the fundamental."""
    win = np.hanning(len(segment))
    spec = np.abs(np.fft.rfft(segment * win))
    freqs = np.fft.rfftfreq(len(segment), 1.0 / sr)

    def peak(f: float) -> float:
        band = (freqs > f * 0.94) & (freqs < f * 1.06)
        return float(spec[band].max()) if band.any() else 0.0

    h1 = max(peak(f0), 1e-12)
    return [peak(k * f0) / h1 for k in range(2, count + 2)]


def classify_waveform(periodicity: float, ratios: list[float]) -> str:
    if periodicity < 0.5:
        return "noise"
    h2, h3 = ratios[0], ratios[1]
    if h2 < 0.12 and h3 < 0.12:
        return "sine"
    return "saw" if h2 > 0.25 else "square"


def analyse(audio: np.ndarray, sample_rate: int) -> Measurement:
    """audio: float [2, n] stereo. Each channel's DC is removed first: energies, pitch and waveform
    are measured on what a listener hears (an offset on one channel is not "panned")."""
    audio = np.asarray(audio, dtype=np.float64)
    audio = audio - audio.mean(axis=1, keepdims=True)
    mono = audio.mean(axis=0)
    env = _envelope(mono, sample_rate)
    segment = _loudest_window(mono, sample_rate)
    f0, periodicity = f0_autocorrelation(segment, sample_rate)
    waveform = classify_waveform(periodicity, harmonic_ratios(segment, sample_rate, f0))
    ratio, slope, depths = pan_ratio(audio), fade_slope(env), pulse_depths(env)
    attrs = {"waveform": waveform, "pitch": classify_pitch(f0), "pulse": classify_pulse(depths),
             "pan": classify_pan(ratio), "fade": classify_fade(slope)}
    return Measurement(attrs, f0, ratio, slope, depths, periodicity)


def score(intended: dict[str, str], measured: dict[str, str]) -> dict[str, bool]:
    """Per-attribute hit; pitch is not scored for noise (its captions never name one)."""
    return {k: measured[k] == v for k, v in intended.items()
            if not (k == "pitch" and intended.get("waveform") == "noise")}
