"""Benchmark output: terminal table, JSON, CSV, a PNG chart, and comparison with an earlier run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..fileio import atomic_file, write_json

LABELS = {"conditioners_ms": "conditioners", "dit_step_ms": "DiT step", "dit_total_ms": "DiT total",
          "decoder_ms": "decoder", "total_ms": "total", "peak_rss_mb": "peak RSS (MB)"}


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


def write_outputs(result: dict, out: Path) -> list[Path]:
    """results.json, plus results.csv (one row per run) and results.png (latency and memory) beside it."""
    write_json(out, result)
    written = [out]
    runs = (result.get("runner_report") or {}).get("runs", [])
    if runs:
        csv_path = out.with_suffix(".csv")
        with atomic_file(csv_path) as tmp, tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run", "conditioners_ms", "dit_total_ms", "decoder_ms", "total_ms", "peak_rss_mb"])
            for i, r in enumerate(runs, 1):
                w.writerow([i, r["conditioners_ms"], r["dit_total_ms"], r["decoder_ms"], r["total_ms"],
                            r["peak_rss_mb"]["after_decoder"]])
        written.append(csv_path)
        written.append(chart(result["summary"], out.with_suffix(".png"), title=result.get("title", "")))
    return written


def chart(summary: dict, path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [k for k in ("conditioners_ms", "dit_total_ms", "decoder_ms") if k in summary]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 1]})
    medians = [summary[k]["median"] for k in stages]
    ax1.barh([LABELS[k] for k in stages], medians, color=["#6baed6", "#fd8d3c", "#74c476"][: len(stages)])
    for y, v in enumerate(medians):
        ax1.text(v, y, f" {v:.0f} ms", va="center")
    ax1.set_xlabel("median latency (ms)")
    ax1.invert_yaxis()
    if "peak_rss_mb" in summary:
        ax2.bar(["peak RSS"], [summary["peak_rss_mb"]["median"]], color="#9e9ac8")
        ax2.set_ylabel("MB")
    ax1.set_title(title or "arc-edge bench")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def load_previous(path: Path) -> dict:
    from ..errors import InputError

    if not path.is_file():
        raise InputError(f"--compare {path}: no such results file")
    try:
        return json.loads(path.read_text())["summary"]
    except (json.JSONDecodeError, KeyError):
        raise InputError(f"--compare {path} is not an arc-edge bench results file") from None
