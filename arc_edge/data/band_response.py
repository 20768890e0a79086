"""How much of each octave band a VAE reconstruction keeps: its energy over the reference's, in dB.

The attribute scores say that a waveform is misread; this says why. A decoder that leaves out
everything above 1 kHz turns white noise into band noise (which the analyser hears as pitched) and
squares into sines; its band response shows -20 to -40 dB in the upper bands.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .procedural import PITCHES

BAND_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)  # the last band runs to Nyquist
MIN_SHARE = 1e-4  # a band holding less of the reference's energy than this (-40 dB) is not scored


def bands(sample_rate: int) -> list[tuple[float, float]]:
    return list(zip(BAND_EDGES_HZ, (*BAND_EDGES_HZ[1:], sample_rate / 2), strict=True))


def band_energies(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy of the DC-free mono mix of ``audio`` [channels, n] per band of ``bands``."""
    audio = np.asarray(audio, dtype=np.float64)
    mono = (audio - audio.mean(axis=1, keepdims=True)).mean(axis=0)
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(len(mono), 1.0 / sample_rate)
    return np.array([power[(freqs > lo) & (freqs <= hi)].sum() for lo, hi in bands(sample_rate)])


def band_response_db(reference: np.ndarray, reconstruction: np.ndarray, sample_rate: int) -> list[float | None]:
    """Per band, 10 log10(reconstruction energy / reference energy); None where the reference has
    (next to) nothing, as above a sine's frequency."""
    ref, rec = band_energies(reference, sample_rate), band_energies(reconstruction, sample_rate)
    total = max(ref.sum(), 1e-30)
    return [float(10 * np.log10(max(o, 1e-30) / r)) if r >= MIN_SHARE * total else None
            for r, o in zip(ref, rec, strict=True)]


def sound_label(waveform: str, pitch: str) -> str:
    """What a band response is grouped by: a tone's waveform and register ("saw low"), or "noise".
    One median over all registers would mix a low saw's fundamental band with a high saw's empty one."""
    return waveform if waveform == "noise" else f"{waveform} {pitch}"


def label_order(label: str) -> tuple:
    """Sort key of sound labels: by waveform name, then register from low to high."""
    waveform, _, pitch = label.partition(" ")
    return waveform, PITCHES.index(pitch) if pitch in PITCHES else -1, pitch


def summarize_band_response(per_clip: list[list[float | None]], labels: list[str], sample_rate: int) -> dict:
    """Median response per band over the clips of each sound (``sound_label``); None where no clip
    scores the band."""
    grouped: dict[str, list[list[float | None]]] = defaultdict(list)
    for response, label in zip(per_clip, labels, strict=True):
        grouped[label].append(response)
    medians = {}
    for label in sorted(grouped, key=label_order):
        columns = zip(*grouped[label], strict=True)
        medians[label] = [float(np.median(scored)) if (scored := [v for v in column if v is not None]) else None
                          for column in columns]
    return {"bands_hz": [[lo, hi] for lo, hi in bands(sample_rate)], "median_db_by_sound": medians}


def _band_name(lo: float, hi: float) -> str:
    return f"{lo / 1000:g}-{hi / 1000:g} kHz"


def format_band_response(summary: dict) -> list[str]:
    """One line per sound: ``saw low: 0-0.25 kHz +1.2 dB, ...`` (bands it does not score left out)."""
    edges = summary["bands_hz"]
    return [f"{label}: " + ", ".join(f"{_band_name(lo, hi)} {db:+.1f} dB"
                                     for (lo, hi), db in zip(edges, medians, strict=True) if db is not None)
            for label, medians in summary["median_db_by_sound"].items()]


def band_response_table(summaries: dict[str, dict]) -> str:
    """Markdown: one row per report label and sound, one column per band (dB; '-' where unscored).
    Reports whose bands differ (another sample rate) get a table of their own."""
    layouts: dict[tuple, list[str]] = defaultdict(list)
    for label, summary in summaries.items():
        layouts[tuple(map(tuple, summary["bands_hz"]))].append(label)
    tables = []
    for edges, labels in layouts.items():
        head = ["", "sound", *(_band_name(lo, hi) for lo, hi in edges)]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join([label, sound, *("-" if db is None else f"{db:+.1f}" for db in medians)]) + " |"
                  for label in labels for sound, medians in summaries[label]["median_db_by_sound"].items()]
        tables.append("\n".join(lines))
    return "\n\n".join(tables)
