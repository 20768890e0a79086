"""Analysers and metrics on audio with known attributes (independent numpy synthesis)."""

import json
import random

import numpy as np
import pytest

from arc_edge.data.analysis import analyse, score
from arc_edge.data.procedural import ATTRIBUTES, caption, random_spec, render
from arc_edge.data.prompt_sets import training_style_lines
from arc_edge.evaluation import diversity, features, frechet_distance, load_prompts

SR = 44100


def test_440hz_sine_panned_left_is_read_back():
    t = np.arange(int(1.5 * SR)) / SR
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    m = analyse(np.stack([tone, 0.1 * tone]), SR)
    assert m.f0_hz == pytest.approx(440, rel=0.01)
    assert m.attributes == {"waveform": "sine", "pitch": "mid", "pulse": "steady", "pan": "left", "fade": "none"}


def test_square_saw_noise_and_envelopes():
    t = np.arange(2 * SR) / SR
    square = np.sign(np.sin(2 * np.pi * 110 * t)) * 0.4
    saw = (2 * ((900 * t) % 1) - 1) * 0.4 * np.linspace(1, 0, len(t))  # fading out
    noise = np.random.default_rng(0).standard_normal(len(t)) * 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * 6 * t))
    a = analyse(np.stack([square * 0.1, square]), SR).attributes
    assert (a["waveform"], a["pitch"], a["pan"]) == ("square", "low", "right")
    b = analyse(np.stack([saw, saw]), SR).attributes
    assert (b["waveform"], b["pitch"], b["fade"], b["pan"]) == ("saw", "high", "out", "center")
    c = analyse(np.stack([noise, noise]), SR).attributes
    assert (c["waveform"], c["pulse"]) == ("noise", "fast")


def test_analysers_recover_every_procedural_attribute():
    rng = random.Random(7)
    for i in range(60):
        spec = random_spec(rng)
        measured = analyse(render(spec, 2.0, SR, seed=i), SR).attributes
        assert all(score(spec.attributes(), measured).values()), (spec, measured)


def test_noise_pitch_is_not_scored_and_captions_match_attributes():
    assert "pitch" not in score({"waveform": "noise", "pitch": "low", "pulse": "steady", "pan": "left",
                                 "fade": "in"}, {"waveform": "noise", "pitch": "high", "pulse": "steady",
                                                 "pan": "left", "fade": "in"})
    rng = random.Random(1)
    for _ in range(50):
        spec = random_spec(rng)
        assert set(spec.attributes()) == set(ATTRIBUTES)
        text = caption(spec, rng)
        assert text and "  " not in text and not text.endswith(",")


def test_captions_vary_and_every_variation_still_says_the_truth():
    import re

    from arc_edge.data.procedural import PITCH_RANGES

    rng = random.Random(7)
    seen = {"upper": 0, "hz": 0, "not a": 0, "no pulsing": 0, "no fade": 0, "starts with sound": 0}
    for _ in range(2000):
        spec = random_spec(rng)
        text = caption(spec, rng)
        low = text.lower()
        seen["upper"] += any(c.isupper() for c in text)
        for hz in re.findall(r"(\d+) ?hz", low):  # a stated frequency is the sound's, in its register
            seen["hz"] += 1
            lo, hi = PITCH_RANGES[spec.pitch]
            assert spec.waveform != "noise" and lo - 1 <= int(hz) <= hi + 1, (text, spec)
        negated = re.findall(r"not an? ([a-z0-9 -]+?)(?:,|;| - | and |$| for| thanks| please| in high| as a| recorded)",
                             low.rstrip(".!"))
        for phrase in negated:  # "a sine, not a saw" never negates the sound's own waveform
            seen["not a"] += 1
            assert spec.waveform not in phrase and not (spec.waveform == "saw" and "saw" in phrase), (text, spec)
        if "no pulsing" in low or "not pulsing" in low or "no tremolo" in low:
            seen["no pulsing"] += 1
            assert spec.pulse == "steady", text
        if "no fade" in low or "not fading" in low or "without fading" in low:
            seen["no fade"] += 1
            assert spec.fade == "none", text
    # the variations the text encoder must learn from all occur often
    assert min(seen[k] for k in ("upper", "hz", "not a", "no pulsing", "no fade")) > 50, seen


def test_identical_generations_have_zero_diversity_and_fd():
    emb = np.repeat(np.random.default_rng(0).standard_normal((3, 5)), 2, axis=0)
    assert diversity(emb, [0, 0, 1, 1, 2, 2]) == 0.0
    x = np.random.default_rng(1).standard_normal((50, 4))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(x, x + 3.0) == pytest.approx(4 * 9.0, rel=1e-6)


def test_diversity_and_fd_are_none_where_the_clips_cannot_define_them():
    emb = np.random.default_rng(0).standard_normal((4, 5))
    assert diversity(emb[:2], [0, 0]) is None  # one prompt: nothing to compare against
    assert diversity(emb[:3], [0, 1, 2]) is None  # one clip per prompt: no spread within a prompt
    assert diversity(emb, [0, 0, 1, 2]) is not None
    assert frechet_distance(emb[:1], emb[1:]) is None and frechet_distance(emb[1:], emb[:1]) is None
    assert frechet_distance(emb[:2], emb[2:]) is not None


def test_feature_vector_and_heldout_prompts():
    prompts = load_prompts()
    assert len(prompts) >= 50 and all(set(p.attributes) == set(ATTRIBUTES) for p in prompts)
    t = np.arange(SR) / SR
    f = features(np.stack([np.sin(2 * np.pi * 300 * t)] * 2) * 0.3, SR)
    assert f.shape == (10,) and f[0] == pytest.approx(np.log(300), abs=0.01)


def test_training_style_prompt_set_is_reproducible_and_distinct_from_heldout():
    committed = load_prompts("training-style")
    regenerated = [json.loads(line) for line in training_style_lines()]
    assert [(p.prompt, p.attributes) for p in committed] == [(r["prompt"], r["attributes"]) for r in regenerated]
    assert not {p.prompt for p in committed} & {p.prompt for p in load_prompts("heldout")}


def test_frechet_distance_matches_scipy_and_survives_singular_covariances():
    from scipy import linalg

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) * 1.5 + 0.3
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    singular = np.column_stack([a[:, 0], a[:, 0], np.zeros(200)])  # rank 1: scipy's sqrtm can fail here
    assert np.isfinite(frechet_distance(singular, b[:, :3]))
