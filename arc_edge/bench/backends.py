"""``arc-edge bench backends``: PyTorch eager fp32, ExecuTorch fp32/int8 and onnxruntime fp32/int8 on
the same model, each exported and measured in a fresh process, in one run, at the same threads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .stats import summarize

BACKENDS = {  # name -> (bundle format, export recipe); None = eager PyTorch
    "eager-fp32": None,
    "et-fp32": ("executorch", "fp32"),
    "et-int8": ("executorch", "int8"),
    "ort-fp32": ("onnx", "fp32"),
    "ort-int8": ("onnx", "int8"),
}


@dataclass
class BackendsOptions:
    runs: int
    warmup: int
    threads: int | None
    prompt: str
    seconds: float | None
    steps: int
    decode_window: int | None = None


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


def export_for(backend: str, model_dir: Path, work: Path, opts: BackendsOptions) -> tuple[Path, dict]:
    fmt, recipe = BACKENDS[backend]
    out = work / backend
    args = ["export", "--model", str(model_dir), "--format", fmt, "--recipe", recipe, "--steps", str(opts.steps),
            "--out", str(out)]
    if opts.decode_window:
        args += ["--decode-window", str(opts.decode_window)]
    return out, _worker(args, work / f"{backend}.export.json", f"export for {backend}")


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


def compare_backends(model_dir: Path, backends: list[str], work: Path, opts: BackendsOptions,
                     log: Callable[[str], None] = print) -> dict:
    results = {}
    for name in backends:
        if BACKENDS[name] is None:
            bundle, export_info = None, {}
        else:
            log(f"exporting {name} ...")
            bundle, export_info = export_for(name, model_dir, work, opts)
        log(f"measuring {name} ({opts.warmup} warm-up + {opts.runs} runs) ...")
        results[name] = {**measure(name, model_dir, bundle, work, opts), **export_info}
    base = results.get("eager-fp32")
    if base:
        for name, r in results.items():
            if name != "eager-fp32":
                r["speedup_vs_eager"] = round(base["summary"]["total_ms"]["median"] / r["summary"]["total_ms"]["median"],
                                              2)
    return results


def backends_table(results: dict) -> str:
    head = (f"{'backend':11s} {'cond ms':>8s} {'DiT/step':>9s} {'DiT ms':>9s} {'dec ms':>9s} {'1st audio':>9s} "
            f"{'total ms':>9s} {'RTF':>6s} {'x eager':>8s} {'peak MB':>8s}")
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        s = r["summary"]
        speedup = f"{r['speedup_vs_eager']:8.2f}" if "speedup_vs_eager" in r else f"{'-':>8s}"
        rows.append(f"{name:11s} {s['conditioners_ms']['median']:8.0f} {s['dit_step_ms']['median']:9.0f} "
                    f"{s['dit_total_ms']['median']:9.0f} {s['decoder_ms']['median']:9.0f} "
                    f"{s['first_audio_ms']['median']:9.0f} {s['total_ms']['median']:9.0f} "
                    f"{s['real_time_factor']['median']:6.2f} {speedup} {r['peak_rss_mb']:8.0f}")
    return "\n".join(rows)
