"""The CLAP-style embedder: its pieces, a short training run, and the shipped weights' behaviour."""

import random

import numpy as np
import pytest
import torch

from arc_edge.data.procedural import SoundSpec, heldout_caption, random_spec, render
from arc_edge.embedding.model import (
    AudioTextEmbedder,
    EmbedderConfig,
    text_features,
)
from arc_edge.embedding.store import load_embedder, save_embedder
from arc_edge.embedding.train import train_embedder
from arc_edge.errors import CheckpointError, InputError
from arc_edge.evaluation import embedding_metrics
from arc_edge.melscale import mel_filterbank

SR = 44100


def test_mel_filterbank_peaks_where_the_mel_scale_says():
    cfg = EmbedderConfig()
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).numpy()
    freqs = np.linspace(0, SR / 2, cfg.n_fft // 2 + 1)
    peaks = freqs[fb.argmax(axis=1)]
    assert np.all(np.diff(peaks) >= 0) and peaks[0] < 100 and 7000 < peaks[-1] <= 8000
    # HTK mel of the 32nd centre, computed by hand from the edges of the scale
    mel = np.linspace(2595 * np.log10(1 + 40 / 700), 2595 * np.log10(1 + 8000 / 700), cfg.n_mels + 2)[32]
    assert peaks[31] == pytest.approx(700 * (10 ** (mel / 2595) - 1), abs=SR / cfg.n_fft)


def test_text_features_are_stable_and_share_pieces_across_phrasings():
    a, b = text_features("a low Sine, panned left", 8192), text_features("a low sine panned left", 8192)
    assert a == b and len(a) > 10
    shared = set(text_features("sinusoid", 8192)) & set(text_features("sine", 8192))
    assert shared  # "<si", "sin": why held-out synonyms land near known words
    assert text_features("!!!", 8192) == [0]


def test_a_pan_difference_changes_the_log_mel_of_each_channel():
    model = AudioTextEmbedder()
    spec = SoundSpec("sine", "mid", "steady", "left", "none", 330.0)
    mel = model.log_mel(torch.from_numpy(render(spec, 1.0, SR, 0))[None])[0]
    left, right = mel[0].exp().sum(), mel[1].exp().sum()
    assert left / right == pytest.approx((1.0 / 0.15) ** 2, rel=0.05)  # power ratio of the pan gains


def test_training_learns_and_the_directory_round_trips(tmp_path):
    out = tmp_path / "clap"
    result = train_embedder(out, steps=60, batch_size=32, clips=256, seconds=1.0, val_clips=64, log=lambda *_: None)
    assert result["train_retrieval_top1_of_16"] > 2 / 16  # chance is 1/16
    model = load_embedder(out)
    with torch.no_grad():
        e = model.embed_text(["a low sine wave"])
    assert e.shape == (1, model.cfg.dim) and float(e.norm()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError, match="--force"):
        save_embedder(model, out)
    (out / "embedder.safetensors").unlink()
    with pytest.raises(CheckpointError, match="arc-edge train clap"):
        load_embedder(out)


def test_the_shipped_embedder_matches_audio_to_its_caption():
    """On new clips with held-out phrasings, the right caption beats a random other one most of the time."""
    model = load_embedder()
    rng = random.Random(123)
    specs = [random_spec(rng) for _ in range(48)]
    audio = [render(s, 2.97, SR, i) for i, s in enumerate(specs)]
    texts = [heldout_caption(s, rng) for s in specs]
    with torch.no_grad():
        a = torch.cat([model.embed_audio(torch.from_numpy(x)[None]) for x in audio])
        t = model.embed_text(texts)
    sims = (a @ t.T).numpy()
    wins = [sims[i, i] > sims[i, (i + 7) % 48] for i in range(48)]
    assert np.mean(wins) > 0.8
    metrics = embedding_metrics(model, texts, audio, audio, list(range(48)))
    assert metrics["frechet_distance"] == pytest.approx(0.0, abs=1e-3)  # same audio twice
    assert metrics["clap_score"] == pytest.approx(metrics["reference_clap_score"])


def test_identical_generations_have_zero_diversity_in_the_learned_space():
    model = load_embedder()
    spec = SoundSpec("saw", "low", "fast", "right", "in", 120.0)
    clip = render(spec, 2.0, SR, 0)
    other = render(SoundSpec("noise", "low", "steady", "left", "none", 100.0), 2.0, SR, 1)
    m = embedding_metrics(model, ["x"] * 4, [clip, clip, other, other], [clip, other, clip, other], [0, 0, 1, 1])
    assert m["diversity"] == pytest.approx(0.0, abs=1e-6)
