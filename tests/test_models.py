"""Architecture facts of the official SAOS config, checked on the meta device (no weights allocated)."""

import copy
import json
import math
from importlib import resources

import numpy as np
import pytest
import torch
from weight_norm import effective_weight

from arc_edge.config import builtin_config, parse_config
from arc_edge.errors import ConfigError
from arc_edge.models import ArcPipeline
from arc_edge.models.oobleck import (
    NearestUpsampleConv,
    OobleckDecoder,
    SnakeBeta,
    WNConv1d,
    WNConvTranspose1d,
    fuse_weight_norm,
    make_comb_free,
)
from arc_edge.models.transformer import LayerNorm, apply_rotary


@pytest.fixture(scope="module")
def saos_meta():
    with torch.device("meta"):
        return ArcPipeline(builtin_config("saos"))


def test_official_parameter_counts(saos_meta):
    counts = saos_meta.part_parameters()
    assert counts["dit"] == 340_879_488
    assert counts["vae_encoder"] == 77_989_888
    assert counts["vae_decoder"] == 78_122_626
    assert counts["vae_encoder"] + counts["vae_decoder"] == 156_112_514
    assert counts["seconds_conditioner"] == 198_272
    assert counts["t5_encoder"] == 109_628_544


def _official_dit_keys() -> dict[str, tuple[int, ...]]:
    """The 382 DiT tensors as listed in the reference, written out independently of the model code."""
    p = "model.model."
    keys = {
        p + "preprocess_conv.weight": (64, 64, 1), p + "postprocess_conv.weight": (64, 64, 1),
        p + "timestep_features.weight": (128, 1),
        p + "to_timestep_embed.0.weight": (1024, 256), p + "to_timestep_embed.0.bias": (1024,),
        p + "to_timestep_embed.2.weight": (1024, 1024), p + "to_timestep_embed.2.bias": (1024,),
        p + "to_cond_embed.0.weight": (1024, 768), p + "to_cond_embed.2.weight": (1024, 1024),
        p + "to_global_embed.0.weight": (1024, 768), p + "to_global_embed.2.weight": (1024, 1024),
        p + "transformer.project_in.weight": (1024, 64), p + "transformer.project_out.weight": (64, 1024),
        p + "transformer.rotary_pos_emb.inv_freq": (32,),
    }
    for n in range(16):
        b = f"{p}transformer.layers.{n}."
        for norm in ("pre_norm", "cross_attend_norm", "ff_norm"):
            keys[b + norm + ".gamma"] = (1024,)
            keys[b + norm + ".beta"] = (1024,)
        keys[b + "self_attn.to_qkv.weight"] = (3072, 1024)
        keys[b + "cross_attn.to_q.weight"] = (1024, 1024)
        keys[b + "cross_attn.to_kv.weight"] = (2048, 1024)
        for attn in ("self_attn", "cross_attn"):
            keys[b + attn + ".to_out.weight"] = (1024, 1024)
            for qk in ("q_norm", "k_norm"):
                keys[f"{b}{attn}.{qk}.weight"] = (128,)
                keys[f"{b}{attn}.{qk}.bias"] = (128,)
        keys[b + "ff.ff.0.proj.weight"] = (8192, 1024)
        keys[b + "ff.ff.0.proj.bias"] = (8192,)
        keys[b + "ff.ff.2.weight"] = (1024, 4096)
        keys[b + "ff.ff.2.bias"] = (1024,)
    return keys


def test_dit_state_dict_matches_official_keys_and_shapes(saos_meta):
    expected = _official_dit_keys()
    assert len(expected) == 382
    got = {k: tuple(v.shape) for k, v in saos_meta.checkpoint_state_dict().items() if k.startswith("model.model.")}
    assert got == expected


