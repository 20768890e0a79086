"""``arc-edge bench backends``: PyTorch eager fp32, ExecuTorch and onnxruntime (from Python) and the
native runner on the same model, each exported once and measured in a fresh process, in one run, at
the same threads. The same recipe name means the same quantisation scope on every backend."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .stats import summarize


@dataclass(frozen=True)
class BackendSpec:
    runtime: str  # "eager" | "python" (the bundle through arc-edge's Python runtime) | "native" (arc_runner)
    format: str | None = None  # bundle format
    recipe: str | None = None  # export recipe

    @property
    def bundle_key(self) -> str:
        """Backends that run the same bundle share one export."""
        return f"{self.format}-{self.recipe}"


BACKENDS = {
    "eager-fp32": BackendSpec("eager"),
    "et-fp32": BackendSpec("python", "executorch", "fp32"),
    "et-int8": BackendSpec("python", "executorch", "int8"),
    "et-int8-dit": BackendSpec("python", "executorch", "int8-dit"),
    "et-8da4w": BackendSpec("python", "executorch", "8da4w"),
    "ort-fp32": BackendSpec("python", "onnx", "fp32"),
    "ort-int8": BackendSpec("python", "onnx", "int8"),
    "ort-int8-dit": BackendSpec("python", "onnx", "int8-dit"),
    "native-fp32": BackendSpec("native", "executorch", "fp32"),
    "native-int8": BackendSpec("native", "executorch", "int8"),
    "native-int8-dit": BackendSpec("native", "executorch", "int8-dit"),
    "native-8da4w": BackendSpec("native", "executorch", "8da4w"),
}
DEFAULT_BACKENDS = "eager-fp32,et-fp32,et-int8,ort-fp32,ort-int8,native-int8"


@dataclass
class BackendsOptions:
    runs: int
    warmup: int
    threads: int | None
    prompt: str
    seconds: float | None
    steps: int
    decode_window: int | str = "auto"
    reuse_exports: bool = False  # take the bundles an earlier run left in the work folder


def parse_backends(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        given = ", ".join(bad) if bad else repr(spec)
        raise InputError(f"unknown backend(s) {given}; choose from {', '.join(BACKENDS)}")
    if len(set(names)) != len(names):
        raise InputError(f"--backends lists a backend twice ({spec}); name each once")
    return names


def _worker(args: list[str], result: Path, what: str) -> dict:
    res = subprocess.run([sys.executable, "-m", "arc_edge.bench.backend_worker", *args, "--result", str(result)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0 or not result.is_file():
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"{what} failed: {tail[0]}")
    return json.loads(result.read_text())


def _earlier_export(spec: BackendSpec, work: Path) -> tuple[Path, dict] | None:
    """The bundle an earlier run of this command left in ``work``, if it is complete and of this recipe."""
    from ..export.manifest import read_manifest

    out, info = work / spec.bundle_key, work / f"{spec.bundle_key}.export.json"
    if not (out / "manifest.json").is_file() or not info.is_file():
        return None
    manifest = read_manifest(out)  # verified: every hash checks out
    if manifest.backend != spec.format or manifest.raw["recipe"]["name"] != spec.recipe:
        return None
    return out, json.loads(info.read_text())


def export_for(spec: BackendSpec, model_dir: Path, work: Path, opts: BackendsOptions) -> tuple[Path, dict]:
    if opts.reuse_exports and (earlier := _earlier_export(spec, work)) is not None:
        return earlier
    out = work / spec.bundle_key
    args = ["export", "--model", str(model_dir), "--format", spec.format, "--recipe", spec.recipe,
            "--steps", str(opts.steps), "--out", str(out)]
    args += ["--decode-window", str(opts.decode_window)]
    return out, _worker(args, work / f"{spec.bundle_key}.export.json", f"export of {spec.bundle_key}")


def measure(backend: str, model_dir: Path, bundle: Path | None, work: Path, opts: BackendsOptions) -> dict:
    args = ["measure", "--runs", str(opts.runs), "--warmup", str(opts.warmup), "--prompt", opts.prompt,
            "--steps", str(opts.steps)]
    args += ["--bundle", str(bundle)] if bundle else ["--model", str(model_dir)]
    for flag, value in (("--threads", opts.threads), ("--seconds", opts.seconds)):
        if value is not None:
            args += [flag, str(value)]
    raw = _worker(args, work / f"{backend}.measure.json", f"measuring {backend}")
    runs = raw["runs"]
    summary = {k: summarize([r[k] for r in runs]) for k in ("conditioners_ms", "dit_total_ms", "decoder_ms",
                                                            "first_audio_ms", "total_ms")}
    summary["dit_step_ms"] = summarize([s for r in runs for s in r["dit_step_ms"]])
    summary["peak_rss_mb"] = summarize([raw["peak_rss_mb"]])
    summary["real_time_factor"] = summarize([raw["seconds"] / (r["total_ms"] / 1e3) for r in runs])
    return {"summary": summary, "peak_rss_mb": raw["peak_rss_mb"], "runs": runs, "seconds": raw["seconds"],
            "threads": raw["threads"]}


def measure_native(bundle: Path, opts: BackendsOptions) -> dict:
    """The C++ runner on this machine: the timed runs with resident graphs (repeated generations),
    then one generation with staged graphs, the one-shot case, for its peak memory and latency."""
    from .devices import open_device
    from .native import DeviceBenchOptions, bench_native

    device = open_device("local", "native")
    try:
        def run(runs: int, warmup: int, graphs: str) -> dict:
            res = bench_native(bundle, device, DeviceBenchOptions(runs, warmup, opts.threads, opts.prompt, opts.seconds,
                                                                  opts.steps, graphs=graphs), log=lambda _: None)
            if not res["complete"]:
                raise InputError(f"the native runner failed on {bundle}: {res.get('error', 'no report')}")
            return res

        timed, once = run(opts.runs, opts.warmup, "resident"), run(1, 0, "staged")
    finally:
        device.cleanup()
    report, single = timed["runner_report"], once["runner_report"]["runs"][0]
    return {"summary": timed["summary"], "peak_rss_mb": timed["summary"]["peak_rss_mb"]["max"],
            "runs": report["runs"], "seconds": report["seconds"], "threads": opts.threads,
            "runner": {k: report.get(k) for k in ("graphs", "threads", "threadpool_threads") if k in report},
            "one_shot": {"graphs": "staged", "total_ms": single["total_ms"], "first_audio_ms": single["first_audio_ms"],
                         "peak_rss_mb": single["peak_rss_mb"], "load_ms": single.get("load_ms")}}


def compare_backends(model_dir: Path, backends: list[str], work: Path, opts: BackendsOptions,
                     log: Callable[[str], None] = print) -> dict:
    results, bundles = {}, {}
    for name in backends:
        spec = BACKENDS[name]
        bundle, export_info = None, {}
        if spec.runtime != "eager":
            if spec.bundle_key not in bundles:
                log(f"exporting {spec.bundle_key} ...")
                bundles[spec.bundle_key] = export_for(spec, model_dir, work, opts)
            bundle, export_info = bundles[spec.bundle_key]
        log(f"measuring {name} ({opts.warmup} warm-up + {opts.runs} runs) ...")
        measured = measure_native(bundle, opts) if spec.runtime == "native" else measure(name, model_dir, bundle,
                                                                                        work, opts)
        results[name] = {"runtime": spec.runtime, "format": spec.format, "recipe": spec.recipe, **measured,
                         **export_info}
    _add_ratios(results)
    return results


def _median_total(result: dict) -> float:
    return result["summary"]["total_ms"]["median"]


def _add_ratios(results: dict) -> None:
    """Speed-ups measured side by side: against eager fp32, and against onnxruntime on the same recipe."""
    base = results.get("eager-fp32")
    for name, r in results.items():
        if base and name != "eager-fp32":
            r["speedup_vs_eager"] = round(_median_total(base) / _median_total(r), 2)
        ort = results.get(f"ort-{r['recipe']}")
        if r["format"] == "executorch" and ort:
            r["speedup_vs_onnxruntime_same_recipe"] = round(_median_total(ort) / _median_total(r), 2)


def backends_table(results: dict) -> str:
    head = (f"{'backend':15s} {'cond ms':>8s} {'DiT/step':>9s} {'DiT ms':>9s} {'dec ms':>9s} {'1st audio':>9s} "
            f"{'total ms':>9s} {'RTF':>6s} {'x eager':>8s} {'x ORT':>6s} {'peak MB':>8s}")
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        s = r["summary"]
        speedup = f"{r['speedup_vs_eager']:8.2f}" if "speedup_vs_eager" in r else f"{'-':>8s}"
        vs_ort = r.get("speedup_vs_onnxruntime_same_recipe")
        vs_ort = f"{vs_ort:6.2f}" if vs_ort is not None else f"{'-':>6s}"
        rows.append(f"{name:15s} {s['conditioners_ms']['median']:8.0f} {s['dit_step_ms']['median']:9.0f} "
                    f"{s['dit_total_ms']['median']:9.0f} {s['decoder_ms']['median']:9.0f} "
                    f"{s['first_audio_ms']['median']:9.0f} {s['total_ms']['median']:9.0f} "
                    f"{s['real_time_factor']['median']:6.2f} {speedup} {vs_ort} {r['peak_rss_mb']:8.0f}")
    return "\n".join(rows)
