"""The lean pipeline: 4-D conv rewrites and polyphase upsamplers are exact, the int8 decoder is one
XNNPACK delegate of quantised convolutions, windowed decoding equals whole decoding, the thread
count reaches every runtime, and recipes a backend cannot do are refused before any work."""

import re
import types
from dataclasses import replace

import pytest
import torch
from torch import nn

from arc_edge.cli import main
from arc_edge.config import builtin_config
from arc_edge.decoding import decode_in_windows
from arc_edge.export.exporter import ExportOptions, decode_plan, receptive_field_frames
from arc_edge.export.onnx_rewrites import PolyphaseConvTranspose1d
from arc_edge.export.parity import snr_db
from arc_edge.export.recipes import load_export_recipe
from arc_edge.export.xnnpack_rewrites import (
    Conv1dAs2d,
    ConvTranspose1dAs2d,
    PlanarConvStack,
    xnnpack_friendly,
)
from arc_edge.models.oobleck import OobleckDecoder, OobleckEncoder, SnakeBeta, fuse_weight_norm


def _random_snakes(module: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, SnakeBeta):
                m.alpha.copy_(torch.randn(m.alpha.shape, generator=gen) * 0.5)
                m.beta.copy_(torch.randn(m.beta.shape, generator=gen) * 0.5)
    return module