def test_checkpoint_prefixes_and_vae_layout(saos_meta):
    sd = saos_meta.checkpoint_state_dict()
    assert not any(k.startswith("text_encoder") for k in sd)
    assert {k.split(".")[0] for k in sd} == {"model", "conditioner", "pretransform"}
    assert sd["conditioner.conditioners.seconds_total.embedder.embedding.0.weights"].shape == (128,)
    assert sd["conditioner.conditioners.seconds_total.embedder.embedding.1.weight"].shape == (768, 257)
    # legacy weight-norm layout and SnakeBeta parameters
    assert sd["pretransform.model.decoder.layers.0.weight_g"].shape == (2048, 1, 1)
    assert sd["pretransform.model.decoder.layers.0.weight_v"].shape == (2048, 64, 7)
    assert sd["pretransform.model.decoder.layers.1.layers.1.weight_g"].shape == (2048, 1, 1)  # ConvTranspose: dim 0 = in
    assert sd["pretransform.model.decoder.layers.1.layers.0.alpha"].shape == (2048,)
    assert "pretransform.model.decoder.layers.7.bias" not in sd  # final conv has no bias
    assert sd["pretransform.model.encoder.layers.7.weight_v"].shape == (128, 2048, 3)


def test_snakebeta_formula():
    act = SnakeBeta(3)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.0, 0.5, -1.0]))
        act.beta.copy_(torch.tensor([0.0, 1.0, 0.3]))
    x = torch.randn(2, 3, 5)
    a = torch.exp(act.alpha)[None, :, None]
    b = torch.exp(act.beta)[None, :, None]
    expected = x + 1.0 / (b + 1e-9) * torch.sin(a * x) ** 2
    torch.testing.assert_close(act(x), expected)


def test_weight_norm_fuses_to_identical_conv():
    torch.manual_seed(0)
    for conv in (WNConv1d(4, 6, 7, padding=3, dilation=1), WNConvTranspose1d(6, 4, 8, stride=4, padding=2)):
        with torch.no_grad():
            conv.weight_g.mul_(torch.rand_like(conv.weight_g) + 0.5)
        x = torch.randn(1, conv.in_channels, 16)
        seq = torch.nn.Sequential(conv)
        before = seq(x)
        fuse_weight_norm(seq)
        assert type(seq[0]) in (torch.nn.Conv1d, torch.nn.ConvTranspose1d)
        torch.testing.assert_close(seq(x), before, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(seq[0].weight, effective_weight(conv))


def test_decoder_upsamples_by_downsampling_ratio(tiny_pipeline, tiny_cfg):
    z = torch.randn(1, tiny_cfg.latent_dim, 3)
    assert tiny_pipeline.decode(z).shape == (1, 2, 3 * 2048)
    audio = torch.randn(1, 2, 4 * 2048)
    mean, std = tiny_pipeline.posterior(audio)
    assert mean.shape == std.shape == (1, tiny_cfg.latent_dim, 4) and torch.all(std > 0)


def test_layernorm_beta_is_a_buffer():
    ln = LayerNorm(8)
    assert [n for n, _ in ln.named_parameters()] == ["gamma"]
    assert [n for n, _ in ln.named_buffers()] == ["beta"]


def test_partial_rotary_matches_complex_rotation():
    torch.manual_seed(0)
    head_dim, rot, n = 16, 8, 5
    x = torch.randn(1, 2, n, head_dim)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rot, 2).float() / rot))
    freqs = torch.arange(n).float()[:, None] * inv_freq[None]
    angles = torch.cat((freqs, freqs), dim=-1)
    out = apply_rotary(x, angles.cos(), angles.sin())
    # NeoX rotate-half pairs dim i with dim i + rot/2: rotate that pair as a complex number.
    half = rot // 2
    z = torch.complex(x[..., :half], x[..., half:rot]) * torch.polar(torch.ones_like(freqs), freqs)
    torch.testing.assert_close(out[..., :half], z.real, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[..., half:rot], z.imag, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[..., rot:], x[..., rot:])


def test_seconds_embedding_formula(tiny_pipeline, tiny_cfg):
    cond = tiny_pipeline.conditioner.conditioners["seconds_total"]
    seconds = torch.tensor([0.0, 12.0, 300.0])
    w = cond.embedder.embedding[0].weights
    x = (seconds.clamp(0, 256) / 256)[:, None]
    feats = torch.cat([x, torch.sin(2 * math.pi * x * w), torch.cos(2 * math.pi * x * w)], dim=-1)
    expected = cond.embedder.embedding[1](feats)[:, None, :]
    torch.testing.assert_close(cond(seconds), expected)


