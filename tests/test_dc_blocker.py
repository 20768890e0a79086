"""The DC blocker on decoded audio: the filter every runner applies window by window (Python here;
the C++ runner and the Android core are checked against Python in test_device_bench and
test_android_core), its place in the decode plan, the config and the manifest."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from arc_edge.config import builtin_config, parse_config
from arc_edge.decoding import DCBlocker, decode_in_windows, plan_windows
from arc_edge.errors import ConfigError
from arc_edge.export.manifest import BundleError, parse_manifest

SR = 44100


def _direct(x: np.ndarray, hz: float, settle: int) -> np.ndarray:
    """The recurrence written out sample by sample: y[n] = x[n] - x[n-1] + R y[n-1], x[-1] the mean of
    the first ``settle`` samples, y[-1] = 0."""
    pole = math.exp(-2 * math.pi * hz / SR)
    y = np.zeros_like(x, dtype=np.float64)
    for c in range(x.shape[0]):
        prev, out = x[c, :settle].astype(np.float64).mean(), 0.0
        for n in range(x.shape[1]):
            out = float(x[c, n]) - prev + pole * out
            prev = float(x[c, n])
            y[c, n] = out
    return y


def test_streamed_pieces_equal_the_recurrence_written_out():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3000)) * 0.2 + np.array([[0.3], [-0.1]])).astype(np.float32)
    blocker = DCBlocker(5.0, SR, 256)
    pieces = [blocker(torch.from_numpy(x[:, a:b])) for a, b in ((0, 700), (700, 701), (701, 3000))]
    streamed = torch.cat(pieces, -1).numpy()
    assert streamed.dtype == np.float32
    np.testing.assert_allclose(streamed, _direct(x, 5.0, 256), rtol=0, atol=1e-6)


def test_an_offset_goes_without_a_thump_and_audible_tones_stay():
    t = np.arange(2 * SR) / SR
    tone = 0.5 * np.sin(2 * np.pi * 100.0 * t)
    drift = 0.05 + 0.02 * np.sin(2 * np.pi * 0.5 * t)  # an offset that wanders below a hertz
    y = DCBlocker(5.0, SR, 2048)(torch.from_numpy(np.stack([tone + drift, tone])[None]))[0].numpy()
    assert abs(y[0].mean()) < 2e-3 and np.abs(y[0, :400]).max() < 0.55  # no step at the onset
    settled = slice(SR // 2, None)  # after the filter's 32 ms transient
    np.testing.assert_allclose(y[0, settled], y[1, settled], atol=3e-3)  # the drift is gone
    gain = np.sqrt(np.mean(y[1, settled] ** 2) / np.mean(tone[settled] ** 2))
    assert gain == pytest.approx(1.0, abs=2e-3)  # -0.01 dB at 100 Hz


def test_windowed_decoding_blocks_dc_across_windows_like_one_pass():
    hop, frames = 64, 40
    latent = 0.1 * torch.randn(1, 2, frames, generator=torch.Generator().manual_seed(1))

    def decode(window):
        return window.repeat_interleave(hop, dim=-1) + 0.7

    plan = replace(plan_windows(frames, 16, 4), dc_blocker_hz=5.0)
    windowed = torch.cat(list(decode_in_windows(decode, latent, plan, hop, sample_rate=SR)), -1)
    whole = DCBlocker(5.0, SR, hop)(decode(latent))
    torch.testing.assert_close(windowed, whole, rtol=0, atol=1e-6)
    plain = torch.cat(list(decode_in_windows(decode, latent, replace(plan, dc_blocker_hz=0.0), hop)), -1)
    assert plain.mean() > 0.6 and abs(windowed.mean()) < 0.05
    with pytest.raises(ValueError, match="sample rate"):
        next(decode_in_windows(decode, latent, plan, hop))


def test_config_carries_the_blocker_and_refuses_bad_values():
    assert builtin_config("tiny").pretransform.dc_blocker_hz == 5.0
    assert builtin_config("saos").pretransform.dc_blocker_hz == 0.0  # the reference's output, untouched
    raw = builtin_config("tiny").raw
    for bad in (-1, 51, "5", True, float("nan")):
        broken = json.loads(json.dumps(raw))
        broken["model"]["pretransform"]["dc_blocker_hz"] = bad
        with pytest.raises(ConfigError, match="dc_blocker_hz") as err:
            parse_config(broken)
        assert "\n" not in str(err.value)


def test_manifest_reads_the_blocker_refuses_bad_values_and_defaults_to_none(et_int8_bundle):
    raw = json.loads((et_int8_bundle / "manifest.json").read_text())
    decode = raw["graphs"]["decoder"]["decode"]
    assert decode["dc_blocker_hz"] == 5.0
    assert parse_manifest(raw, et_int8_bundle, "x").decode.dc_blocker_hz == 5.0
    del decode["dc_blocker_hz"]  # a bundle exported before the blocker existed
    assert parse_manifest(raw, et_int8_bundle, "x").decode.dc_blocker_hz == 0.0
    for bad in (-0.5, 1e6, "5", None):
        decode["dc_blocker_hz"] = bad
        with pytest.raises(BundleError, match="dc_blocker_hz"):
            parse_manifest(raw, et_int8_bundle, "x")


def test_vae_from_brings_the_donors_blocker_with_its_decoder(tiny_model_dir, tmp_path):
    """A DiT joined to a decoder tuned apart decodes as the donor does, blocker included; a donor
    saved without one (an older model directory) takes it away."""
    import shutil

    from arc_edge.checkpoint import load_model_dir
    from arc_edge.commands.train import take_vae

    donor = tmp_path / "donor"
    shutil.copytree(tiny_model_dir, donor)
    raw = json.loads((donor / "model_config.json").read_text())
    for hz in (12.5, None):
        if hz is None:
            del raw["model"]["pretransform"]["dc_blocker_hz"]
        else:
            raw["model"]["pretransform"]["dc_blocker_hz"] = hz
        (donor / "model_config.json").write_text(json.dumps(raw))
        pipe = load_model_dir(tiny_model_dir)
        take_vae(pipe, donor, tiny_model_dir)
        assert pipe.decode_plan().dc_blocker_hz == (hz or 0.0)
        assert pipe.cfg.raw["model"]["pretransform"].get("dc_blocker_hz", 0.0) == (hz or 0.0)  # what the run saves


def test_training_previews_are_decoded_through_the_blocker(tmp_path):
    """A vae run's preview reconstruction is what the model's users hear: a decoder that adds an
    offset has it taken out, as in generate and eval."""
    import soundfile as sf

    from arc_edge.checkpoint import random_pipeline
    from arc_edge.training.loop import _write_samples

    pipeline = random_pipeline(builtin_config("tiny"), seed=0)
    assert pipeline.cfg.pretransform.dc_blocker_hz > 0
    pipeline.pretransform.model.decoder.register_forward_hook(lambda module, args, out: out + 0.3)
    t = torch.arange(2 * 2048) / SR
    audio = (0.2 * torch.sin(2 * math.pi * 300 * t)).repeat(2, 1)
    with torch.no_grad():
        raw = pipeline.decode(pipeline.posterior(audio[None])[0])
    assert raw.mean().abs() > 0.2  # the offset is there before the blocker
    _write_samples(tmp_path, pipeline, 7, "vae", [{"audio": audio}])
    written, sr = sf.read(tmp_path / "samples" / "step000007_recon.wav", always_2d=True)
    assert sr == SR and written.shape == (audio.shape[1], 2)
    assert np.abs(written.mean(axis=0)).max() < 0.01
