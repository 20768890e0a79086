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
    clips = [health(a, SR, 2048) for a in cases.values()]
    summary = summarize_health(clips)
    assert summary["problem_share"]["dc"] == pytest.approx(1 / 5) and summary["max_abs_dc"] == pytest.approx(0.2, abs=1e-3)
    tones = sorted(h["artefact_tone_db"] for h in clips)
    assert summary["median_artefact_tone_db"] == tones[2] and summary["max_artefact_tone_db"] == tones[-1] > -40


def test_a_saws_own_harmonics_and_noise_are_not_taken_for_a_whine():
    t = np.arange(3 * SR) / SR
    saw = 0.3 * (2 * ((((SR / 8) - 30) / 18 * t) % 1.0) - 1)  # its 18th harmonic 30 Hz below sr/8
    assert "artefact_tone" not in problems(health(np.stack([saw] * 2), SR, 2048))
    rng = np.random.default_rng(3)
    for _ in range(10):
        noise = 0.2 * rng.standard_normal(3 * SR)
        assert health(np.stack([noise] * 2), SR, 2048)["artefact_tone_db"] < -40
    for frames in (2, 4, 6):  # short clips: too few bins around a grid tone for a steady floor
        for _ in range(20):
            noise = 0.2 * rng.standard_normal(frames * 2048)
            assert health(np.stack([noise] * 2), SR, 2048)["artefact_tone_db"] < -40, frames
    whine = saw + _tone(SR / 8, seconds=3.0, amp=0.01)
    assert "artefact_tone" in problems(health(np.stack([whine] * 2), SR, 2048))  # -30 dB on top of it


GRID = SR / 2048  # the latent frame rate: frame-locked tones and a decoder's artefacts lie on its multiples


def _grid_saw(step: int, seconds: float = 4.0, amp: float = 0.3) -> np.ndarray:
    """A band-limited saw on the frame grid, from its partials (independent of the renderer)."""
    t = np.arange(int(seconds * SR)) / SR
    return amp * sum(np.sin(2 * np.pi * n * step * GRID * t) / n for n in range(1, int(SR / 2 / (step * GRID)) + 1))


@pytest.mark.parametrize("fundamental", [_tone(37 * GRID, seconds=4.0), _grid_saw(37), _grid_saw(9)])
def test_a_steady_tone_off_the_harmonics_is_measured_at_its_level(fundamental):
    """The decoder's comb next to a tone on the grid: one grid step away, or far below it."""
    energy = (fundamental ** 2).mean()
    clean = health(np.stack([fundamental] * 2), SR, 2048)
    assert clean["artefact_tone_db"] < -80 and clean["artefact_tone_hz"] in (0.0, 0)  # its own harmonics are the sound
    for step, level_db in ((32, -30.0), (38, -25.0), (5, -35.0), (32, -50.0)):
        if step % 9 == 0 or step % 37 == 0:
            continue
        tone = np.sqrt(2 * energy * 10 ** (level_db / 10)) * np.sin(2 * np.pi * step * GRID * np.arange(len(fundamental)) / SR)
        h = health(np.stack([fundamental + tone] * 2), SR, 2048)
        assert h["artefact_tone_db"] == pytest.approx(level_db, abs=0.6)
        assert h["artefact_tone_hz"] == pytest.approx(step * GRID, abs=0.01)
        assert ("artefact_tone" in problems(h)) == (level_db > -40)


def test_a_fundamental_fainter_than_its_octave_is_still_the_sound():
    t = np.arange(4 * SR) / SR
    tone = 0.12 * np.sin(2 * np.pi * 9 * GRID * t) + 0.3 * np.sin(2 * np.pi * 18 * GRID * t) \
        + 0.1 * np.sin(2 * np.pi * 27 * GRID * t)
    assert health(np.stack([tone] * 2), SR, 2048)["artefact_tone_db"] < -80
    comb = 0.3 * 10 ** (-30 / 20) * np.sin(2 * np.pi * 14 * GRID * t)  # not a harmonic of 9 steps
    assert "artefact_tone" in problems(health(np.stack([tone + comb] * 2), SR, 2048))


def test_a_steady_tone_in_noise_is_an_artefact():
    rng = np.random.default_rng(5)
    noise = 0.2 * rng.standard_normal(4 * SR)
    whistle = 0.2 * np.sqrt(2) * 10 ** (-25 / 20) * np.sin(2 * np.pi * 40 * GRID * np.arange(4 * SR) / SR)
    assert health(np.stack([noise + whistle] * 2), SR, 2048)["artefact_tone_db"] == pytest.approx(-25, abs=0.6)


