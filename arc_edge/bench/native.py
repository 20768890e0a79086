"""``arc-edge bench --bundle``: deploy the native runner + a bundle to a device, run, collect, summarise."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from ..export.bundle import read_manifest
from .devices import DeviceError, RunResult
from .stats import summarize

DEVICE_BENCH = Path(__file__).resolve().parents[2] / "device_bench"
STAGES = ("conditioners_ms", "dit_total_ms", "dit_step_ms", "decoder_ms", "total_ms")


def runner_dir(target: str, log=print) -> Path:
    """The built runner folder for ``target`` (host|aarch64); builds it on first use."""
    dist = DEVICE_BENCH / f"build-{target}" / "dist"
    if not (dist / "arc_runner").is_file():
        log(f"building arc_runner for {target} (device_bench/build.sh {target}) ...")
        res = subprocess.run(["bash", str(DEVICE_BENCH / "build.sh"), target], capture_output=True, text=True)
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise DeviceError(f"building the {target} runner failed: {' / '.join(tail)}; see device_bench/README.md")
    return dist


def summarise_runs(runs: list[dict]) -> dict:
    out = {}
    for stage in STAGES:
        if stage == "dit_step_ms":
            values = [s for r in runs for s in r[stage]]
        else:
            values = [r[stage] for r in runs]
        if values:
            out[stage] = summarize(values)
    peaks = [r["peak_rss_mb"]["after_decoder"] for r in runs]
    if peaks:
        out["peak_rss_mb"] = summarize(peaks)
    return out


def bench_native(bundle: Path, device, runs: int, warmup: int, threads: int | None, prompt: str,
                 seconds: float | None, steps: int | None, timeout: float, wav_out: Path | None,
                 log=print) -> dict:
    manifest = read_manifest(bundle)  # verifies hashes before anything is pushed
    if manifest["backend"] != "executorch":
        raise DeviceError(f"{bundle} is an {manifest['backend']} bundle; the native runner runs executorch bundles")
    runner = runner_dir(device.target, log) if device.target else None  # the app needs no runner build
    log(f"deploying to {device.name} ...")
    device.prepare(runner, bundle, prompt)
    options = ["--runs", str(runs), "--warmup", str(warmup)]
    for flag, value in (("--threads", threads), ("--seconds", seconds), ("--steps", steps)):
        if value is not None:
            options += [flag, str(value)]
    log(f"running {warmup} warm-up + {runs} measured generation(s) ...")
    res: RunResult = device.run(options, timeout)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        report = json.loads(report_path.read_text()) if device.fetch("report.json", report_path) else None
        if wav_out is not None and res.returncode == 0:
            device.fetch("out.wav", wav_out)
    result = {"device": device.describe(), "bundle": str(bundle), "recipe": manifest["recipe"]["name"],
              "emulated_timings": device.emulated, "complete": res.returncode == 0, "runner_report": report}
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        result["error"] = ("timed out" if res.timed_out else f"runner exited {res.returncode}") + (
            f": {lines[-1]}" if lines else "")
    runs_done = (report or {}).get("runs", [])
    result["summary"] = summarise_runs(runs_done) if runs_done else {}
    result["partial"] = res.returncode != 0 and bool(runs_done)
    return result
