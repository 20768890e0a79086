"""Export to ExecuTorch/XNNPACK and ONNX bundles: parity with eager, the gate, and bad input."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from arc_edge.checkpoint import load_model_dir
from arc_edge.cli import main
from arc_edge.errors import ConfigError
from arc_edge.export.bundle import BundleRuntime
from arc_edge.export.exporter import ExportOptions, ParityError, export_bundle
from arc_edge.export.manifest import BundleError, read_manifest
from arc_edge.export.parity import snr_db
from arc_edge.export.recipes import load_export_recipe
from arc_edge.generate import GenerationRequest, generate
from arc_edge.sampling import draw_noise


@pytest.fixture(scope="module")
def pipeline(bundled_model_dir):
    return load_model_dir(bundled_model_dir)


@pytest.fixture(scope="module")
def onnx_int8_bundle(tmp_path_factory, pipeline):
    out = tmp_path_factory.mktemp("bundles") / "onnx_int8"
    export_bundle(pipeline, out, ExportOptions(load_export_recipe("int8"), "onnx", with_encoder=True), log=lambda m: None)
    return out


def _generate_both(pipeline, bundle, prompt, seconds, seed=3):
    runtime = BundleRuntime(bundle)
    req = GenerationRequest(prompt, seconds, steps=8, seed=seed)
    noise = draw_noise((1, pipeline.cfg.latent_dim, pipeline.cfg.latent_length), 8, seed)
    return generate(pipeline, req, noise=noise).audio, generate(runtime, req, noise=noise).audio


def test_manifest_describes_every_graph_and_file(et_int8_bundle, pipeline):
    manifest = read_manifest(et_int8_bundle)
    m = manifest.raw
    assert m["backend"] == "executorch" and m["recipe"]["name"] == "int8"
    assert set(m["graphs"]) == {"conditioners", "dit", "decoder"}
    dit = m["graphs"]["dit"]
    assert [i["name"] for i in dit["inputs"]] == ["x", "t", "cross_attn_cond", "global_cond"]
    assert dit["inputs"][2]["shape"] == [1, pipeline.cfg.prompt.max_length + 1, pipeline.cfg.cond_dim]
    assert dit["quantization"]["quant"] == "int8_dynamic"
    assert m["graphs"]["decoder"]["quantization"] == {"quant": "int8_dynamic", "modules": ["Conv1d", "ConvTranspose1d"],
                                                      "min_snr_db": 12.0}
    assert m["graphs"]["conditioners"]["quantization"]["quant"] == "fp32"
    assert m["sampler"]["steps"] == 8 and manifest.schedules[8] == pytest.approx(
        [1, 0.99331, 0.98201, 0.95257, 0.8808, 0.73106, 0.5, 0.26894, 0], abs=1e-5)
    assert sorted(manifest.schedules) == list(range(1, 33))
    assert set(m["files"]) == {"conditioners.pte", "dit.pte", "decoder.pte", "spiece.model", "selftest.safetensors"}
    for stage in ("conditioners", "dit", "decoder", "end_to_end"):
        assert m["parity"][stage]["snr_db"] >= m["parity"][stage]["min_snr_db"]


def test_executorch_int8_bundle_matches_eager_on_a_new_prompt(et_int8_bundle, pipeline):
    eager, bundled = _generate_both(pipeline, et_int8_bundle, "a bright saw wave on the right, fading out", 1.0)
    assert eager.shape == bundled.shape == (2, 44100)
    recipe = load_export_recipe("int8")
    assert snr_db(torch.from_numpy(eager), torch.from_numpy(bundled)) >= recipe.end_to_end_min_snr_db
    # and the int8 DiT really differs from fp32 (it is quantised, not a copy)
    assert not np.array_equal(eager, bundled)


def test_onnx_bundle_matches_eager_including_encoder(onnx_int8_bundle, pipeline):
    eager, bundled = _generate_both(pipeline, onnx_int8_bundle, "static noise panned left", 1.0)
    assert snr_db(torch.from_numpy(eager), torch.from_numpy(bundled)) >= load_export_recipe("int8").end_to_end_min_snr_db
    runtime = BundleRuntime(onnx_int8_bundle)
    audio = torch.randn(1, 2, pipeline.cfg.sample_size) * 0.1
    for eager_out, bundle_out in zip(pipeline.posterior(audio), runtime.posterior(audio), strict=True):
        assert snr_db(eager_out, bundle_out) > 60


def test_generate_cli_runs_a_bundle(et_int8_bundle, tmp_path, capsys):
    out = tmp_path / "b.wav"
    assert main(["generate", "a deep square wave", "--bundle", str(et_int8_bundle), "--seconds", "1.2",
                 "--out", str(out)]) == 0
    data, sr = sf.read(out, always_2d=True)
    assert sr == 44100 and data.shape == (int(1.2 * 44100), 2)
    assert "bundle" in capsys.readouterr().out


def test_generate_cli_defaults_to_the_bundles_exported_duration(et_int8_bundle, tmp_path):
    b = _copy(et_int8_bundle, tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    m["default_seconds"] = 0.75  # as `export --seconds 0.75` writes it; the model makes up to 2.97 s
    (b / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "d.wav"
    assert main(["generate", "a deep square wave", "--bundle", str(b), "--out", str(out)]) == 0
    assert sf.info(str(out)).frames == int(0.75 * 44100)


def _copy(bundle, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


def test_tampered_file_and_wrong_version_are_refused(et_int8_bundle, tmp_path, capsys):
    b = _copy(et_int8_bundle, tmp_path)
    with (b / "dit.pte").open("r+b") as f:
        f.seek(100)
        f.write(b"\x00\xff")
    with pytest.raises(BundleError, match="dit.pte fails its sha256 check"):
        BundleRuntime(b)
    assert main(["generate", "x", "--bundle", str(b), "--out", str(tmp_path / "x.wav")]) == 2
    assert "sha256" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    m = json.loads((b / "manifest.json").read_text())
    m["format_version"] = 99
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        read_manifest(b)
    shutil.copyfile(et_int8_bundle / "dit.pte", b / "dit.pte")
    (b / "spiece.model").unlink()
    m["format_version"] = 2
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="spiece.model is missing"):
        read_manifest(b)


def test_a_bundle_names_the_model_and_the_runs_it_came_from(et_int8_bundle, bundled_model_dir, tmp_path):
    from safetensors import safe_open

    with safe_open(str(bundled_model_dir / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata() or {}
    stage, step = metadata.get("arc_edge_trained_stage"), metadata.get("arc_edge_trained_step")
    source = json.loads((et_int8_bundle / "manifest.json").read_text())["source_model"]
    assert source["model"] == str(bundled_model_dir)
    if stage:  # the bundled default model records its run; a random stand-in has none to name
        assert source["trained"].startswith(f"{stage} {step}")
        assert f"of {bundled_model_dir} (trained: {stage} {step}" in BundleRuntime(et_int8_bundle).description
    else:
        assert "trained" not in source
    b = _copy(et_int8_bundle, tmp_path)
    m = json.loads((b / "manifest.json").read_text())
    m["source_model"] = {"model": "evil\n\x1b[2J", "trained": "arc 1"}  # a hostile manifest's line is shown, not obeyed
    (b / "manifest.json").write_text(json.dumps(m))
    assert read_manifest(b).source_model == ascii("evil\n\x1b[2J (trained: arc 1)")
    m["source_model"] = {"model": 3}
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="source_model.model"):
        read_manifest(b)
    del m["source_model"]  # a bundle exported before the field existed still loads
    (b / "manifest.json").write_text(json.dumps(m))
    assert read_manifest(b).source_model is None and BundleRuntime(b).description.endswith("(executorch, int8)")


def test_failed_parity_gate_leaves_nothing(pipeline, tmp_path):
    strict = tmp_path / "strict.toml"
    text = _recipe_text("int8")
    strict.write_text(text.replace("min_snr_db = 20.0", "min_snr_db = 250.0"))
    out = tmp_path / "bundle"
    with pytest.raises(ParityError, match="dit .* < 250.0 dB"):
        export_bundle(pipeline, out, ExportOptions(load_export_recipe(str(strict)), "onnx"), log=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strict.toml"]


def test_export_bad_input(tiny_model_dir, tmp_path, capsys):
    assert main(["export", "--model", str(tiny_model_dir), "--quant", "int3", "--out", str(tmp_path / "b")]) == 2
    assert "unknown export recipe 'int3'" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "exists").mkdir()
    assert main(["export", "--model", str(tiny_model_dir), "--out", str(tmp_path / "exists")]) == 2
    assert "--force" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists"]


def _recipe_text(name):
    from importlib import resources
    return resources.files("arc_edge.export_recipes").joinpath(f"{name}.toml").read_text()


def test_recipe_validation(tmp_path):
    bad = tmp_path / "bad.toml"
    good = _recipe_text("int8")
    bad.write_text(good.replace('modules = ["Linear"]', 'modules = ["Conv2d"]'))
    with pytest.raises(ConfigError, match="cannot be quantised as int8_dynamic"):
        load_export_recipe(str(bad))
    bad.write_text(good.replace('[graphs.decoder]', '[graphs.other]'))
    with pytest.raises(ConfigError, match="unknown graph.s. other"):
        load_export_recipe(str(bad))
    bad.write_text(good.replace('[graphs.decoder]', '[unused]'))
    with pytest.raises(ConfigError, match="unknown key.s. unused"):
        load_export_recipe(str(bad))
    # a typo or a NaN must never switch the parity gate off
    bad.write_text(good.replace("min_snr_db = 20.0", "min_snr_dB = 20.0"))
    with pytest.raises(ConfigError, match="unknown key.s. min_snr_dB"):
        load_export_recipe(str(bad))
    for value in ("nan", "inf", '"20"'):
        bad.write_text(good.replace("min_snr_db = 20.0", f"min_snr_db = {value}"))
        with pytest.raises(ConfigError, match="graphs.dit.min_snr_db' must be a finite number"):
            load_export_recipe(str(bad))
    assert load_export_recipe("8da8w").name == "int8"  # optimum-cli's name for the same recipe
