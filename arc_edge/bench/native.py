"""``arc-edge bench device``: deploy the native runner + a bundle to a device, run, collect, summarise."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..decoding import check_duration
from ..errors import InputError
from ..export.manifest import MANIFEST, read_manifest
from .devices import DeviceError, RunResult
from .runner_build import runner_dir
from .stats import summarize

STAGES = ("conditioners_ms", "dit_total_ms", "dit_step_ms", "decoder_ms", "first_audio_ms", "total_ms")


@dataclass
class DeviceBenchOptions:
    runs: int = 5
    warmup: int = 1
    threads: int | None = None
    prompt: str = ""
    seconds: float | None = None
    steps: int | None = None
    cfg: float | None = None
    timeout: float = 1800.0
    wav_out: Path | None = None
    bundle_digest: str | None = None
    graphs: str | None = None  # the runner's --graphs (auto: staged for one generation, else resident)

    def runner_options(self) -> list[str]:
        options = ["--runs", str(self.runs), "--warmup", str(self.warmup)]
        for flag, value in (("--threads", self.threads), ("--seconds", self.seconds), ("--steps", self.steps),
                            ("--cfg", self.cfg), ("--graphs", self.graphs)):
            if value is not None:
                options += [flag, str(value)]
        return options


def summarise_runs(runs: list[dict], seconds: float | None = None) -> dict:
    """Statistics per stage over the runs, plus the real-time factor (audio seconds per compute second)."""
    out = {}
    for stage in STAGES:
        if stage == "dit_step_ms":
            values = [s for r in runs for s in r.get(stage, [])]
        else:
            values = [r[stage] for r in runs if stage in r]
        if values:
            out[stage] = summarize(values)
    peaks = [r["peak_rss_mb"]["after_decoder"] for r in runs]
    if peaks:
        out["peak_rss_mb"] = summarize(peaks)
    if seconds and "total_ms" in out:
        out["real_time_factor"] = summarize([seconds / (r["total_ms"] / 1e3) for r in runs])
    return out


def bundle_files(bundle: Path, manifest) -> list[Path]:
    """Exactly what a device needs: the manifest and the files it lists (nothing else in the folder)."""
    return [bundle / MANIFEST, *(bundle / name for name in sorted(manifest.files))]


def _deploy(bundle: Path, device, opts: DeviceBenchOptions, log: Callable[[str], None]):
    manifest = read_manifest(bundle, expect_digest=opts.bundle_digest)  # verified before anything is pushed
    if manifest.backend != "executorch":
        raise DeviceError(f"{bundle} is an {manifest.backend} bundle; the native runner runs executorch bundles")
    if opts.seconds is not None:
        check_duration(opts.seconds, manifest.max_seconds)
    if opts.steps is not None and opts.steps not in manifest.schedules:
        raise InputError(f"--steps {opts.steps} is out of range for this bundle; it carries schedules for "
                         f"{min(manifest.schedules)}..{max(manifest.schedules)} steps")
    runner = runner_dir(device.target, log) if device.target else None  # the app needs no runner build
    log(f"deploying to {device.name} ...")
    device.prepare(runner, bundle_files(bundle, manifest), opts.prompt)
    return manifest


def _run(bundle: Path, device, manifest, options: list[str], opts: DeviceBenchOptions) -> dict:
    """Run the runner (or the app) with ``options``, fetch its report; the shared part of every result."""
    res: RunResult = device.run(options + ["--bundle-digest", manifest.digest], opts.timeout)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        report = _read_report(report_path) if device.fetch("report.json", report_path) else None
        if opts.wav_out is not None and res.returncode == 0:
            device.fetch("out.wav", opts.wav_out)
    result = {"device": device.describe(), "bundle": str(bundle), "bundle_digest": manifest.digest,
              "recipe": manifest.recipe, "source_model": manifest.source_model, "emulated_timings": device.emulated,
              "complete": res.returncode == 0, "runner_report": report}
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        result["error"] = ("timed out" if res.timed_out else f"runner exited {res.returncode}") + (
            f": {lines[-1]}" if lines else "")
    return result


def bench_selftest(bundle: Path, device, opts: DeviceBenchOptions, log: Callable[[str], None] = print) -> dict:
    """The numerics self-test on the device: every graph on the bundle's stored inputs, SNR per graph."""
    manifest = _deploy(bundle, device, opts, log)
    log("running the numerics self-test ...")
    options = ["--selftest"] + (["--threads", str(opts.threads)] if opts.threads else [])
    result = _run(bundle, device, manifest, options, opts)
    result["selftest"] = (result["runner_report"] or {}).get("selftest")
    result["summary"] = {}
    return result


def bench_native(bundle: Path, device, opts: DeviceBenchOptions, log: Callable[[str], None] = print) -> dict:
    manifest = _deploy(bundle, device, opts, log)
    log(f"running {opts.warmup} warm-up + {opts.runs} measured generation(s) ...")
    result = _run(bundle, device, manifest, opts.runner_options(), opts)
    report = result["runner_report"]
    runs_done = (report or {}).get("runs", [])
    result["summary"] = summarise_runs(runs_done, (report or {}).get("seconds")) if runs_done else {}
    result["partial"] = not result["complete"] and bool(runs_done)
    return result


def _read_report(path: Path) -> dict | None:
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and isinstance(report.get("runs", []), list) else None