def test_dit_output_shape_and_prompt_sensitivity(tiny_pipeline, tiny_cfg):
    torch.manual_seed(0)
    x = torch.randn(2, tiny_cfg.latent_dim, tiny_cfg.latent_length)
    ids = torch.randint(3, 100, (2, tiny_cfg.prompt.max_length))
    mask = torch.ones_like(ids)
    cross, glob = tiny_pipeline.condition(ids, mask, torch.tensor([1.0, 2.0]))
    assert cross.shape == (2, tiny_cfg.prompt.max_length + 1, tiny_cfg.cond_dim)
    assert glob.shape == (2, tiny_cfg.cond_dim)
    v = tiny_pipeline.velocity(x, torch.tensor([0.5, 0.5]), cross, glob)
    assert v.shape == x.shape
    v_swapped = tiny_pipeline.velocity(x, torch.tensor([0.5, 0.5]), cross.flip(0), glob)
    assert not torch.allclose(v, v_swapped)


def test_t5_output_zeroed_at_padding(tiny_pipeline, tiny_cfg):
    ids = torch.tensor([[5, 6, 7, 1] + [0] * (tiny_cfg.prompt.max_length - 4)])
    mask = (ids != 0).long()
    mask[0, 3] = 1
    out = tiny_pipeline.text_encoder(ids, mask)
    assert torch.all(out[0, 4:] == 0)
    assert torch.all(out[0, :4].abs().sum(-1) > 0)


@pytest.mark.parametrize("stride", [2, 4, 8])
@pytest.mark.parametrize("frames", [1, 5, 6])
def test_nearest_upsampler_matches_upsample_then_same_conv(stride, frames):
    """The reference's ``use_nearest_upsample`` layer (nn.Upsample nearest, then a bias-free 2s-tap
    conv with padding='same'), computed here with torch's own ops; the fused export form is one
    transposed conv and must give the same samples."""
    torch.manual_seed(stride * 10 + frames)
    layer = NearestUpsampleConv(5, 3, stride)
    with torch.no_grad():
        layer[1].weight_g.mul_(torch.rand_like(layer[1].weight_g) + 0.5)
    weight = effective_weight(layer[1])
    x = torch.randn(2, 5, frames)
    with torch.no_grad():
        want = torch.nn.functional.conv1d(torch.nn.Upsample(scale_factor=stride, mode="nearest")(x), weight,
                                          padding="same")
        got, fused = layer(x), layer.fused()
        assert isinstance(fused, torch.nn.ConvTranspose1d) and fused.kernel_size == (3 * stride,)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fused(x), want, rtol=1e-5, atol=1e-6)


def _box_built_kernel(in_channels: int, out_channels: int, stride: int, seed: int) -> torch.Tensor:
    """A comb-free transposed-conv kernel built the other way round: s + 1 free taps convolved with a
    box of s ones (nearest x s, then a conv), 2s taps in all."""
    free = torch.randn(in_channels, out_channels, stride + 1, generator=torch.Generator().manual_seed(seed))
    box = torch.ones(stride, dtype=torch.float64)
    return torch.from_numpy(np.array([[np.convolve(f.double().numpy(), box.numpy()) for f in row]
                                      for row in free], dtype=np.float32))


def _set_kernel(conv: WNConvTranspose1d, kernel: torch.Tensor) -> None:
    with torch.no_grad():
        conv.weight_v.copy_(kernel)
        conv.weight_g.copy_(kernel.norm(dim=(1, 2), keepdim=True))


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_a_comb_free_upsampler_turns_a_constant_into_a_constant_by_the_nearest_such_kernel(stride):
    torch.manual_seed(stride)
    conv = WNConvTranspose1d(4, 3, kernel_size=2 * stride, stride=stride, padding=math.ceil(stride / 2))
    constant = torch.full((1, 4, 12), 0.7)
    with torch.no_grad():
        free = conv(constant)[..., 2 * stride:-2 * stride]
        assert free.std(-1).min() > 1e-3  # a free kernel: a pattern repeating every s samples
        before = effective_weight(conv)
        make_comb_free(conv)
        after = effective_weight(conv)
        out = conv(constant)[..., 2 * stride:-2 * stride]
    torch.testing.assert_close(out, out[..., :1].expand_as(out), rtol=0, atol=1e-5)
    # the nearest such kernel: what it took away is orthogonal to every comb-free kernel's offset from it
    for seed in range(3):
        other = _box_built_kernel(4, 3, stride, seed)
        assert abs(float(((before - after) * (other - after)).sum())) < 1e-4 * float(before.norm() * other.norm())
    # a kernel built comb-free is kept as it is
    _set_kernel(conv, _box_built_kernel(4, 3, stride, 9))
    built = effective_weight(conv)
    make_comb_free(conv)
    torch.testing.assert_close(effective_weight(conv), built, rtol=1e-5, atol=1e-6)


