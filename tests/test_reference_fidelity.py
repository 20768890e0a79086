"""Behaviours stable-audio-tools defines, checked against independent computations: the reference's
algorithms written out here, Hugging Face's T5 tokenizer, checkpoints saved in fp16/bf16."""

import copy
import json
import random
import shutil
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from arc_edge.checkpoint import load_model, load_model_dir, random_pipeline
from arc_edge.cli import main
from arc_edge.config import parse_config
from arc_edge.decoding import decode_in_windows
from arc_edge.generate import GenerationRequest, generate
from arc_edge.models.oobleck import vae_split
from arc_edge.sampling import draw_noise, logsnr_schedule


def _config(tiny_cfg, **pretransform):
    raw = copy.deepcopy(tiny_cfg.raw)
    raw["model"]["pretransform"].update(pretransform)
    return parse_config(raw, "test config")


# --- checkpoints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoints_load_into_fp32_parameters(tiny_model_dir, tmp_path, dtype):
    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    original = load_file(str(d / "model.safetensors"))
    save_file({k: v.to(dtype) for k, v in original.items()}, str(d / "model.safetensors"))
    with pytest.warns(UserWarning, match=rf"stores {len(original)} {str(dtype)[6:]} tensor\(s\); loaded as float32"):
        pipeline = load_model_dir(d)
    state = pipeline.checkpoint_state_dict()
    assert all(v.dtype == torch.float32 for v in state.values())
    for k, v in original.items():  # the file's values, exactly, in fp32
        torch.testing.assert_close(state[k], v.to(dtype).float(), rtol=0, atol=0)
    generate(pipeline, GenerationRequest("a sine", 0.2, 2))  # and it runs


# --- the pretransform's options -------------------------------------------------------------------

