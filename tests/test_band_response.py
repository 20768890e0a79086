"""The band response of a reconstruction: energy kept per octave band, against a low-pass done here."""

import numpy as np
import pytest

from arc_edge.data.band_response import band_response_db, format_band_response, sound_label, summarize_band_response

SR = 44100


def _brick_lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
    spec = np.fft.rfft(x, axis=-1)
    spec[..., np.fft.rfftfreq(x.shape[-1], 1 / SR) > cutoff_hz] = 0
    return np.fft.irfft(spec, n=x.shape[-1], axis=-1)


def test_a_lowpassed_noise_loses_its_upper_bands_and_keeps_the_lower():
    noise = np.random.default_rng(0).standard_normal((2, SR)) * 0.2
    response = band_response_db(noise, _brick_lowpass(noise, 1000.0), SR)
    assert all(abs(db) < 0.01 for db in response[:3])  # 0-250, 250-500, 500-1000 Hz untouched
    assert all(db < -100 for db in response[3:])  # everything above 1 kHz removed
    assert band_response_db(noise, 0.5 * noise + 0.3, SR) == pytest.approx([10 * np.log10(0.25)] * 8)  # DC ignored


def test_bands_a_sine_leaves_empty_are_not_scored_and_medians_are_per_waveform_and_register():
    t = np.arange(SR) / SR
    sine = np.stack([np.sin(2 * np.pi * 300 * t)] * 2)
    response = band_response_db(sine, sine * 2, SR)
    assert response[1] == pytest.approx(10 * np.log10(4)) and response[0] is None and response[2:] == [None] * 6
    labels = [sound_label("sine", "mid"), sound_label("noise", "low"), sound_label("noise", "high"),
              sound_label("sine", "high"), sound_label("sine", "low")]
    assert labels == ["sine mid", "noise", "noise", "sine high", "sine low"]  # noise has no register
    summary = summarize_band_response([response, [-1.0] * 8, [-3.0] * 8, [-9.0] * 8, [5.0] * 8], labels, SR)
    medians = summary["median_db_by_sound"]
    assert list(medians) == ["noise", "sine low", "sine mid", "sine high"]  # registers low to high
    assert medians["noise"] == [-2.0] * 8 and medians["sine high"] == [-9.0] * 8
    assert medians["sine mid"][1] == pytest.approx(6.02, abs=0.01)
    assert summary["bands_hz"][-1] == [16000.0, SR / 2]
    lines = format_band_response(summary)
    assert lines[2] == "sine mid: 0.25-0.5 kHz +6.0 dB" and lines[0].startswith("noise: 0-0.25 kHz -2.0 dB, ")