def test_a_whistle_loud_enough_to_pass_for_a_tone_counts_in_full_when_noise_was_asked():
    """A steady tone with 10% of a noise clip's energy is excused as the clip's own tone unless the
    clip was asked to be noise; the analysers still hear the clip as noise, so only this catches it."""
    rng = np.random.default_rng(6)
    noise = 0.2 * rng.standard_normal(4 * SR)
    whistle = 0.2 * np.sqrt(2) * 10 ** (-10 / 20) * np.sin(2 * np.pi * 40 * GRID * np.arange(4 * SR) / SR)
    clip = np.stack([noise + whistle] * 2)
    assert analyse(clip, SR).attributes["waveform"] == "noise"
    assert health(clip, SR, 2048)["artefact_tone_db"] < -40  # taken for the clip's own tone
    asked_noise = health(clip, SR, 2048, tonal=False)
    assert asked_noise["artefact_tone_db"] == pytest.approx(-10.4, abs=0.6)  # -10 dB of the noise: -10.4 of both
    assert asked_noise["artefact_tone_hz"] == pytest.approx(40 * GRID, abs=1) and "artefact_tone" in problems(asked_noise)


def test_rendered_references_are_healthy():
    import random

    from arc_edge.data.procedural import on_frame_grid, random_spec, render

    rng = random.Random(11)
    specs = [random_spec(rng) for _ in range(40)]
    found = [problems(health(render(spec, 2.97, SR, seed), SR, 2048)) for seed, spec in enumerate(specs)]
    assert not any(found), found
    # frame-locked, a pulse's sidebands and a fade's spread lie next to grid harmonics, and are the sound
    locked = [health(render(on_frame_grid(spec, GRID), 2.97, SR, seed, frame_locked=True), SR, 2048)
              for seed, spec in enumerate(specs)]
    assert max(h["artefact_tone_db"] for h in locked) < -60, [h["artefact_tone_db"] for h in locked]


def test_rendered_squares_and_saws_are_band_limited():
    """A naive square or saw folds its partials above Nyquist back as inharmonic tones on the grid."""
    from arc_edge.data.procedural import SoundSpec, render

    for waveform in ("saw", "square"):
        spec = SoundSpec(waveform, "high", "steady", "center", "none", 45 * GRID)
        audio = render(spec, 6.0, SR, 0, frame_locked=True)[0, : 86 * 2048]  # before the release
        power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        partials = power[np.arange(1, len(power) // 86 // 45 + 1) * 45 * 86]
        assert partials[0] > 0.5 * power.sum()
        assert power.sum() - partials.sum() < 1e-7 * power.sum()  # nothing but its own harmonics
        if waveform == "square":
            assert partials[1] < 1e-9 * partials[0] and partials[2] == pytest.approx(partials[0] / 9, rel=0.01)
        else:
            assert partials[1] == pytest.approx(partials[0] / 4, rel=0.01)


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


def test_eval_checks_a_clip_asked_to_be_noise_with_no_tone_of_its_own(tiny_pipeline, monkeypatch):
    """Asked for noise: no tone of its own. Waveform left open: whatever the analysers hear decides, so a
    whistle in a clip heard as noise is an artefact there too. Asked for a tone: its loudest tone is its own."""
    import arc_edge.evaluation as ev

    asked, heard = [], ["sine", "sine", "noise", "sine", "noise"]
    real_health, real_analyse = ev.health, ev.analyse

    def analyse_as(audio, sample_rate):  # what the analysers hear in the clip whose health is checked next
        analysis = real_analyse(audio, sample_rate)
        analysis.attributes["waveform"] = heard[min(len(asked), len(heard) - 1)]
        return analysis

    monkeypatch.setattr(ev, "analyse", analyse_as)
    monkeypatch.setattr(ev, "health", lambda *a, **k: asked.append(k.get("tonal", True)) or real_health(*a, **k))
    prompts = [ev.EvalPrompt("white noise", {"waveform": "noise"}, None),
               ev.EvalPrompt("a sine tone", {"waveform": "sine"}, None),
               ev.EvalPrompt("panned left", {"pan": "left"}, None),
               ev.EvalPrompt("panned right", {"pan": "right"}, None),
               ev.EvalPrompt("a sine tone heard as noise", {"waveform": "sine"}, None)]
    report = ev.evaluate(tiny_pipeline, prompts, 1, 1, "pingpong", None, vae_only=True)
    assert asked == [False, True, False, True, True] and len(report["clip_health"]) == 5
