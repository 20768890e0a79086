"""Device benchmark output: terminal table, JSON, CSV, a PNG chart, and comparison with an earlier run."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import InputError
from ..fileio import atomic_file, check_writable_target, write_json
from ..schema import Fields, read_json
from .charts import stage_chart

LABELS = {"conditioners_ms": "conditioners", "dit_step_ms": "DiT step", "dit_total_ms": "DiT total",
          "decoder_ms": "decoder", "first_audio_ms": "first audio", "total_ms": "total",
          "peak_rss_mb": "peak RSS (MB)", "real_time_factor": "real-time x"}


def table(summary: dict, previous: dict | None = None) -> str:
    head = f"{'stage':16s} {'median':>10s} {'trim.mean':>10s} {'min':>10s} {'max':>10s}"
    if previous:
        head += f" {'was':>10s} {'change':>8s}"
    lines = [head, "-" * len(head)]
    for key, label in LABELS.items():
        if key not in summary:
            continue
        s = summary[key]
        row = f"{label:16s} {s['median']:10.1f} {s['trimmed_mean']:10.1f} {s['min']:10.1f} {s['max']:10.1f}"
        if previous and key in previous:
            was = previous[key]["median"]
            row += f" {was:10.1f} {100 * (s['median'] - was) / max(was, 1e-9):+7.1f}%"
        lines.append(row)
    return "\n".join(lines)


def selftest_table(verdict: dict) -> str:
    head = f"{'graph':14s} {'SNR dB':>8s} {'min dB':>8s}  verdict"
    rows = [head, "-" * len(head)]
    for name, g in verdict["graphs"].items():
        rows.append(f"{name:14s} {g['snr_db']:8.1f} {g['min_snr_db']:8.1f}  {'ok' if g['passed'] else 'FAILED'}")
    return "\n".join(rows)


def side_files(out: Path) -> list[Path]:
    """The files written beside ``out``: they follow the same no-clobber rule as ``out`` itself."""
    return [out.with_suffix(".csv"), out.with_suffix(".png")]


def check_outputs(out: Path, force: bool) -> None:
    for path in (out, *side_files(out)):
        check_writable_target(path, force)


def write_outputs(result: dict, out: Path) -> list[Path]:
    """results.json, plus results.csv (one row per run) and results.png (latency and memory) beside it."""
    write_json(out, result)
    written = [out]
    runs = (result.get("runner_report") or {}).get("runs", [])
    if runs:
        csv_path, png_path = side_files(out)
        with atomic_file(csv_path) as tmp, tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "conditioners_ms", "dit_total_ms", "decoder_ms", "total_ms", "peak_rss_mb"])
            for i, r in enumerate(runs, 1):
                w.writerow([i, r["conditioners_ms"], r["dit_total_ms"], r["decoder_ms"], r["total_ms"],
                            r["peak_rss_mb"]["after_decoder"]])
        written.append(csv_path)
        written.append(stage_chart({result.get("title") or "run": result["summary"]}, png_path,
                                   result.get("title", "arc-edge bench")))
    return written


def load_previous(path: Path) -> dict:
    """The summary of an earlier results file, checked enough to compare against."""
    raw = read_json(path, "bench results file", InputError)
    summary = Fields(raw, str(path), error=InputError).obj("summary")
    for _key, stats in summary.each():
        stats.number("median")
    return summary.data
