"""The native runner (host and aarch64 under qemu) against the Python reference, and the bench
harness on local, qemu and a stand-in adb device (no phone is available to CI)."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from arc_edge.bench.devices import QEMU_CPU, AdbDevice, DeviceError, LocalDevice
from arc_edge.bench.native import DeviceBenchOptions, bench_native
from arc_edge.bench.runner_build import runner_dir
from arc_edge.checkpoint import load_model_dir
from arc_edge.cli import main
from arc_edge.export.bundle import BundleRuntime
from arc_edge.export.parity import snr_db
from arc_edge.export.recipes import load_export_recipe
from arc_edge.generate import GenerationRequest, generate
from arc_edge.sampling import draw_noise

STANDIN = Path(__file__).parent / "standin_adb"
TRICKY_PROMPT = 'a "square" wave; rm -rf / && echo $HOME `id` — ünïcödé 音 \'quoted\''


@pytest.fixture(scope="module")
def host_runner():
    return runner_dir("host")


@pytest.fixture(scope="module")
def arm_runner():
    return runner_dir("aarch64")


@pytest.fixture(scope="module")
def reference(et_int8_bundle, bundled_model_dir, tmp_path_factory):
    """Python bundle run and eager run with fixed noise, and that noise as a file for the runner."""
    runtime = BundleRuntime(et_int8_bundle)
    cfg = runtime.cfg
    noise = draw_noise((1, cfg.latent_dim, cfg.latent_length), 8, seed=11)
    d = tmp_path_factory.mktemp("ref")
    np.concatenate([n.numpy().ravel() for n in [noise.initial, *noise.steps]]).astype("<f4").tofile(d / "noise.bin")
    (d / "prompt.txt").write_text(TRICKY_PROMPT, encoding="utf-8")
    req = GenerationRequest(TRICKY_PROMPT, 1.5, 8, 11)
    bundled = generate(runtime, req, noise=noise).audio
    eager = generate(load_model_dir(bundled_model_dir), req, noise=noise).audio
    return {"dir": d, "bundled": bundled, "eager": eager, "noise": noise, "req": req}


def _run_runner(cmd_prefix, runner, bundle, ref, out_dir, *extra):
    import subprocess
    out_dir.mkdir(exist_ok=True)
    res = subprocess.run([*cmd_prefix, str(runner / "arc_runner"), "--bundle", str(bundle), "--prompt-file",
                          str(ref["dir"] / "prompt.txt"), "--seconds", "1.5", "--noise-file",
                          str(ref["dir"] / "noise.bin"), "--float-wav", "--out", str(out_dir / "o.wav"),
                          "--report", str(out_dir / "r.json"), "--threads", "2", *extra],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    audio, sr = sf.read(out_dir / "o.wav", dtype="float32", always_2d=True)
    return audio.T, json.loads((out_dir / "r.json").read_text())


def test_host_runner_matches_python_bundle_and_eager(host_runner, et_int8_bundle, reference, bundled_model_dir,
                                                     tmp_path):
    audio, report = _run_runner([], host_runner, et_int8_bundle, reference, tmp_path)
    assert audio.shape == reference["bundled"].shape == (2, int(1.5 * 44100))
    # same kernels, same inputs: the C++ loop reproduces the Python bundle run
    np.testing.assert_allclose(audio, reference["bundled"], atol=1e-5)
    assert snr_db(torch.from_numpy(reference["eager"]), torch.from_numpy(audio)) >= \
        load_export_recipe("int8").end_to_end_min_snr_db
    pipeline = load_model_dir(bundled_model_dir)
    tokens = pipeline.tokenizer.encode(TRICKY_PROMPT)
    assert report["prompt_tokens"] == sum(tokens.mask) and report["complete"]
    run = report["runs"][0]
    assert len(run["dit_step_ms"]) == 8 and run["peak_rss_mb"]["after_decoder"] > 0
    assert 0 < run["first_audio_ms"] <= run["total_ms"]
    assert report["graphs"] == "staged" and set(run["load_ms"]) == {"conditioners", "dit", "decoder"}
    assert report["threads"] == 2 and report["threadpool_threads"] == 2  # read back from the pool itself


def test_runner_options_for_xnnpack_threads_and_etdump(host_runner, et_int8_bundle, reference, tmp_path, capsys):
    """One thread, a shared XNNPACK workspace and the weight cache give the same audio; --etdump writes
    one ETDump per graph that `bench profile --etdump` reads through ExecuTorch's Inspector."""
    audio, report = _run_runner([], host_runner, et_int8_bundle, reference, tmp_path / "a", "--threads", "1",
                                "--xnn-workspace", "global", "--xnn-weight-cache", "on", "--etdump",
                                str(tmp_path / "dump"))
    assert report["threadpool_threads"] == 1 and report["xnnpack"] == {"workspace": "global", "weight_cache": "on"}
    np.testing.assert_allclose(audio, reference["bundled"], atol=1e-4)
    assert main(["bench", "profile", "--bundle", str(et_int8_bundle), "--etdump", str(tmp_path / "dump"),
                 "--out", str(tmp_path / "p.json")]) == 0
    profile = json.loads((tmp_path / "p.json").read_text())
    assert profile["source"] == "arc_runner ETDump" and set(profile["graphs"]) == {"conditioners", "dit", "decoder"}
    assert any(re.search("QDU?8", op["operator"]) for op in profile["graphs"]["decoder"]["top"])
    assert "decoder (" in capsys.readouterr().out
    for graph in ("conditioners", "dit", "decoder"):  # not ETDumps: one line, nothing written
        (tmp_path / f"junk.{graph}.etdp").write_bytes(b"garbage")
    assert main(["bench", "profile", "--bundle", str(et_int8_bundle), "--etdump", str(tmp_path / "junk"),
                 "--out", str(tmp_path / "q.json")]) == 2
    err = capsys.readouterr().err
    assert "is not an ETDump" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "q.json").exists()