def test_a_decoder_with_every_upsampler_comb_free_decodes_a_constant_latent_to_a_constant():
    """Why the first upsampler must stay free: with it, a constant latent (a steady tone on the frame
    grid) decodes to a waveform repeating every hop; with it projected too, only to a constant."""
    cfg = builtin_config("tiny")
    torch.manual_seed(0)
    decoder = OobleckDecoder(cfg.decoder).eval()
    latent = torch.randn(1, cfg.latent_dim, 1).expand(1, cfg.latent_dim, 24).contiguous()
    hop = cfg.downsampling_ratio
    upsamplers = [m for m in decoder.modules() if isinstance(m, WNConvTranspose1d)]
    assert len(upsamplers) == len(cfg.decoder.strides)
    for conv in upsamplers[1:]:
        make_comb_free(conv)
    with torch.no_grad():
        middle = decoder(latent)[..., 10 * hop:14 * hop]  # away from the edges' zero padding
        torch.testing.assert_close(middle[..., :hop], middle[..., hop:2 * hop], rtol=0, atol=1e-5)
        assert middle.std(-1).min() > 1e-3
        make_comb_free(upsamplers[0])
        middle = decoder(latent)[..., 10 * hop:14 * hop]
    torch.testing.assert_close(middle, middle[..., :1].expand_as(middle), rtol=0, atol=1e-4)


def test_a_comb_free_projection_needs_the_reference_kernel_of_two_strides():
    with pytest.raises(ValueError, match="kernel 2 x stride"):
        make_comb_free(WNConvTranspose1d(2, 2, kernel_size=3, stride=2))


@pytest.mark.parametrize("key", ["use_abs_pos_emb", "use_sinusoidal_emb"])
def test_a_dit_position_embedding_option_is_refused_not_ignored(key):
    # the reference adds the embedding to the DiT's tokens; reading such a config without it would
    # run a different model than the checkpoint was trained as
    raw = json.loads(resources.files("arc_edge.configs").joinpath("tiny.json").read_text())
    raw["model"]["diffusion"]["config"][key] = False
    parse_config(copy.deepcopy(raw), "test")
    raw["model"]["diffusion"]["config"][key] = True
    with pytest.raises(ConfigError, match=key):
        parse_config(raw, "test")


def test_nearest_upsample_decoder_keys_and_config():
    raw = json.loads(resources.files("arc_edge.configs").joinpath("tiny.json").read_text())
    raw["model"]["pretransform"]["config"]["decoder"]["config"]["use_nearest_upsample"] = True
    cfg = parse_config(copy.deepcopy(raw), "test")
    decoder = OobleckDecoder(cfg.decoder)
    keys = decoder.state_dict()
    # reference layout: the upsampler is Sequential(Upsample, WNConv1d) at layers.1 of each block
    assert "layers.1.layers.1.1.weight_v" in keys and "layers.1.layers.1.1.bias" not in keys
    assert fuse_weight_norm(decoder).layers[1].layers[1].__class__ is torch.nn.ConvTranspose1d
    raw["model"]["pretransform"]["config"]["decoder"]["config"]["use_nearest_upsample"] = False
    assert not parse_config(copy.deepcopy(raw), "test").decoder.use_nearest_upsample
    raw["model"]["pretransform"]["config"]["decoder"]["config"]["antialias_activation"] = True
    with pytest.raises(ConfigError, match="antialias_activation"):
        parse_config(copy.deepcopy(raw), "test")
    del raw["model"]["pretransform"]["config"]["decoder"]["config"]["antialias_activation"]
    raw["model"]["pretransform"]["config"]["encoder"]["config"]["use_nearest_upsample"] = True
    with pytest.raises(ConfigError, match="decoder option"):
        parse_config(raw, "test")
