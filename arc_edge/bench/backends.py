"""Side-by-side backend benchmark (issue: export): PyTorch eager fp32, ExecuTorch fp32/int8 and
onnxruntime fp32/int8 on the same model, one fresh process each, in one run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
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


def parse_backends(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        given = ", ".join(bad) if bad else repr(spec)
        raise InputError(f"unknown backend(s) {given}; choose from {', '.join(BACKENDS)}")
    return names


def _cli(args: list[str], what: str) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"{what} failed: {tail[0]}")
    return res


def export_for(backend: str, model_dir: Path, work: Path, log=print) -> tuple[Path, dict]:
    fmt, recipe = BACKENDS[backend]
    out = work / backend
    log(f"exporting {backend} ...")
    t0 = time.perf_counter()
    res = _cli(["-m", "arc_edge.cli", "export", "--model", str(model_dir), "--quant", recipe, "--format", fmt,
                "--out", str(out), "--force"], f"export for {backend}")
    seconds = time.perf_counter() - t0
    found = re.search(r"peak RSS (\d+) MB", res.stdout)  # printed by `arc-edge export`
    peak = float(found.group(1)) if found else float("nan")
    manifest = json.loads((out / "manifest.json").read_text())
    return out, {"export_seconds": round(seconds, 1), "export_peak_rss_mb": peak,
                 "parity_snr_db": {k: round(v["snr_db"], 1) for k, v in manifest["parity"].items()},
                 "bundle_mb": round(sum(p.stat().st_size for p in out.iterdir()) / 2**20, 1)}


def measure(backend: str, model_dir: Path, bundle: Path | None, runs: int, warmup: int, threads: int | None,
            work: Path) -> dict:
    out = work / f"{backend}.json"
    args = ["-m", "arc_edge.bench.backend_worker", "--runs", str(runs), "--warmup", str(warmup), "--out", str(out)]
    args += ["--bundle", str(bundle)] if bundle else ["--model", str(model_dir)]
    if threads:
        args += ["--threads", str(threads)]
    _cli(args, f"measuring {backend}")
    raw = json.loads(out.read_text())
    summary = {k: summarize([r[k] for r in raw["runs"]]) for k in ("conditioners_ms", "dit_total_ms", "decoder_ms",
                                                                   "total_ms")}
    summary["dit_step_ms"] = summarize([s for r in raw["runs"] for s in r["dit_step_ms"]])
    return {"summary": summary, "peak_rss_mb": raw["peak_rss_mb"], "runs": raw["runs"]}


def compare_backends(model_dir: Path, backends: list[str], runs: int, warmup: int, threads: int | None,
                     work: Path, log=print) -> dict:
    results = {}
    for name in backends:
        bundle, export_info = (None, {}) if BACKENDS[name] is None else export_for(name, model_dir, work, log)
        log(f"measuring {name} ({warmup} warm-up + {runs} runs) ...")
        results[name] = {**measure(name, model_dir, bundle, runs, warmup, threads, work), **export_info}
    base = results.get("eager-fp32")
    if base:
        for r in results.values():
            r["speedup_vs_eager"] = round(base["summary"]["total_ms"]["median"] / r["summary"]["total_ms"]["median"], 2)
    return results


def backends_table(results: dict) -> str:
    head = (f"{'backend':11s} {'cond ms':>8s} {'DiT/step':>9s} {'DiT ms':>9s} {'dec ms':>9s} {'total ms':>9s} "
            f"{'x eager':>8s} {'peak MB':>8s}")
    rows = [head, "-" * len(head)]
    for name, r in results.items():
        s = r["summary"]
        rows.append(f"{name:11s} {s['conditioners_ms']['median']:8.0f} {s['dit_step_ms']['median']:9.0f} "
                    f"{s['dit_total_ms']['median']:9.0f} {s['decoder_ms']['median']:9.0f} "
                    f"{s['total_ms']['median']:9.0f} {r.get('speedup_vs_eager', float('nan')):8.2f} "
                    f"{r['peak_rss_mb']:8.0f}")
    return "\n".join(rows)


def backends_chart(results: dict, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic_file

    names = list(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    left = [0.0] * len(names)
    for stage, color in (("conditioners_ms", "#6baed6"), ("dit_total_ms", "#fd8d3c"), ("decoder_ms", "#74c476")):
        vals = [results[n]["summary"][stage]["median"] / 1000 for n in names]
        ax1.barh(names, vals, left=left, color=color, label=stage.replace("_ms", "").replace("_", " "))
        left = [a + b for a, b in zip(left, vals)]
    ax1.set_xlabel("median seconds per generation")
    ax1.invert_yaxis()
    ax1.legend(fontsize=8)
    ax1.set_title(title)
    ax2.barh(names, [results[n]["peak_rss_mb"] for n in names], color="#9e9ac8")
    ax2.set_xlabel("peak RSS (MB)")
    ax2.invert_yaxis()
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
