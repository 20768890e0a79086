"""A battery of bad inputs across every verb: each ends in one line that starts 'arc-edge: error:' and
names the problem, exit code 2, and nothing is written (existing outputs are left as they were)."""

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from arc_edge.cli import main


def _copy_model(src: Path, dst: Path, edit=None) -> Path:
    shutil.copytree(src, dst)
    if edit:
        edit(dst)
    return dst


def _edit_config(path: Path, change) -> None:
    raw = json.loads((path / "model_config.json").read_text())
    change(raw)
    (path / "model_config.json").write_text(json.dumps(raw))


def _edit_json(path: Path, change) -> None:
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def _t5cfg(raw):
    return raw["model"]["conditioning"]["configs"][0]["config"]["t5_config"]


@pytest.fixture(scope="module")
def w(tmp_path_factory, tiny_model_dir, et_int8_bundle):
    """Valid and broken inputs, made once."""
    d = tmp_path_factory.mktemp("inputs")
    ns = SimpleNamespace(dir=d, model=tiny_model_dir, bundle=et_int8_bundle)
    (d / "bad.json").write_text("{not json")
    (d / "empty.txt").write_text("")
    (d / "text.wav").write_text("hello, I am not audio")
    (d / "adir").mkdir()
    sf.write(d / "zero.wav", np.zeros((0, 2), np.float32), 44100)
    sf.write(d / "nan.wav", np.full((4410, 2), np.nan, np.float32), 44100, subtype="FLOAT")
    sf.write(d / "ok.wav", np.zeros((4410, 2), np.float32), 44100)
    # model directories
    m = d / "models"
    m.mkdir()
    ns.no_config = _copy_model(tiny_model_dir, m / "no_config", lambda p: (p / "model_config.json").unlink())
    ns.config_not_json = _copy_model(tiny_model_dir, m / "not_json",
                                     lambda p: (p / "model_config.json").write_text("{oops"))
    ns.config_types = _copy_model(tiny_model_dir, m / "types",
                                  lambda p: _edit_config(p, lambda r: r.update(sample_rate="44100")))
    ns.config_nan = _copy_model(tiny_model_dir, m / "nan", lambda p: (p / "model_config.json").write_text(
        (p / "model_config.json").read_text().replace('"sample_rate": 44100', '"sample_rate": NaN')))
    ns.config_range = _copy_model(tiny_model_dir, m / "range", lambda p: _edit_config(
        p, lambda r: r["model"]["pretransform"]["config"]["decoder"]["config"].update(channels=-4)))
    ns.config_dit = _copy_model(tiny_model_dir, m / "dit", lambda p: _edit_config(
        p, lambda r: r["model"]["diffusion"].update(type="unet")))
    ns.config_t5_types = _copy_model(tiny_model_dir, m / "t5types", lambda p: _edit_config(
        p, lambda r: _t5cfg(r).update(num_layers="two")))
    ns.config_t5_key = _copy_model(tiny_model_dir, m / "t5key", lambda p: _edit_config(
        p, lambda r: _t5cfg(r).update(evil_kwarg=1)))
    ns.config_scale = _copy_model(tiny_model_dir, m / "scale", lambda p: _edit_config(
        p, lambda r: r["model"]["pretransform"].update(scale=0)))
    ns.config_list = _copy_model(tiny_model_dir, m / "list", lambda p: (p / "model_config.json").write_text("[]"))
    ns.no_weights = _copy_model(tiny_model_dir, m / "no_weights", lambda p: (p / "model.safetensors").unlink())

    def truncate(p):
        data = (p / "model.safetensors").read_bytes()
        (p / "model.safetensors").write_bytes(data[: len(data) // 2])
    ns.truncated = _copy_model(tiny_model_dir, m / "truncated", truncate)

    def misshape(p):
        sd = load_file(str(p / "model.safetensors"))
        sd["model.model.preprocess_conv.weight"] = torch.zeros(3, 3, 1)
        save_file(sd, str(p / "model.safetensors"))
    ns.misshaped = _copy_model(tiny_model_dir, m / "misshaped", misshape)

    def int_weights(p):
        sd = load_file(str(p / "model.safetensors"))
        sd["model.model.preprocess_conv.weight"] = sd["model.model.preprocess_conv.weight"].to(torch.int32)
        save_file(sd, str(p / "model.safetensors"))
    ns.int_weights = _copy_model(tiny_model_dir, m / "int_weights", int_weights)
    ns.no_t5 = _copy_model(tiny_model_dir, m / "no_t5", lambda p: shutil.rmtree(p / "t5"))
    ns.t5_garbage = _copy_model(tiny_model_dir, m / "t5_garbage", lambda p: (p / "t5" / "config.json").write_text("x"))
    ns.spm_garbage = _copy_model(tiny_model_dir, m / "spm_garbage",
                                 lambda p: (p / "t5" / "spiece.model").write_bytes(b"\x00garbage" * 10))
    # bundles
    b = d / "bundles"
    b.mkdir()

    def bundle(name, change=None, files=None):
        dst = b / name
        shutil.copytree(et_int8_bundle, dst)
        if change:
            _edit_json(dst / "manifest.json", change)
        if files:
            files(dst)
        return dst
    ns.traversal = bundle("traversal", lambda m: m["graphs"]["dit"].update(file="../dit.pte"))
    ns.absolute = bundle("absolute", lambda m: m["graphs"]["dit"].update(file="/etc/passwd"))
    ns.unlisted = bundle("unlisted", lambda m: m["graphs"]["dit"].update(file="evil.pte"),
                         lambda p: shutil.copy(p / "dit.pte", p / "evil.pte"))

    def symlink(p):
        outside = p.parent / "outside.pte"
        shutil.copy(p / "dit.pte", outside)
        (p / "dit.pte").unlink()
        os.symlink(outside, p / "dit.pte")
    ns.symlinked = bundle("symlinked", files=symlink)

    def tamper(p):
        data = bytearray((p / "dit.pte").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (p / "dit.pte").write_bytes(bytes(data))
    ns.tampered = bundle("tampered", files=tamper)
    ns.old_version = bundle("old_version", lambda m: m.update(format_version=1))
    ns.types_bundle = bundle("types", lambda m: m.update(sample_rate="44100"))
    ns.tiny_default = bundle("tiny_default", lambda m: m.update(default_seconds=0.001))
    ns.long_default = bundle("long_default", lambda m: m.update(default_seconds=3600.0))
    ns.schedule_bundle = bundle("schedule", lambda m: m["sampler"]["schedules"].update({"8": [0.5] * 3}))
    ns.no_manifest = bundle("no_manifest", files=lambda p: (p / "manifest.json").unlink())
    ns.bad_windows = bundle("bad_windows", lambda m: m["graphs"]["decoder"]["decode"].update(windows=[[0, 0, 3]]))
    ns.onnx = bundle("onnx", lambda m: m.update(backend="onnx"))
    # recipes
    good = (Path(__file__).resolve().parents[1] / "export" / "recipes" / "int8.toml").read_text()
    (d / "nan.toml").write_text(good.replace("min_snr_db = 20.0", "min_snr_db = nan"))
    (d / "typo.toml").write_text(good.replace("min_snr_db = 20.0", "min_snr_dB = 20.0"))
    (d / "broken.toml").write_text("[graphs\nquant =")
    (d / "train_nan.toml").write_text("[rf]\nlr = nan\n")
    (d / "train_table.toml").write_text("[rf]\nsteps = 10\n[rff]\nsteps = 3\n")
    # prompt files and data manifests
    (d / "bad_line.jsonl").write_text('{"prompt": "a sine"}\n{oops\n')
    (d / "not_object.jsonl").write_text('["a sine"]\n')
    (d / "unknown_attr.jsonl").write_text('{"prompt": "a sine", "attributes": {"colour": "red"}}\n')
    (d / "bad_value.jsonl").write_text('{"prompt": "a sine", "attributes": {"pan": "up"}}\n')
    (d / "nan_freq.jsonl").write_text('{"prompt": "a sine", "frequency": NaN}\n')
    (d / "empty.jsonl").write_text("\n\n")
    # nothing to score in the first prompt (--limit 1); the second has an attribute
    (d / "unscored.jsonl").write_text('{"prompt": "a sine", "attributes": {}}\n'
                                      '{"prompt": "a saw", "attributes": {"waveform": "saw"}}\n')
    (d / "data_missing.jsonl").write_text('{"path": "ok.wav"}\n')
    (d / "data_bad.jsonl").write_text('{"path": "ok.wav", "caption": "x", "seconds": -3}\n')
    (d / "data_header.csv").write_text("file,text\nok.wav,x\n")
    (d / "report.json").write_text(json.dumps({"adherence": {"overall": "high"}}))
    valid = {"adherence": {"overall": 0.5, "per_attribute": {"pan": 0.5}}, "steps": 8, "sampler": "pingpong",
             "cfg_scale": 1.0, "latency_s": {"mean": 0.1}}
    (d / "no_cfg.json").write_text(json.dumps({k: v for k, v in valid.items() if k != "cfg_scale"}))
    (d / "clap_text.json").write_text(json.dumps({**valid, "learned_embedding": {"clap_score": "high"}}))
    (d / "band_short.json").write_text(json.dumps({**valid, "band_response": {
        "bands_hz": [[0, 250], [250, 500]], "median_db_by_sound": {"sine mid": [1.0]}}}))
    (d / "band_edges.json").write_text(json.dumps({**valid, "band_response": {
        "bands_hz": [[0, "x"]], "median_db_by_sound": {"sine mid": [1.0]}}}))
    huge = json.loads((tiny_model_dir / "model_config.json").read_text())
    huge["model"]["diffusion"]["config"].update(depth=1024, embed_dim=8192)
    (d / "huge.json").write_text(json.dumps(huge))
    ns.bad_embedder = d / "embedder"
    ns.bad_embedder.mkdir()
    shipped = json.loads((Path(__file__).resolve().parents[1] / "arc_edge" / "default_embedder" /
                          "embedder_config.json").read_text())
    (ns.bad_embedder / "embedder_config.json").write_text(json.dumps({**shipped, "n_fft": "big"}))
    (ns.bad_embedder / "embedder.safetensors").write_bytes(b"")
    ns.foreign = d / "foreign"  # somebody's folder: --force must not delete it
    ns.foreign.mkdir()
    (ns.foreign / "thesis.txt").write_text("precious")
    ns.bad_ckpt_run = d / "run_bad_ckpt"
    ns.bad_ckpt_run.mkdir()
    (ns.bad_ckpt_run / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    return ns


def G(*a):  # a generate command with the tiny model
    return lambda w, out: ["generate", *a, "--out", str(out / "x.wav")]


def GM(*a):
    return lambda w, out: ["generate", "a sine", "--model", str(w.model), *a, "--out", str(out / "x.wav")]


CASES = [
    # generate: arguments
    ("prompt empty", lambda w, o: ["generate", "", "--model", str(w.model), "--out", str(o / "x.wav")], "prompt is empty"),
    ("prompt blank", lambda w, o: ["generate", " \t\n", "--model", str(w.model), "--out", str(o / "x.wav")],
     "prompt is empty"),
    ("seconds nan", GM("--seconds", "nan"), "finite number"),
    ("seconds inf", GM("--seconds", "inf"), "finite number"),
    ("seconds zero", GM("--seconds", "0"), "out of range"),
    ("seconds negative", GM("--seconds", "-1"), "out of range"),
    ("seconds under the end fade", GM("--seconds", "0.001"), "out of range"),
    ("seconds under one sample", GM("--seconds", "0.00001"), "out of range"),
    ("seconds too long", GM("--seconds", "99"), "out of range"),
    ("steps zero", GM("--steps", "0"), "out of range"),
    ("steps negative", GM("--steps", "-3"), "out of range"),
    ("steps huge", GM("--steps", "100000"), "out of range"),
    ("steps text", GM("--steps", "many"), "invalid int value"),
    ("seed negative", GM("--seed", "-1"), "--seed -1 is out of range"),
    ("cfg nan", GM("--cfg", "nan"), "finite number"),
    ("cfg negative", GM("--cfg", "-1"), "negative"),
    ("sampler unknown", GM("--sampler", "ddim"), "invalid choice"),
    ("init-noise zero", GM("--init-noise", "0"), "out of range"),
    ("init-noise above one", GM("--init-noise", "1.5"), "out of range"),
    ("init-noise without audio", GM("--init-noise", "0.5"), "needs --init-audio"),
    ("init-audio missing", lambda w, o: GM("--init-audio", str(w.dir / "none.wav"))(w, o), "no audio file"),
    ("init-audio not audio", lambda w, o: GM("--init-audio", str(w.dir / "text.wav"))(w, o), "not a readable audio"),
    ("init-audio a folder", lambda w, o: GM("--init-audio", str(w.dir / "adir"))(w, o), "no audio file"),
    ("init-audio empty", lambda w, o: GM("--init-audio", str(w.dir / "zero.wav"), "--init-noise", "0.5")(w, o),
     "holds no samples"),
    ("init-audio nan", lambda w, o: GM("--init-audio", str(w.dir / "nan.wav"), "--init-noise", "0.5")(w, o),
     "NaN or infinite"),
    ("threads zero", GM("--threads", "0"), "must be at least 1"),
    ("out folder missing", lambda w, o: ["generate", "a sine", "--model", str(w.model), "--out", str(o / "no" / "x.wav")],
     "does not exist"),
    ("out is a folder", lambda w, o: ["generate", "a sine", "--model", str(w.model), "--out", str(w.dir / "adir"),
                                      "--force"], "is a folder"),
    ("out is a device", lambda w, o: ["generate", "a sine", "--model", str(w.model), "--out", "/dev/null", "--force"],
     "not a regular file"),
    ("out not a wav name", lambda w, o: ["generate", "a sine", "--model", str(w.model), "--out", str(o / "x.mp3")],
     "the audio is written as WAV; give a file name ending in .wav, e.g. "),
    ("out without a suffix", lambda w, o: ["generate", "a sine", "--model", str(w.model), "--out", str(o / "clip")],
     "ending in .wav"),
    # generate: model directories
    ("model missing", lambda w, o: ["generate", "a sine", "--model", str(w.dir / "nomodel"), "--out", str(o / "x.wav")],
     "does not exist"),
    ("model no config", lambda w, o: ["generate", "a", "--model", str(w.no_config), "--out", str(o / "x.wav")],
     "model_config.json"),
    ("model config not json", lambda w, o: ["generate", "a", "--model", str(w.config_not_json), "--out", str(o / "x.wav")],
     "not valid JSON"),
    ("model config wrong type", lambda w, o: ["generate", "a", "--model", str(w.config_types), "--out", str(o / "x.wav")],
     "'sample_rate' must be an integer"),
    ("model config NaN", lambda w, o: ["generate", "a", "--model", str(w.config_nan), "--out", str(o / "x.wav")],
     "not valid JSON"),
    ("model config range", lambda w, o: ["generate", "a", "--model", str(w.config_range), "--out", str(o / "x.wav")],
     "channels"),
    ("model config dit type", lambda w, o: ["generate", "a", "--model", str(w.config_dit), "--out", str(o / "x.wav")],
     "one of dit"),
    ("model t5 config type", lambda w, o: ["generate", "a", "--model", str(w.config_t5_types), "--out", str(o / "x.wav")],
     "num_layers"),
    ("model t5 config key", lambda w, o: ["generate", "a", "--model", str(w.config_t5_key), "--out", str(o / "x.wav")],
     "unknown t5_config key"),
    ("model scale zero", lambda w, o: ["generate", "a", "--model", str(w.config_scale), "--out", str(o / "x.wav")],
     "scale"),
    ("model config a list", lambda w, o: ["generate", "a", "--model", str(w.config_list), "--out", str(o / "x.wav")],
     "must be an object"),
    ("model no weights", lambda w, o: ["generate", "a", "--model", str(w.no_weights), "--out", str(o / "x.wav")],
     "no model.safetensors"),
    ("model truncated", lambda w, o: ["generate", "a", "--model", str(w.truncated), "--out", str(o / "x.wav")],
     "could not be read"),
    ("model misshaped", lambda w, o: ["generate", "a", "--model", str(w.misshaped), "--out", str(o / "x.wav")],
     "mis-shaped"),
    ("model int weights", lambda w, o: ["generate", "a", "--model", str(w.int_weights), "--out", str(o / "x.wav")],
     "expected a float tensor"),
    ("model no t5", lambda w, o: ["generate", "a", "--model", str(w.no_t5), "--out", str(o / "x.wav")], "--t5 DIR"),
    ("model t5 garbage", lambda w, o: ["generate", "a", "--model", str(w.t5_garbage), "--out", str(o / "x.wav")],
     "could not be loaded"),
    ("model spiece garbage", lambda w, o: ["generate", "a", "--model", str(w.spm_garbage), "--out", str(o / "x.wav")],
     "not a SentencePiece model"),
    # generate: bundles (untrusted input)
    ("bundle and model", lambda w, o: ["generate", "a", "--bundle", str(w.bundle), "--model", str(w.model), "--out",
                                       str(o / "x.wav")], "drop --model"),
    ("bundle missing", lambda w, o: ["generate", "a", "--bundle", str(w.dir / "none"), "--out", str(o / "x.wav")],
     "not a folder"),
    ("bundle no manifest", lambda w, o: ["generate", "a", "--bundle", str(w.no_manifest), "--out", str(o / "x.wav")],
     "not a bundle"),
    ("bundle traversal", lambda w, o: ["generate", "a", "--bundle", str(w.traversal), "--out", str(o / "x.wav")],
     "not a plain file name"),
    ("bundle absolute path", lambda w, o: ["generate", "a", "--bundle", str(w.absolute), "--out", str(o / "x.wav")],
     "not a plain file name"),
    ("bundle unlisted file", lambda w, o: ["generate", "a", "--bundle", str(w.unlisted), "--out", str(o / "x.wav")],
     "does not list"),
    ("bundle symlink", lambda w, o: ["generate", "a", "--bundle", str(w.symlinked), "--out", str(o / "x.wav")],
     "symlink"),
    ("bundle tampered", lambda w, o: ["generate", "a", "--bundle", str(w.tampered), "--out", str(o / "x.wav")],
     "sha256"),
    ("bundle version", lambda w, o: ["generate", "a", "--bundle", str(w.old_version), "--out", str(o / "x.wav")],
     "format version 1"),
    ("bundle wrong type", lambda w, o: ["generate", "a", "--bundle", str(w.types_bundle), "--out", str(o / "x.wav")],
     "sample_rate"),
    ("bundle default too short", lambda w, o: ["generate", "a", "--bundle", str(w.tiny_default), "--out",
                                               str(o / "x.wav")], "default_seconds"),
    ("bundle default too long", lambda w, o: ["generate", "a", "--bundle", str(w.long_default), "--seconds", "1",
                                              "--out", str(o / "x.wav")], "longer than the model's"),
    ("bundle schedule", lambda w, o: ["generate", "a", "--bundle", str(w.schedule_bundle), "--out", str(o / "x.wav")],
     "schedules.8"),
    ("bundle windows", lambda w, o: ["generate", "a", "--bundle", str(w.bad_windows), "--out", str(o / "x.wav")],
     "windows"),
    ("bundle digest garbage", lambda w, o: ["generate", "a", "--bundle", str(w.bundle), "--bundle-digest", "abc",
                                            "--out", str(o / "x.wav")], "not a sha256 digest"),
    ("bundle digest other", lambda w, o: ["generate", "a", "--bundle", str(w.bundle), "--bundle-digest", "0" * 64,
                                          "--out", str(o / "x.wav")], "not the pinned"),
    # export
    ("export recipe unknown", lambda w, o: ["export", "--model", str(w.model), "--quant", "int3", "--out", str(o / "b")],
     "unknown export recipe"),
    ("export recipe nan", lambda w, o: ["export", "--model", str(w.model), "--quant", str(w.dir / "nan.toml"),
                                        "--out", str(o / "b")], "finite number"),
    ("export recipe typo", lambda w, o: ["export", "--model", str(w.model), "--quant", str(w.dir / "typo.toml"),
                                         "--out", str(o / "b")], "unknown key"),
    ("export recipe broken", lambda w, o: ["export", "--model", str(w.model), "--quant", str(w.dir / "broken.toml"),
                                           "--out", str(o / "b")], "not valid TOML"),
    ("export quant and qlinear", lambda w, o: ["export", "--quant", "int8", "--qlinear", "8da8w", "--out", str(o / "b")],
     "not both"),
    ("export qlinear unknown", lambda w, o: ["export", "--qlinear", "4da4w", "--out", str(o / "b")], "invalid choice"),
    ("export seconds nan", lambda w, o: ["export", "--model", str(w.model), "--seconds", "nan", "--out", str(o / "b")],
     "finite number"),
    ("export seconds zero", lambda w, o: ["export", "--model", str(w.model), "--seconds", "0", "--out", str(o / "b")],
     "out of range"),
    ("export seconds tiny", lambda w, o: ["export", "--model", str(w.model), "--seconds", "0.005", "--out",
                                          str(o / "b")], "out of range"),
    ("export steps too many", lambda w, o: ["export", "--model", str(w.model), "--steps", "33", "--out", str(o / "b")],
     "out of range for a bundle"),
    ("export window zero", lambda w, o: ["export", "--model", str(w.model), "--decode-window", "0", "--out", str(o / "b")],
     "must be at least 1"),
    ("export window too small", lambda w, o: ["export", "--model", str(w.model), "--decode-window", "8",
                                              "--out", str(o / "b")], "receptive field"),
    ("export overlap too small", lambda w, o: ["export", "--model", str(w.model), "--decode-window", "40",
                                               "--decode-overlap", "4", "--out", str(o / "b")], "receptive field"),
    ("export threads zero", lambda w, o: ["export", "--threads", "0", "--out", str(o / "b")], "must be at least 1"),
    ("export out exists", lambda w, o: ["export", "--model", str(w.model), "--out", str(w.dir / "adir")],
     "already exists"),
    ("export force foreign folder", lambda w, o: ["export", "--model", str(w.model), "--out", str(w.foreign), "--force"],
     "does not look like an arc-edge bundle"),
    ("export force device", lambda w, o: ["export", "--model", str(w.model), "--out", "/dev/null", "--force"],
     "not a folder"),
    ("export format unknown", lambda w, o: ["export", "--format", "tflite", "--out", str(o / "b")], "invalid choice"),
    # bench device
    ("bench bundle missing", lambda w, o: ["bench", "device", "--bundle", str(w.dir / "none"), "--out", str(o / "r.json")],
     "not a folder"),
    ("bench traversal", lambda w, o: ["bench", "device", "--bundle", str(w.traversal), "--out", str(o / "r.json")],
     "not a plain file name"),
    ("bench symlink", lambda w, o: ["bench", "device", "--bundle", str(w.symlinked), "--out", str(o / "r.json")],
     "symlink"),
    ("bench tampered", lambda w, o: ["bench", "device", "--bundle", str(w.tampered), "--out", str(o / "r.json")],
     "sha256"),
    ("bench onnx bundle", lambda w, o: ["bench", "device", "--bundle", str(w.onnx), "--out", str(o / "r.json")],
     "is an onnx bundle"),
    ("bench runs zero", lambda w, o: ["bench", "--bundle", str(w.bundle), "--runs", "0", "--out", str(o / "r.json")],
     "must be at least 1"),
    ("bench warmup negative", lambda w, o: ["bench", "--bundle", str(w.bundle), "--warmup", "-1", "--out",
                                            str(o / "r.json")], "must be 0 or more"),
    ("bench timeout zero", lambda w, o: ["bench", "--bundle", str(w.bundle), "--timeout", "0", "--out", str(o / "r.json")],
     "--timeout 0"),
    ("bench timeout nan", lambda w, o: ["bench", "--bundle", str(w.bundle), "--timeout", "nan", "--out",
                                        str(o / "r.json")], "finite number"),
    ("bench seconds too long", lambda w, o: ["bench", "--bundle", str(w.bundle), "--seconds", "99", "--out",
                                             str(o / "r.json")], "out of range"),
    ("bench seconds tiny", lambda w, o: ["bench", "--bundle", str(w.bundle), "--seconds", "0.00001", "--out",
                                         str(o / "r.json")], "out of range"),
    ("bench steps not in bundle", lambda w, o: ["bench", "--bundle", str(w.bundle), "--steps", "50", "--out",
                                                str(o / "r.json")], "out of range for this bundle"),
    ("bench wav not a wav name", lambda w, o: ["bench", "--bundle", str(w.bundle), "--wav", str(o / "r.flac"), "--out",
                                               str(o / "r.json")], "r.flac: the audio is written as WAV"),
    ("bench device unknown", lambda w, o: ["bench", "--bundle", str(w.bundle), "--device", "iphone", "--out",
                                           str(o / "r.json")], "unknown device"),
    ("bench app not adb", lambda w, o: ["bench", "--bundle", str(w.bundle), "--runner", "app", "--out",
                                        str(o / "r.json")], "needs --device adb"),
    ("bench prompt empty", lambda w, o: ["bench", "--bundle", str(w.bundle), "--prompt", " ", "--out", str(o / "r.json")],
     "--prompt is empty"),
    ("bench compare missing", lambda w, o: ["bench", "--bundle", str(w.bundle), "--compare", str(w.dir / "none.json"),
                                            "--out", str(o / "r.json")], "no bench results file"),
    ("bench compare broken", lambda w, o: ["bench", "--bundle", str(w.bundle), "--compare", str(w.dir / "bad.json"),
                                           "--out", str(o / "r.json")], "not valid JSON"),
    ("bench compare foreign", lambda w, o: ["bench", "--bundle", str(w.bundle), "--compare", str(w.dir / "report.json"),
                                            "--out", str(o / "r.json")], "summary"),
    # bench backends
    ("backends unknown", lambda w, o: ["bench", "backends", "--backends", "tensorrt", "--out", str(o / "r.json")],
     "unknown backend"),
    ("backends twice", lambda w, o: ["bench", "backends", "--backends", "et-int8,et-int8", "--out", str(o / "r.json")],
     "twice"),
    ("backends empty", lambda w, o: ["bench", "backends", "--backends", ",", "--out", str(o / "r.json")],
     "unknown backend"),
    ("backends model and config", lambda w, o: ["bench", "backends", "--model", str(w.model), "--config", "tiny",
                                                "--out", str(o / "r.json")], "not both"),
    ("backends work is a file", lambda w, o: ["bench", "backends", "--work", str(w.dir / "bad.json"), "--out",
                                              str(o / "r.json")], "not a folder"),
    # eval
    ("eval no out", lambda w, o: ["eval", "--model", str(w.model)], "give --out"),
    ("eval prompts missing", lambda w, o: ["eval", "--prompts", str(w.dir / "none.jsonl"), "--out", str(o / "r.json")],
     "no prompt file"),
    ("eval prompts bad line", lambda w, o: ["eval", "--prompts", str(w.dir / "bad_line.jsonl"), "--out",
                                            str(o / "r.json")], "line 2 is not valid JSON"),
    ("eval prompts not object", lambda w, o: ["eval", "--prompts", str(w.dir / "not_object.jsonl"), "--out",
                                              str(o / "r.json")], "must be an object"),
    ("eval unknown attribute", lambda w, o: ["eval", "--prompts", str(w.dir / "unknown_attr.jsonl"), "--out",
                                             str(o / "r.json")], "unknown attribute 'colour'"),
    ("eval bad attribute", lambda w, o: ["eval", "--prompts", str(w.dir / "bad_value.jsonl"), "--out", str(o / "r.json")],
     "one of left, center, right"),
    ("eval nan frequency", lambda w, o: ["eval", "--prompts", str(w.dir / "nan_freq.jsonl"), "--out", str(o / "r.json")],
     "frequency"),
    ("eval nothing to score", lambda w, o: ["eval", "--prompts", str(w.dir / "unscored.jsonl"), "--limit", "1",
                                             "--out", str(o / "r.json")], "no prompt of the first 1 names an attribute"),
    ("eval empty prompts", lambda w, o: ["eval", "--prompts", str(w.dir / "empty.jsonl"), "--out", str(o / "r.json")],
     "holds no prompts"),
    ("eval limit zero", lambda w, o: ["eval", "--limit", "0", "--out", str(o / "r.json")], "must be at least 1"),
    ("eval n-per-prompt zero", lambda w, o: ["eval", "--n-per-prompt", "0", "--out", str(o / "r.json")],
     "must be at least 1"),
    ("eval seed huge", lambda w, o: ["eval", "--seed", str(2**62), "--out", str(o / "r.json")], "out of range"),
    ("eval cfg negative", lambda w, o: ["eval", "--cfg", "-2", "--out", str(o / "r.json")], "negative"),
    ("eval extra words", lambda w, o: ["eval", "--extra-words", "17", "--out", str(o / "r.json")], "out of range"),
    ("eval embedder missing", lambda w, o: ["eval", "--embedder", str(w.dir / "adir"), "--out", str(o / "r.json")],
     "arc-edge train clap"),
    ("eval embedder types", lambda w, o: ["eval", "--embedder", str(w.bad_embedder), "--out", str(o / "r.json")],
     "'n_fft' must be an integer"),
    ("eval table missing", lambda w, o: ["eval", "--table", f"a={w.dir / 'none.json'}"], "no eval report"),
    ("eval table broken", lambda w, o: ["eval", "--table", f"a={w.dir / 'bad.json'}"], "not valid JSON"),
    ("eval table no cfg", lambda w, o: ["eval", "--table", f"a={w.dir / 'no_cfg.json'}"], "missing field 'cfg_scale'"),
    ("eval table clap text", lambda w, o: ["eval", "--table", f"a={w.dir / 'clap_text.json'}"],
     "'learned_embedding.clap_score' must be a finite number"),
    ("eval table band count", lambda w, o: ["eval", "--table", f"a={w.dir / 'band_short.json'}"],
     "'band_response.median_db_by_sound.sine mid' must be a list of 2 values"),
    ("eval table band edges", lambda w, o: ["eval", "--table", f"a={w.dir / 'band_edges.json'}"],
     "'band_response.bands_hz[0][1]' must be a finite number"),
    ("eval table foreign", lambda w, o: ["eval", "--table", f"a={w.dir / 'report.json'}"], "overall"),
    ("eval table no label", lambda w, o: ["eval", "--table", str(w.dir / "report.json")], "LABEL=REPORT.json"),
    # train
    ("train steps zero", lambda w, o: ["train", "vae", "--steps", "0", "--out", str(o / "run")], "must be at least 1"),
    ("train batch zero", lambda w, o: ["train", "vae", "--batch-size", "0", "--out", str(o / "run")],
     "must be at least 1"),
    ("train set text", lambda w, o: ["train", "vae", "--set", "lr=abc", "--out", str(o / "run")],
     "--set: lr = 'abc' must be a number"),
    ("train set nan", lambda w, o: ["train", "vae", "--set", "lr=nan", "--out", str(o / "run")],
     "--set: lr = nan must be a finite number"),
    ("train set fraction", lambda w, o: ["train", "vae", "--set", "steps=1.5", "--out", str(o / "run")],
     "--set: steps = 1.5 must be an integer"),
    ("train set save_every", lambda w, o: ["train", "vae", "--set", "save_every=0", "--out", str(o / "run")],
     "--set: save_every = 0 is out of range"),
    ("train set unknown", lambda w, o: ["train", "vae", "--set", "lerning_rate=1", "--out", str(o / "run")],
     "--set: unknown option(s) lerning_rate"),
    ("train set choice", lambda w, o: ["train", "arc", "--set", "loss=hinge", "--out", str(o / "run")],
     "--set: loss = 'hinge' is not one of"),
    ("train set range order", lambda w, o: ["train", "arc", "--set", "gen_logsnr=[2.0,-6.0]", "--out", str(o / "run")],
     "low < high"),
    ("train set empty list", lambda w, o: ["train", "vae", "--set", "ffts=[]", "--out", str(o / "run")],
     "--set: ffts = [] must be a non-empty list"),
    ("train model-config huge", lambda w, o: ["train", "vae", "--model-config", str(w.dir / "huge.json"),
                                              "--out", str(o / "run")], "more than half of this machine's memory"),
    ("train set no equals", lambda w, o: ["train", "vae", "--set", "lr", "--out", str(o / "run")], "KEY=VALUE"),
    ("train recipe missing", lambda w, o: ["train", "vae", "--recipe", str(w.dir / "none.toml"), "--out", str(o / "run")],
     "no training recipe"),
    ("train recipe nan", lambda w, o: ["train", "rf", "--recipe", str(w.dir / "train_nan.toml"), "--init", str(w.model),
                                       "--out", str(o / "run")], "finite number"),
    ("train recipe table", lambda w, o: ["train", "rf", "--recipe", str(w.dir / "train_table.toml"), "--out",
                                         str(o / "run")], "unknown table"),
    ("train rf without init", lambda w, o: ["train", "rf", "--out", str(o / "run")], "needs --init"),
    ("train init missing", lambda w, o: ["train", "rf", "--init", str(w.dir / "none"), "--out", str(o / "run")],
     "does not exist"),
    ("train model-config unknown", lambda w, o: ["train", "vae", "--model-config", "huge", "--out", str(o / "run")],
     "no model config"),
    ("train data missing", lambda w, o: ["train", "vae", "--data", str(w.dir / "none.jsonl"), "--out", str(o / "run")],
     "no training manifest"),
    ("train data field", lambda w, o: ["train", "vae", "--data", str(w.dir / "data_missing.jsonl"), "--out",
                                       str(o / "run")], "'caption'"),
    ("train data seconds", lambda w, o: ["train", "vae", "--data", str(w.dir / "data_bad.jsonl"), "--out",
                                         str(o / "run")], "seconds"),
    ("train data csv header", lambda w, o: ["train", "vae", "--data", str(w.dir / "data_header.csv"), "--out",
                                            str(o / "run")], "header"),
    ("train data not a manifest", lambda w, o: ["train", "vae", "--data", str(w.dir / "bad.json"), "--out",
                                                str(o / "run")], ".jsonl or .csv"),
    ("train latents for vae", lambda w, o: ["train", "vae", "--data", str(w.dir / "adir"), "--out", str(o / "run")],
     "needs audio"),
    ("train latents broken", lambda w, o: ["train", "rf", "--init", str(w.model), "--data", str(w.dir / "adir"),
                                           "--out", str(o / "run")], "not a latent cache"),
    ("train resume nothing", lambda w, o: ["train", "vae", "--resume", "--out", str(o)], "nothing to resume"),
    ("train resume truncated", lambda w, o: ["train", "vae", "--resume", "--out", str(w.bad_ckpt_run)],
     "could not be read"),
    ("train force foreign", lambda w, o: ["train", "vae", "--force", "--out", str(w.foreign)],
     "does not look like an arc-edge run"),
    ("train clap recipe", lambda w, o: ["train", "clap", "--recipe", str(w.dir / "nan.toml"), "--out", str(o / "e")],
     "takes no --recipe"),
    ("train encode without init", lambda w, o: ["train", "encode", "--out", str(o / "lat")], "needs --init"),
    # info
    ("info model missing", lambda w, o: ["info", "--model", str(w.dir / "none")], "does not exist"),
    ("info config unknown", lambda w, o: ["info", "--config", "xl"], "invalid choice"),
    ("unknown command", lambda w, o: ["transcode"], "invalid choice"),
]


@pytest.mark.parametrize("build, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(w, tmp_path, capsys, build, expected):
    out = tmp_path / "out"
    out.mkdir()
    foreign_before = sorted(p.name for p in w.foreign.iterdir())
    try:
        code = main(build(w, out))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if not line.startswith("arc-edge: warning:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("arc-edge: error:"), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # nothing written
    assert sorted(p.name for p in w.foreign.iterdir()) == foreign_before and (w.foreign / "thesis.txt").read_text() == \
        "precious"
