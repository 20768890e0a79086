"""`arc-edge generate` and `arc-edge info` end to end on the tiny config."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from arc_edge.cli import main


def run_cli(*args):
    return main([str(a) for a in args])


def test_generate_writes_wav_of_requested_length(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "a.wav"
    assert run_cli("generate", "a low sine wave panned left", "--model", tiny_model_dir, "--seconds", 1.5,
                   "--steps", 3, "--out", out) == 0
    data, sr = sf.read(out, always_2d=True)
    assert sr == 44100 and data.shape == (int(1.5 * 44100), 2)
    printed = capsys.readouterr().out
    assert "conditioners" in printed and "decoder" in printed and "wrote" in printed


def test_generate_turns_a_clip_over_full_scale_down_and_says_so(tiny_model_dir, tmp_path, capsys, monkeypatch):
    import arc_edge.generate as gen

    real, made = gen.generate, []

    def loud(*args, **kwargs):  # the model's clip, made 1.5 times louder than full scale
        result = real(*args, **kwargs)
        result.audio = (result.audio * (1.5 / np.abs(result.audio).max())).astype(np.float32)
        made.append(result.audio)
        return result

    monkeypatch.setattr(gen, "generate", loud)
    out = tmp_path / "a.wav"
    assert run_cli("generate", "a low sine wave", "--model", tiny_model_dir, "--seconds", 0.5, "--steps", 2,
                   "--out", out) == 0
    assert "note: the clip peaked 3.5 dB over full scale" in capsys.readouterr().out
    data, _ = sf.read(out, dtype="int16", always_2d=True)
    expected = np.rint(made[0].astype(np.float64).T / 1.5 * 32767)  # the whole clip 1.5 times quieter
    assert (np.abs(made[0]) > 1).sum() > 0 and np.abs(data - expected).max() <= 1


def test_generation_is_deterministic_per_seed(tiny_model_dir, tmp_path):
    paths = [tmp_path / f"{i}.wav" for i in range(3)]
    for p, seed in zip(paths, (1, 1, 2), strict=True):
        assert run_cli("generate", "square wave", "--model", tiny_model_dir, "--seconds", 0.5, "--seed", seed,
                       "--steps", 2, "--out", p) == 0
    a, b, c = (sf.read(p)[0] for p in paths)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_audio_to_audio_and_euler_cfg(tiny_model_dir, tmp_path):
    init = tmp_path / "in.wav"
    sf.write(init, np.sin(np.linspace(0, 2000, 22050)).astype(np.float32) * 0.5, 22050)  # mono, other rate
    out = tmp_path / "a2a.wav"
    assert run_cli("generate", "noise", "--model", tiny_model_dir, "--init-audio", init, "--init-noise", 0.7,
                   "--steps", 2, "--seconds", 1, "--out", out) == 0
    assert sf.read(out)[0].shape == (44100, 2)
    out2 = tmp_path / "euler.wav"
    assert run_cli("generate", "noise", "--model", tiny_model_dir, "--sampler", "euler", "--cfg", 3,
                   "--steps", 3, "--seconds", 1, "--out", out2) == 0
    assert out2.exists()


@pytest.mark.parametrize("args, message", [
    (["--seconds", "0"], "--seconds 0 is out of range"),
    (["--seconds", "60"], "--seconds 60 is out of range"),
    (["--steps", "0"], "--steps 0 is out of range"),
    (["--init-noise", "0.5"], "--init-noise below 1 needs --init-audio"),
    (["--sampler", "euler", "--steps", "2", "--cfg", "1e308"], "sampling produced NaN or infinite values"),
])
def test_bad_arguments_fail_cleanly_without_output(tiny_model_dir, tmp_path, capsys, args, message):
    out = tmp_path / "x.wav"
    assert run_cli("generate", "sine", "--model", tiny_model_dir, "--out", out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert list(tmp_path.iterdir()) == []


def test_a_decoder_that_emits_nan_fails_instead_of_writing_noise(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from arc_edge.models.pipeline import ArcPipeline

    def broken(self, latents):
        return torch.full((latents.shape[0], 2, latents.shape[2] * self.cfg.downsampling_ratio), float("nan"))
    monkeypatch.setattr(ArcPipeline, "decode", broken)
    out = tmp_path / "x.wav"
    assert run_cli("generate", "sine", "--model", tiny_model_dir, "--steps", "1", "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert "the decoder produced NaN or infinite samples" in err and err.count("\n") == 0
    assert not out.exists()


def test_empty_prompt_and_output_problems(tiny_model_dir, tmp_path, capsys):
    assert run_cli("generate", "  ", "--model", tiny_model_dir, "--out", tmp_path / "x.wav") == 2
    assert "prompt is empty" in capsys.readouterr().err
    assert run_cli("generate", "sine", "--model", tiny_model_dir, "--out", tmp_path / "no" / "x.wav") == 2
    assert "does not exist" in capsys.readouterr().err
    existing = tmp_path / "keep.wav"
    existing.write_bytes(b"precious")
    assert run_cli("generate", "sine", "--model", tiny_model_dir, "--out", existing) == 2
    assert "--force" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
    assert run_cli("generate", "sine", "--model", tmp_path / "missing", "--out", tmp_path / "y.wav") == 2
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.wav"]


def test_long_prompt_truncation_is_announced(tiny_model_dir, tmp_path, capsys):
    assert run_cli("generate", "bright saw " * 40, "--model", tiny_model_dir, "--steps", 1, "--seconds", 0.2,
                   "--out", tmp_path / "t.wav") == 0
    assert "truncated" in capsys.readouterr().err


def test_console_script_generates_with_the_bundled_model(tmp_path):
    """The installed `arc-edge` entry point, as a user runs it: the bundled model, a real WAV."""
    import shutil

    exe = shutil.which("arc-edge")
    assert exe, "the arc-edge console script is not on PATH: pip install the package"
    out = tmp_path / "r.wav"
    proc = subprocess.run([exe, "generate", "a soft sine", "--steps", "2", "--seconds", "0.5", "--out", str(out)],
                          check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "model: bundled default model" in proc.stdout and "RANDOM" not in proc.stderr
    data, sr = sf.read(out, always_2d=True)
    assert sr == 44100 and data.shape == (int(0.5 * 44100), 2) and np.abs(data).max() > 1e-3


def test_info_reports_official_counts(capsys):
    assert run_cli("info", "--config", "saos") == 0
    out = capsys.readouterr().out
    assert "340,879,488" in out and "78,122,626" in out and "497,190,274" in out
    assert "DC blocker:   none" in out  # the reference's decoder output, untouched


def test_info_names_the_dc_blocker(capsys):
    assert run_cli("info", "--config", "tiny") == 0
    assert "DC blocker:   5 Hz high-pass on the decoded audio" in capsys.readouterr().out
    assert run_cli("info", "--config", "tiny", "--json") == 0
    assert json.loads(capsys.readouterr().out)["dc_blocker_hz"] == 5.0


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "arc_edge.cli", "info", "--config", "tiny"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `arc-edge info | head -0`: gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141 and err == ""  # no traceback, no "Exception ignored" at exit


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    import os

    from arc_edge.fileio import atomic_dir, atomic_file

    old = os.umask(0o022)
    try:
        with atomic_file(tmp_path / "out.json") as tmp:
            tmp.write_text("{}")
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "weights").touch(mode=0o600)  # as safetensors' writer leaves them
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644  # mkstemp alone would give 0o600
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model" / "sub" / "weights").stat().st_mode & 0o777 == 0o644


def test_an_output_folder_that_holds_the_working_folder_is_refused_even_with_force(tmp_path, monkeypatch, capsys):
    here = tmp_path / "work" / "here"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)  # empty, so it would pass for an earlier output folder of ours
    for out, command in (("", "export"), (".", "export"), ("..", "export"), (str(tmp_path), "export"),
                         (".", "train")):
        argv = ("export", "--quant", "int8") if command == "export" else ("train", "vae", "--steps", "1")
        assert run_cli(*argv, "--out", out, "--force") == 2
        err = capsys.readouterr().err.strip()
        assert "is the current folder or one above it" in err and len(err.splitlines()) == 1, (out, err)
    assert here.is_dir() and list(here.iterdir()) == []
    from arc_edge.fileio import check_writable_dir_target
    (tmp_path / "work" / "sibling").mkdir()  # an empty folder beside it may be replaced
    for beside in ("../sibling", "new", str(tmp_path / "work" / "other")):
        check_writable_dir_target(Path(beside), True, "bundle")


def test_the_default_model_says_when_a_prompt_is_outside_its_domain(tmp_path, capsys):
    assert run_cli("generate", "a dog barking in the rain", "--seconds", 0.5, "--steps", 1,
                   "--out", tmp_path / "dog.wav") == 0
    assert "renders only synthetic tones" in capsys.readouterr().err
    assert run_cli("generate", "A 900 Hz beep, Left", "--seconds", 0.5, "--steps", 1, "--out", tmp_path / "b.wav") == 0
    assert "synthetic tones" not in capsys.readouterr().err