def test_host_runner_guidance_matches_python(host_runner, et_int8_bundle, reference, tmp_path):
    """--cfg: two DiT calls per step, combined as the reference does, as the Python bundle run does."""
    import dataclasses

    audio, report = _run_runner([], host_runner, et_int8_bundle, reference, tmp_path, "--cfg", "3")
    runtime = BundleRuntime(et_int8_bundle)
    guided = generate(runtime, dataclasses.replace(reference["req"], cfg_scale=3.0), noise=reference["noise"]).audio
    np.testing.assert_allclose(audio, guided, atol=1e-5)
    assert not np.allclose(audio, reference["bundled"], atol=1e-3) and report["cfg"] == 3


def _alter_and_rehash(bundle, tmp_path, graph="dit"):
    """A copy whose graph computes other numbers but passes every hash: weights altered, manifest re-hashed."""
    from executorch.exir._serialize._program import _ExtendedHeader

    from arc_edge.fileio import sha256_file

    b = tmp_path / "altered"
    shutil.copytree(bundle, b)
    path = b / f"{graph}.pte"
    data = bytearray(path.read_bytes())
    header = _ExtendedHeader.from_bytes(bytes(data[8:]))
    start = header.segment_base_offset + header.segment_data_size // 4  # the constant (weight) data
    for i in range(start, start + header.segment_data_size // 2, 7):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    m = json.loads((b / "manifest.json").read_text())
    m["files"][path.name] = sha256_file(path)
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _selftest(prefix, runner, bundle, tmp_path):
    import subprocess
    res = subprocess.run([*prefix, str(runner / "arc_runner"), "--bundle", str(bundle), "--selftest", "--report",
                          str(tmp_path / "st.json")], capture_output=True, text=True, timeout=900)
    return res, json.loads((tmp_path / "st.json").read_text())


def test_selftest_passes_on_a_good_bundle_and_catches_altered_numbers(host_runner, et_int8_bundle, tmp_path):
    from arc_edge.export.manifest import read_manifest

    res, report = _selftest([], host_runner, et_int8_bundle, tmp_path)
    assert res.returncode == 0 and report["selftest"]["passed"], res.stderr
    parity = read_manifest(et_int8_bundle).raw["parity"]
    for name, g in report["selftest"]["graphs"].items():  # the device measures what the export gate measured
        assert g["snr_db"] == pytest.approx(parity[name]["snr_db"], abs=0.05) and g["passed"]
    altered = _alter_and_rehash(et_int8_bundle, tmp_path)
    read_manifest(altered)  # every hash checks out: only the numbers can tell
    res, report = _selftest([], host_runner, altered, tmp_path)
    assert res.returncode == 4 and "self-test failed" in res.stderr
    graphs = report["selftest"]["graphs"]
    assert not graphs["dit"]["passed"] and graphs["decoder"]["passed"] and graphs["conditioners"]["passed"]


@pytest.mark.parametrize("bundle", ["et_int8_bundle", "et_fp16_decoder_bundle"])
def test_selftest_under_qemu_without_sme(arm_runner, bundle, request, tmp_path):
    """The int8 decoder (dynamically quantised convs) and the fp16 decoder on Arm kernels, within their gates."""
    bundle = request.getfixturevalue(bundle)
    res, report = _selftest(["qemu-aarch64", "-cpu", QEMU_CPU, "-L", "/usr/aarch64-linux-gnu"], arm_runner,
                            bundle, tmp_path)
    assert res.returncode == 0 and report["selftest"]["passed"], res.stderr
    assert "aarch64" in report["cpu"]
    decoder = json.loads((bundle / "manifest.json").read_text())["graphs"]["decoder"]["quantization"]["quant"]
    assert decoder == ("int8_dynamic" if "int8" in bundle.name else "fp16")
    assert report["selftest"]["graphs"]["decoder"]["snr_db"] >= report["selftest"]["graphs"]["decoder"]["min_snr_db"]


def test_bench_selftest_reports_per_graph_and_fails_clearly(et_int8_bundle, tmp_path, capsys):
    out = tmp_path / "st.json"
    assert main(["bench", "device", "--bundle", str(et_int8_bundle), "--selftest", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "numerics self-test passed" in printed and "dit" in printed
    assert json.loads(out.read_text())["selftest"]["passed"]
    altered = _alter_and_rehash(et_int8_bundle, tmp_path)
    assert main(["bench", "device", "--bundle", str(altered), "--selftest", "--out", str(tmp_path / "bad.json")]) == 4
    printed = capsys.readouterr().out
    assert "self-test FAILED" in printed and "dit" in printed.splitlines()[-1]


def test_aarch64_runner_under_qemu_matches(arm_runner, et_int8_bundle, reference, tmp_path):
    audio, report = _run_runner(["qemu-aarch64", "-cpu", "max,sme=off", "-L", "/usr/aarch64-linux-gnu"],
                                arm_runner, et_int8_bundle, reference, tmp_path)
    assert "aarch64" in report["cpu"]
    # Arm int8 kernels accumulate (and round the dynamic activation scales) differently from x86 ones:
    # close, not bit-exact. Over 8 sampler steps both int8 routes drift from eager by a prompt-dependent
    # amount (this prompt: about 20 dB on either CPU, 29-30 dB apart); what matters is that the Arm
    # kernels add no error of their own: the Arm run is as close to eager as the x86 run
    def from_eager(a: np.ndarray) -> float:
        return snr_db(torch.from_numpy(reference["eager"]), torch.from_numpy(a))
    assert from_eager(audio) >= from_eager(reference["bundled"]) - 2.0
    assert snr_db(torch.from_numpy(reference["bundled"]), torch.from_numpy(audio)) > 25


def test_runner_rejects_bad_input(host_runner, et_int8_bundle, tmp_path):
    import subprocess
    exe = str(host_runner / "arc_runner")
    (tmp_path / "empty.txt").write_text("  \n")
    bad = subprocess.run([exe, "--bundle", str(et_int8_bundle), "--prompt-file", str(tmp_path / "empty.txt"),
                          "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "o.wav")],
                         capture_output=True, text=True)
    assert bad.returncode == 3 and "prompt is empty" in bad.stderr and not (tmp_path / "o.wav").exists()
    b = tmp_path / "bundle"
    shutil.copytree(et_int8_bundle, b)
    m = json.loads((b / "manifest.json").read_text())
    m["format_version"] = 7
    (b / "manifest.json").write_text(json.dumps(m))
    (tmp_path / "p.txt").write_text("sine")
    res = subprocess.run([exe, "--bundle", str(b), "--prompt-file", str(tmp_path / "p.txt")], capture_output=True,
                         text=True, cwd=tmp_path)
    assert res.returncode == 3 and "format version 7 is not supported" in res.stderr
    m["format_version"] = json.loads((et_int8_bundle / "manifest.json").read_text())["format_version"]
    m["default_seconds"] = 99.0  # a default the model cannot make: refused when read, not at run time
    (b / "manifest.json").write_text(json.dumps(m))
    res = subprocess.run([exe, "--bundle", str(b), "--prompt-file", str(tmp_path / "p.txt"), "--seconds", "1"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 3 and "default_seconds 99" in res.stderr and "longer than the model's" in res.stderr
    res = subprocess.run([exe, "--bundle", str(et_int8_bundle), "--prompt-file", "p.txt", "--steps", "2", "--cfg", "1e300"],
                         capture_output=True, text=True, cwd=tmp_path)  # the guidance overflows: no noise is written
    assert res.returncode == 3 and "sampling produced NaN or infinite values" in res.stderr
    assert not (tmp_path / "out.wav").exists()
    for seconds in ("99", "0.005"):  # past the model's length; shorter than the 10 ms end fade
        res = subprocess.run([exe, "--bundle", str(et_int8_bundle), "--prompt-file", "p.txt", "--seconds", seconds],
                             capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 2 and "out of range" in res.stderr and not (tmp_path / "out.wav").exists()
    for flag, value, message in (("--xnn-workspace", "shared", "--xnn-workspace is default, off, per-model or global"),
                                 ("--xnn-weight-cache", "yes", "--xnn-weight-cache is default, on or off"),
                                 ("--threads", "0", "--threads must be in 1..1024")):
        res = subprocess.run([exe, "--bundle", str(et_int8_bundle), "--prompt-file", "p.txt", flag, value],
                             capture_output=True, text=True, cwd=tmp_path)
        assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_bench_local_writes_json_csv_png_and_compares(et_int8_bundle, tmp_path, capsys):
    out = tmp_path / "res.json"
    assert main(["bench", "--bundle", str(et_int8_bundle), "--runs", "3", "--warmup", "1", "--threads", "2",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["complete"] and res["summary"]["total_ms"]["n"] == 3
    assert res["summary"]["dit_step_ms"]["n"] == 24
    s = res["summary"]["total_ms"]
    assert s["min"] <= s["median"] <= s["max"]
    assert out.with_suffix(".csv").read_text().count("\n") == 4 and out.with_suffix(".png").stat().st_size > 1000
    out2 = tmp_path / "res2.json"
    assert main(["bench", "--bundle", str(et_int8_bundle), "--runs", "1", "--out", str(out2), "--compare",
                 str(out)]) == 0
    assert "change" in capsys.readouterr().out


def test_runner_timeout_keeps_partial_results(et_int8_bundle, tmp_path):
    device = LocalDevice()
    try:
        result = bench_native(et_int8_bundle, device, DeviceBenchOptions(runs=10_000, warmup=0, threads=1,
                                                                          prompt="sine", timeout=8), log=lambda m: None)
    finally:
        device.cleanup()
    assert not result["complete"] and result["partial"] and "timed out" in result["error"]
    assert result["summary"]["total_ms"]["n"] >= 1


@pytest.fixture
def standin(tmp_path, monkeypatch):
    root = tmp_path / "phone"
    root.mkdir()
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_ADB_ROOT", str(root))
    monkeypatch.setenv("STANDIN_ADB_LOG", str(tmp_path / "adb.log"))
    return {"root": root, "log": tmp_path / "adb.log"}


def test_adb_end_to_end_with_standin_device(standin, arm_runner, et_int8_bundle, reference, tmp_path, capsys):
    out, wav = tmp_path / "adb.json", tmp_path / "adb.wav"
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "adb", "--runs", "1", "--warmup", "0",
                 "--prompt", TRICKY_PROMPT, "--seconds", "1.5", "--out", str(out), "--wav", str(wav)]) == 0
    res = json.loads(out.read_text())
    assert res["complete"] and res["device"]["device"] == "adb:standin-0001"
    assert res["runner_report"]["prompt_tokens"] == sum(
        BundleRuntime(et_int8_bundle).tokenizer.encode(TRICKY_PROMPT).mask)
    assert sf.read(wav)[0].shape == (int(1.5 * 44100), 2)
    pushed_on_device = standin["root"] / "arc-edge"
    assert (pushed_on_device / "prompt.txt").read_text(encoding="utf-8") == TRICKY_PROMPT
    log = standin["log"].read_text()
    assert "rm -rf /" not in log and "ünïcödé" not in log  # the prompt never reaches a command line
    first_pushes = log.count("'push'")
    # a second run finds every file already there (same sha256) and pushes nothing
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "adb", "--runs", "1", "--warmup", "0",
                 "--prompt", TRICKY_PROMPT, "--out", str(tmp_path / "again.json"), "--cleanup"]) == 0
    assert standin["log"].read_text().count("'push'") == first_pushes
    assert not pushed_on_device.exists()  # --cleanup


def test_adb_app_runner_with_standin_device(standin, monkeypatch, host_runner, et_int8_bundle, tmp_path):
    """--runner app: the harness starts the app's BenchActivity and polls its report. The stand-in
    answers with arc_runner (same report and WAV); the app itself cannot run here."""
    monkeypatch.setenv("STANDIN_APP_RUNNER", str(host_runner))
    out, wav = tmp_path / "app.json", tmp_path / "app.wav"
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "adb", "--runner", "app", "--runs", "2",
                 "--warmup", "0", "--steps", "4", "--prompt", TRICKY_PROMPT, "--seconds", "1.5", "--out", str(out),
                 "--wav", str(wav), "--cleanup"]) == 0
    res = json.loads(out.read_text())
    assert res["complete"] and res["device"]["runner"] == "app"
    assert len(res["runner_report"]["runs"]) == 2 and res["runner_report"]["steps"] == 4
    assert res["summary"]["dit_step_ms"]["n"] == 8
    assert sf.read(wav)[0].shape == (int(1.5 * 44100), 2)
    log = standin["log"].read_text()
    assert ".BenchActivity" in log and "'--ei', 'runs', '2'" not in log  # extras travel in one shell string
    assert "echo $HOME" not in log and "ünïcödé" not in log  # the prompt went as a file
    assert not (standin["root"] / "appfiles" / "bench_bundle").exists()  # --cleanup


def test_adb_app_runner_needs_the_app_and_adb(standin, et_int8_bundle, tmp_path, capsys):
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "adb", "--runner", "app",
                 "--out", str(tmp_path / "r.json")]) == 2
    assert "demo app (dev.arcedge.demo) is not installed" in capsys.readouterr().err
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "local", "--runner", "app",
                 "--out", str(tmp_path / "r.json")]) == 2
    assert "needs --device adb" in capsys.readouterr().err