@pytest.mark.parametrize("kind", [OobleckDecoder, OobleckEncoder])
def test_planar_rewrite_is_exact_in_fp32(tiny_cfg, kind):
    torch.manual_seed(0)
    cfg = tiny_cfg.decoder if kind is OobleckDecoder else tiny_cfg.encoder
    stack = _random_snakes(fuse_weight_norm(kind(cfg)).eval(), 1)
    x = torch.randn(1, cfg.latent_dim, 6) if kind is OobleckDecoder else torch.randn(1, cfg.audio_channels, 4096)
    planar = xnnpack_friendly(stack)
    assert isinstance(planar, PlanarConvStack)
    kinds = {type(m) for m in planar.modules()}
    assert nn.Conv1d not in kinds and nn.ConvTranspose1d not in kinds and Conv1dAs2d in kinds
    assert (ConvTranspose1dAs2d in kinds) == (kind is OobleckDecoder)
    with torch.no_grad():
        want, got = stack(x), planar(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


@pytest.mark.parametrize(("stride", "kernel", "padding"), [(2, 4, 1), (4, 8, 2), (8, 16, 4), (3, 7, 0)])
def test_polyphase_upsampler_is_exact(stride, kernel, padding):
    torch.manual_seed(stride)
    conv = nn.ConvTranspose1d(5, 3, kernel, stride, padding)
    x = torch.randn(2, 5, 11)
    with torch.no_grad():
        torch.testing.assert_close(PolyphaseConvTranspose1d(conv)(x), conv(x), rtol=1e-5, atol=1e-6)


def test_int8_decoder_is_one_delegate_of_quantised_convolutions(et_int8_bundle):
    """No conv is left outside XNNPACK (counted in the program), and XNNPACK runs the convolutions
    and the upsamplers as dynamically quantised kernels (their names in its own profile)."""
    from arc_edge.bench.profile import ProfileOptions, profile_bundle
    from arc_edge.export.pte import summarize_pte

    summary = summarize_pte(et_int8_bundle / "decoder.pte")
    assert summary.delegate_calls == 1
    assert set(summary.operators) <= {"aten::unsqueeze_copy", "aten::squeeze_copy"}, summary.operators
    profile = profile_bundle(et_int8_bundle, ProfileOptions(runs=1, threads=2, top=100))
    decoder_ops = {op["operator"] for op in profile["graphs"]["decoder"]["top"]}
    assert any(re.match(r"Convolution \(NHWC, QDU?8", op) for op in decoder_ops), decoder_ops
    assert any(re.match(r"Deconvolution \(NHWC, QDU?8", op) for op in decoder_ops), decoder_ops
    assert not any("F32) IGEMM" in op and not re.search("QDU?8", op) for op in decoder_ops)  # no fp32 convolution left
    dit_ops = {op["operator"] for op in profile["graphs"]["dit"]["top"]}
    assert any(re.search("QDU?8", op) for op in dit_ops) and profile["graphs"]["decoder"]["operators_ms"] > 0


def test_windowed_decode_equals_whole_decode(tiny_pipeline):
    cfg = tiny_pipeline.cfg
    field = receptive_field_frames(tiny_pipeline)
    plan = decode_plan(tiny_pipeline, ExportOptions(load_export_recipe("fp32"), decode_window=2 * field + 5))
    assert len(plan.windows) >= 3
    plan = replace(plan, dc_blocker_hz=0.0)  # the windows alone (the blocker streams alike: test_dc_blocker)
    latent = torch.randn(1, cfg.latent_dim, cfg.latent_length, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        whole = tiny_pipeline.decode(latent)
        tiled = torch.cat(list(decode_in_windows(tiny_pipeline.decode, latent, plan, cfg.downsampling_ratio)), -1)
    assert tiled.shape == whole.shape and snr_db(whole, tiled) >= 60.0


def test_auto_decode_window_bounds_the_window():
    saos = types.SimpleNamespace(cfg=builtin_config("saos"))
    plan = decode_plan(saos, ExportOptions(load_export_recipe("int8")))
    assert len(plan.windows) > 1 and plan.window <= 128
    covered = [f for w in plan.windows for f in range(w.keep_begin, w.keep_end)]
    assert covered == list(range(saos.cfg.latent_length))  # every frame once, in order
    assert decode_plan(saos, ExportOptions(load_export_recipe("int8"), decode_window="whole")).window == 256
    tiny = types.SimpleNamespace(cfg=builtin_config("tiny"))
    assert len(decode_plan(tiny, ExportOptions(load_export_recipe("int8"))).windows) == 1


def test_threads_reach_executorch_onnxruntime_and_torch(et_int8_bundle, tmp_path, monkeypatch):
    from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count

    from arc_edge.commands.common import set_threads
    from arc_edge.export.backends import OnnxBackend
    from arc_edge.export.bundle import BundleRuntime

    for threads in (1, 2):
        BundleRuntime(et_int8_bundle, threads)
        assert _threadpool_get_thread_count() == threads
    import onnxruntime

    seen = []
    real = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "InferenceSession",
                        lambda path, sess_options, providers: seen.append(sess_options.intra_op_num_threads)
                        or real(path, sess_options=sess_options, providers=providers))
    torch.onnx.export(nn.Linear(3, 2), (torch.ones(1, 3),), str(tmp_path / "l.onnx"), dynamo=False)
    OnnxBackend().load(tmp_path / "l.onnx", threads=3)
    assert seen == [3]
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(2)


def test_a_recipe_the_backend_cannot_do_is_refused_before_work(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["export", "--model", str(tiny_model_dir), "--format", "onnx", "--quant", "fp16-decoder",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "onnx backend cannot export [graphs.decoder] as fp16" in err and "--format executorch" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists() and list(tmp_path.iterdir()) == []


def test_every_recipe_module_name_has_a_rewritten_module_type():
    """Recipes name module types without importing torch; the quantizer maps the same names to classes."""
    from arc_edge.export.recipes import QUANTIZABLE_MODULES
    from arc_edge.export.xnnpack_rewrites import QUANTIZABLE_TYPES

    assert set(QUANTIZABLE_TYPES) == set(QUANTIZABLE_MODULES)


def test_recipe_quantisation_options_are_validated(tmp_path):
    from importlib import resources

    from arc_edge.errors import ConfigError

    text = resources.files("arc_edge.export_recipes").joinpath("8da4w.toml").read_text()
    bad = tmp_path / "r.toml"
    for old, new, message in (
        ('modules = ["Conv1d", "ConvTranspose1d"]', 'modules = ["Conv2d"]', "cannot be quantised as int8_dynamic"),
        ("group_size = 32", "group_size = 48", "not a power of two"),
        ("group_size = 32", "group_size = 0", "group_size"),
        ('quant = "int8_dynamic_int4_weight"\nmodules = ["Linear"]',
         'quant = "int8_dynamic_int4_weight"\nmodules = ["Conv1d"]', "cannot be quantised as int8_dynamic_int4_weight"),
        ('[graphs.dit]\nquant = "int8_dynamic_int4_weight"', '[graphs.dit]\nquant = "fp16"', r"is fp16 \(the whole graph\)"),
    ):
        assert old in text
        bad.write_text(text.replace(old, new, 1))
        with pytest.raises(ConfigError, match=message):
            load_export_recipe(str(bad))
    bad.write_text(text.replace('[graphs.decoder]\nquant = "int8_dynamic"',
                                '[graphs.decoder]\ngroup_size = 64\nquant = "int8_dynamic"'))
    with pytest.raises(ConfigError, match="group_size only applies"):
        load_export_recipe(str(bad))
    assert load_export_recipe("8da4w").graph("dit").group_size == 32


def test_a_clip_cut_short_fades_out_across_windows():
    """The last 10 ms of a shortened clip fade to zero even when the fade spans two windows; a
    full-length clip is not touched (the reference's behaviour)."""
    import numpy as np

    from arc_edge.decoding import end_fade_samples, plan_windows

    hop, frames, fade = 64, 40, end_fade_samples(44100)
    plan = plan_windows(frames, 16, 4)
    latent = torch.randn(1, 2, frames, generator=torch.Generator().manual_seed(5))

    def decode(window):
        return window.repeat_interleave(hop, dim=-1) + 1.0  # never zero on its own

    boundary = plan.windows[1].keep_begin * hop
    limit = boundary + 100  # the fade starts in one window and ends in the next
    plain = torch.cat(list(decode_in_windows(decode, latent, plan, hop, limit)), -1).numpy()
    faded = torch.cat(list(decode_in_windows(decode, latent, plan, hop, limit, fade)), -1).numpy()
    k = np.arange(1, fade + 1)
    expected = plain.copy()
    expected[..., limit - fade:] *= (0.5 * (1 + np.cos(np.pi * k / fade))).astype(np.float32)
    np.testing.assert_allclose(faded, expected, rtol=1e-6, atol=1e-7)
    assert np.all(faded[..., -1] == 0) and np.array_equal(faded[..., :limit - fade], plain[..., :limit - fade])
    whole = torch.cat(list(decode_in_windows(decode, latent, plan, hop, frames * hop, fade)), -1)
    assert torch.equal(whole, torch.cat(list(decode_in_windows(decode, latent, plan, hop)), -1))
