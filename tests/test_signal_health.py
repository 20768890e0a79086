"""Signal-health figures against signals built to have (or not have) each problem."""

import numpy as np
import pytest

from arc_edge.data.analysis import analyse
from arc_edge.data.signal_health import health, problems, summarize_health

SR = 44100


def _tone(freq, seconds=1.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def test_a_clean_faded_tone_is_healthy():
    x = _tone(440.0) * np.hanning(SR)  # starts and ends at zero
    h = health(np.stack([x, x]), SR, 2048)
    assert problems(h) == [] and abs(h["dc"][0]) < 1e-3 and h["artefact_tone_db"] < -60


def test_each_problem_is_found():
    x = _tone(440.0)
    cases = {
        "dc": np.stack([x + 0.2, x]),
        "clipping": np.stack([np.clip(x * 5, -1, 1), x]),
        "silence": np.zeros((2, SR)),
        "artefact_tone": np.stack([x + _tone(SR / 8, amp=0.03)] * 2),  # a whine at 5.5 kHz, -20 dB
        "end_click": np.stack([x[: SR - 30]] * 2),  # cut mid-cycle near a peak
    }
    for name, audio in cases.items():
        assert name in problems(health(audio, SR, 2048)), name
    summary = summarize_health([health(a, SR, 2048) for a in cases.values()])
    assert summary["problem_share"]["dc"] == pytest.approx(1 / 5) and summary["max_abs_dc"] == pytest.approx(0.2, abs=1e-3)


def test_a_saws_own_harmonics_and_noise_are_not_taken_for_a_whine():
    t = np.arange(3 * SR) / SR
    saw = 0.3 * (2 * ((((SR / 8) - 10) / 18 * t) % 1.0) - 1)  # its 18th harmonic 10 Hz below sr/8
    assert "artefact_tone" not in problems(health(np.stack([saw] * 2), SR, 2048))
    rng = np.random.default_rng(3)
    for _ in range(10):
        noise = 0.2 * rng.standard_normal(3 * SR)
        assert health(np.stack([noise] * 2), SR, 2048)["artefact_tone_db"] < -40
    whine = 0.3 * (2 * ((((SR / 8) - 10) / 18 * t) % 1.0) - 1) + _tone(SR / 8, seconds=3.0, amp=0.01)
    assert "artefact_tone" in problems(health(np.stack([whine] * 2), SR, 2048))  # -30 dB on top of it


def test_rendered_references_are_healthy():
    import random

    from arc_edge.data.procedural import random_spec, render

    rng = random.Random(11)
    found = [problems(health(render(random_spec(rng), 2.97, SR, seed), SR, 2048)) for seed in range(60)]
    assert sum(bool(p) for p in found) <= 1, found  # a harmonic exactly on sr/8 is possible, rarely


def test_hop_periodicity_finds_noise_that_repeats_every_hop():
    rng = np.random.default_rng(0)
    block = rng.standard_normal(2048)
    repeating, fresh = np.tile(block, 20), rng.standard_normal(2048 * 20)
    assert health(np.stack([repeating] * 2), SR, 2048)["hop_periodicity"] > 0.99
    assert abs(health(np.stack([fresh] * 2), SR, 2048)["hop_periodicity"]) < 0.05


def test_dc_on_one_channel_is_not_measured_as_pan():
    x = _tone(220.0, seconds=2.0)
    assert analyse(np.stack([x + 0.5, x]), SR).attributes["pan"] == "center"
    assert analyse(np.stack([x, 0.1 * x]), SR).attributes["pan"] == "left"