@pytest.mark.parametrize("env, message", [
    ({"STANDIN_ADB_STATE": "none"}, "no device found"),
    ({"STANDIN_ADB_STATE": "unauthorized"}, "is unauthorized; accept the USB debugging prompt"),
])
def test_adb_missing_or_unauthorized(standin, monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(DeviceError, match=message):
        AdbDevice()


@pytest.mark.parametrize("env, message", [
    ({"STANDIN_ADB_ABI": "armeabi-v7a"}, "ABI 'armeabi-v7a'"),
    ({"STANDIN_ADB_FREE_KB": "100"}, "MB free in /data/local/tmp"),
    ({"STANDIN_ADB_FAIL_PUSH": "1"}, "adb push of arc_runner failed: .*No space left"),
])
def test_adb_device_checks_and_push_failure(standin, monkeypatch, arm_runner, et_int8_bundle, tmp_path, capsys,
                                            env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "adb", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    import re
    assert re.search(message, err), err
    assert not (tmp_path / "x.json").exists()


def test_unknown_device_is_refused(tmp_path, capsys, et_int8_bundle):
    assert main(["bench", "--bundle", str(et_int8_bundle), "--device", "iphone", "--out", str(tmp_path / "a.json")]) == 2
    assert "unknown device 'iphone'" in capsys.readouterr().err


def test_backends_side_by_side(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "backends.json"
    assert main(["bench", "--backends", "eager-fp32,ort-int8,native-int8", "--model", str(tiny_model_dir), "--runs", "1",
                 "--warmup", "0", "--steps", "2", "--seconds", "0.5", "--work", str(tmp_path / "work"),
                 "--out", str(out)]) == 0
    raw = json.loads(out.read_text())
    res = raw["backends"]
    assert set(res) == {"eager-fp32", "ort-int8", "native-int8"} and raw["steps"] == 2
    native = res["native-int8"]  # arc_runner on the ExecuTorch export of the same recipe, side by side
    assert native["runtime"] == "native" and native["recipe"] == res["ort-int8"]["recipe"] == "int8"
    assert native["speedup_vs_onnxruntime_same_recipe"] == pytest.approx(
        res["ort-int8"]["summary"]["total_ms"]["median"] / native["summary"]["total_ms"]["median"], abs=0.01)
    assert len(native["runs"][0]["dit_step_ms"]) == 2 and raw["machine"]["cores"] >= 1
    assert native["runner"]["graphs"] == "resident" and native["runner"]["threadpool_threads"] > 0
    # one extra generation with staged graphs: each loaded just before its stage (the one-shot peak)
    assert set(native["one_shot"]["load_ms"]) == {"conditioners", "dit", "decoder"}
    from arc_edge.bench.targets import SAOS_TARGETS
    peak = next(t for t in SAOS_TARGETS if t.metric.startswith("one_shot."))
    assert 0 < peak.check(res)["measured"] == round(native["one_shot"]["peak_rss_mb"]["after_decoder"], 2)
    eager, ort = res["eager-fp32"], res["ort-int8"]
    assert "speedup_vs_eager" not in eager  # eager against itself says nothing
    ratio = eager["summary"]["total_ms"]["median"] / ort["summary"]["total_ms"]["median"]
    assert ort["speedup_vs_eager"] == pytest.approx(ratio, abs=0.01)
    # the worker honoured --steps and --seconds
    assert all(len(r["dit_step_ms"]) == 2 for r in eager["runs"] + ort["runs"]) and ort["seconds"] == 0.5
    rtf = ort["summary"]["real_time_factor"]["median"]
    assert rtf == pytest.approx(0.5 / (ort["summary"]["total_ms"]["median"] / 1e3), rel=0.05)
    assert ort["parity_snr_db"]["end_to_end"] >= load_export_recipe("int8").end_to_end_min_snr_db
    assert ort["export_peak_rss_mb"] > 0 and ort["peak_rss_mb"] > 0 and out.with_suffix(".png").is_file()
    # a second run measures the bundles the first one exported (verified), without exporting again
    bundle = tmp_path / "work" / "onnx-int8"
    stamp = (bundle / "manifest.json").stat().st_mtime_ns
    assert main(["bench", "backends", "--backends", "ort-int8", "--model", str(tiny_model_dir), "--runs", "1",
                 "--warmup", "0", "--steps", "2", "--seconds", "0.5", "--work", str(tmp_path / "work"),
                 "--reuse-exports", "--out", str(tmp_path / "again.json")]) == 0
    assert (bundle / "manifest.json").stat().st_mtime_ns == stamp
    again = json.loads((tmp_path / "again.json").read_text())["backends"]["ort-int8"]
    assert again["parity_snr_db"] == ort["parity_snr_db"]
    assert main(["bench", "backends", "--backends", "ort-int8", "--reuse-exports", "--out", str(tmp_path / "y.json")]) == 2
    assert "--reuse-exports needs --work" in capsys.readouterr().err
    assert main(["bench", "backends", "--backends", "tensorrt", "--out", str(tmp_path / "x.json")]) == 2
    assert "unknown backend(s) tensorrt" in capsys.readouterr().err