def test_scale_divides_encoded_and_multiplies_decoded_latents(tiny_cfg):
    pipeline = random_pipeline(_config(tiny_cfg, scale=2.5), seed=1)
    vae = pipeline.pretransform.model
    audio = torch.randn(1, 2, 4 * 2048, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.no_grad():
        raw_mean, raw_std = vae_split(vae.encoder(audio))
        mean, std = pipeline.posterior(audio)
        torch.testing.assert_close(mean, raw_mean / 2.5)
        torch.testing.assert_close(std, raw_std / 2.5)
        z = torch.randn(1, tiny_cfg.latent_dim, 3)
        torch.testing.assert_close(pipeline.decode(z), vae.decoder(z * 2.5))


def test_model_half_runs_the_vae_in_fp16(tiny_cfg):
    full = random_pipeline(tiny_cfg, seed=3)
    half = random_pipeline(_config(tiny_cfg, model_half=True), seed=3)
    assert all(p.dtype == torch.float16 for p in half.pretransform.parameters())
    assert all(p.dtype == torch.float32 for p in half.model.parameters())
    z = torch.randn(1, tiny_cfg.latent_dim, 4)
    with torch.no_grad():
        a, b = full.decode(z), half.decode(z)
    assert b.dtype == torch.float32
    from arc_edge.export.parity import snr_db
    assert 20 < snr_db(a, b) < 120  # fp16 arithmetic: close, not identical


def test_iterate_batch_decodes_item_by_item_with_the_same_values(tiny_cfg):
    plain = random_pipeline(tiny_cfg, seed=4)
    iterating = random_pipeline(_config(tiny_cfg, iterate_batch=True), seed=4)
    z = torch.randn(3, tiny_cfg.latent_dim, 4)
    calls = []
    iterating.pretransform.model.decoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    with torch.no_grad():
        torch.testing.assert_close(iterating.decode(z), plain.decode(z), rtol=1e-5, atol=1e-6)
    assert calls == [1, 1, 1]


def _reference_chunked_decode(decode, latents, chunk_size=128, overlap=32, ratio=2048):
    """stable-audio-tools' AudioAutoencoder.decode_audio(chunked=True), written out from its source."""
    hop_size = chunk_size - overlap
    total_size = latents.shape[2]
    chunks = []
    for i in range(0, total_size - chunk_size + 1, hop_size):
        chunks.append(latents[:, :, i:i + chunk_size])
    if i + chunk_size != total_size:
        chunks.append(latents[:, :, -chunk_size:])
    y_size = total_size * ratio
    y_final = torch.zeros((latents.shape[0], 2, y_size))
    for i, x_chunk in enumerate(chunks):
        y_chunk = decode(x_chunk)
        if i == len(chunks) - 1:
            t_end = y_size
            t_start = t_end - y_chunk.shape[2]
        else:
            t_start = i * hop_size * ratio
            t_end = t_start + chunk_size * ratio
        ol = (overlap // 2) * ratio
        chunk_start, chunk_end = 0, y_chunk.shape[2]
        if i > 0:
            t_start += ol
            chunk_start += ol
        if i < len(chunks) - 1:
            t_end -= ol
            chunk_end -= ol
        y_final[:, :, t_start:t_end] = y_chunk[:, :, chunk_start:chunk_end]
    return y_final


def test_chunked_decoding_is_the_references(tiny_cfg):
    raw = copy.deepcopy(tiny_cfg.raw)
    raw["sample_size"] = 256 * 2048  # 256 latent frames: three chunks, the last one flush with the end
    raw["model"]["pretransform"]["chunked"] = True
    del raw["model"]["pretransform"]["dc_blocker_hz"]  # arc-edge's own option: the reference has none
    pipeline = random_pipeline(parse_config(raw, "test config"), seed=5)
    latent = torch.randn(1, tiny_cfg.latent_dim, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = torch.cat(list(decode_in_windows(pipeline.decode, latent, pipeline.decode_plan(), 2048)), dim=-1)
        reference = _reference_chunked_decode(pipeline.decode, latent)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_number_conditioner_defaults_are_the_references(tiny_cfg):
    raw = copy.deepcopy(tiny_cfg.raw)
    seconds = next(c for c in raw["model"]["conditioning"]["configs"] if c["id"] == "seconds_total")
    seconds["config"] = {}
    cfg = parse_config(raw, "test config")
    assert (cfg.seconds.min_val, cfg.seconds.max_val) == (0.0, 1.0)


# --- sampling ------------------------------------------------------------------------------------

class _Recording:
    """A runtime that runs the tiny pipeline and records every DiT call."""

    def __init__(self, pipeline):
        self.pipeline, self.cfg, self.tokenizer = pipeline, pipeline.cfg, pipeline.tokenizer
        self.calls = []

    def __getattr__(self, name):
        return getattr(self.pipeline, name)

    def velocity(self, x, t, cross, glob):
        v = self.pipeline.velocity(x, t, cross, glob)
        self.calls.append((x.clone(), t.clone(), cross.clone(), glob.clone(), v.clone()))
        return v


def test_guidance_applies_to_pingpong_as_the_reference_does(tiny_pipeline):
    runtime = _Recording(tiny_pipeline)
    req = GenerationRequest("a bright saw", 0.3, steps=3, seed=2, cfg_scale=3.0)
    noise = draw_noise((1, tiny_pipeline.cfg.latent_dim, tiny_pipeline.cfg.latent_length), 3, 2)
    generate(runtime, req, noise=noise)
    assert len(runtime.calls) == 6  # a conditional and an unconditional call per step
    ts = logsnr_schedule(3)
    x = noise.initial
    for i in range(3):
        (xc, tc, cross, glob, vc), (xu, tu, null, glob_u, vu) = runtime.calls[2 * i + 1], runtime.calls[2 * i]
        assert torch.equal(xc, x) and torch.equal(xu, x) and torch.all(null == 0) and torch.any(cross != 0)
        assert tc.item() == tu.item() == pytest.approx(ts[i].item())
        assert torch.equal(glob, glob_u)  # the seconds (global) conditioning stays
        v = vu + 3.0 * (vc - vu)
        x = (1 - ts[i + 1]) * (x - ts[i] * v) + ts[i + 1] * noise.steps[i]
    assert GenerationRequest("x", 1.0).guidance == 1.0 and GenerationRequest("x", 1.0, sampler="euler").guidance == 6.0


def test_audio_to_audio_samples_the_posterior_with_the_generations_seed(tiny_pipeline):
    runtime = _Recording(tiny_pipeline)
    cfg = tiny_pipeline.cfg
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, cfg.sample_size)).astype(np.float32)
    req = GenerationRequest("noise", 0.5, steps=2, seed=9, init_audio=audio, init_noise=0.6)
    generate(runtime, req)
    # the reference: torch.manual_seed(seed); the starting noise; then the VAE's randn_like(mean)
    torch.manual_seed(9)
    start = torch.randn(1, cfg.latent_dim, cfg.latent_length)
    eps = torch.randn(1, cfg.latent_dim, cfg.latent_length)
    with torch.no_grad():
        mean, std = tiny_pipeline.posterior(torch.from_numpy(audio)[None])
    s = logsnr_schedule(2, 0.6)[0]
    torch.testing.assert_close(runtime.calls[0][0], (1 - s) * (mean + std * eps) + s * start)


# --- tokenizer ------------------------------------------------------------------------------------

def test_special_tokens_map_as_hugging_faces_t5_tokenizer(tmp_path):
    from transformers import T5TokenizerFast

    from arc_edge.checkpoint import default_model_dir
    from arc_edge.tokenizer import PromptTokenizer

    shutil.copy(default_model_dir() / "t5" / "spiece.model", tmp_path / "spiece.model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = T5TokenizerFast.from_pretrained(str(tmp_path))
    ours = PromptTokenizer(tmp_path / "spiece.model", 64)
    rng = random.Random(0)
    words = ["a", "low", "sine", "wave", "</s>", "<pad>", "<unk>", "<extra_id_0>", "<extra_id_99>", "<extra_id_7>",
             "<extra_id_100>", "<extra_id_07>", "<s>", "<", ">", "panned", "left", "Pulsing", "7"]
    texts = ["a </s> b", "<extra_id_0>", "x<pad>y <unk>"]
    texts += ["".join(rng.choice(words) + rng.choice(["", " ", "  "]) for _ in range(rng.randint(1, 9)))
              for _ in range(1500)]
    for text in texts:
        assert ours.pieces(text) + [ours.eos_id] == reference(text)["input_ids"], text


# --- the command line -------------------------------------------------------------------------------

def test_t5_without_model_replaces_the_bundled_models_t5(tmp_path, capsys):
    from arc_edge.checkpoint import default_model_dir

    t5 = tmp_path / "t5"
    shutil.copytree(default_model_dir() / "t5", t5)
    assert main(["generate", "a sine", "--t5", str(t5), "--steps", "1", "--seconds", "0.2",
                 "--out", str(tmp_path / "a.wav")]) == 0
    assert f"with the T5 in {t5}" in capsys.readouterr().out
    config = json.loads((t5 / "config.json").read_text())
    config["d_model"] = 64  # a T5 that does not fit the model: refused with a clear error, not ignored
    (t5 / "config.json").write_text(json.dumps(config))
    with pytest.raises(Exception, match="d_model|T5"):
        load_model(None, t5)
