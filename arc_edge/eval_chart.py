"""The chart every `arc-edge eval` report gets: what the numbers hide in a table.

Accuracy per attribute against the two baselines (uniform chance, the prompt-shuffled score of the
model's own outputs); which waveform was heard for each sound asked for; every clip's signal health
against its limits; and, for --vae-only reports, the reconstruction's band response per sound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.procedural import WAVEFORMS
from .data.signal_health import ARTEFACT_LIMIT_DB, DC_LIMIT, problems
from .plotting import pyplot, save_png

DC_AXIS_FLOOR = 1e-5  # a clip with no measurable DC is drawn here on the log axis


def report_chart(report: dict, path: Path, title: str) -> Path:
    """Write ``report``'s chart to ``path`` (PNG, atomically) and return the path."""
    plt = pyplot()
    panels = [_accuracy, _health]
    if report.get("waveform_heard"):
        panels.insert(1, _waveform_heard)
    if report.get("band_response"):
        panels.append(_band_response)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2))
    for panel, ax in zip(panels, np.atleast_1d(axes), strict=True):
        panel(report, ax)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def comparison_chart(reports: dict[str, dict], path: Path) -> Path:
    """Write a chart of several reports side by side (PNG, atomically): accuracy per attribute, one bar
    per report, and each report's share of healthy clips."""
    plt = pyplot()
    attrs = sorted({k for r in reports.values() for k in r["adherence"]["per_attribute"]})
    names = ["overall", *attrs]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(reports)
    x = np.arange(len(names))
    for i, (label, r) in enumerate(reports.items()):
        a = r["adherence"]
        values = [a["overall"], *(a["per_attribute"].get(k, np.nan) for k in attrs)]
        ax1.bar(x - 0.4 + width * (i + 0.5), values, width, label=label)
    _share_axis(ax1, names, "attributes", columns=min(len(reports), 3))
    labels = list(reports)
    healthy = [(r.get("signal_health") or {}).get("healthy_share", np.nan) for r in reports.values()]
    ax2.barh(labels, healthy, color="#31a354")
    for y, share in enumerate(healthy):
        ax2.text(0.02, y, f"{share:.2f}", va="center", fontsize=8, color="white")
    ax2.set_xlim(0, 1)
    ax2.invert_yaxis()
    ax2.tick_params(axis="y", labelsize=7)
    ax2.set_xlabel("healthy clips (share)")
    ax2.set_title("signal health", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def _accuracy(report: dict, ax) -> None:
    a = report["adherence"]
    asked = a.get("per_attribute_when_asked") or {}
    names = ["overall", *a["per_attribute"]]
    values = [a["overall"], *a["per_attribute"].values()]
    x = np.arange(len(names))
    ax.bar(x - 0.2, values, 0.4, color="#3182bd", label="all prompts")
    when = [asked.get(n, np.nan) for n in names]
    ax.bar(x + 0.2, when, 0.4, color="#9ecae1", label="prompts asking for it")
    for value, style, label in ((a.get("chance"), "--", "uniform chance"),
                                (a.get("shuffled_prompt_baseline"), ":", "prompt-shuffled")):
        if value is not None:
            ax.axhline(value, color="#636363", linestyle=style, linewidth=1, label=f"{label} {value:.2f}")
    _share_axis(ax, names, f"attributes (adherence {a['overall']:.3f})", columns=2)


def _share_axis(ax, names: list[str], title: str, columns: int) -> None:
    """An axis of accuracies: one tick per attribute, 0-1 with room above the bars for the legend."""
    ax.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=8)
    ax.set_ylim(0, 1.3)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("share of clips right")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=columns)


def _waveform_heard(report: dict, ax) -> None:
    heard = report["waveform_heard"]
    sounds = list(heard)
    counts = np.array([[heard[s].get(w, 0) for w in WAVEFORMS] for s in sounds], dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, sound in enumerate(sounds):
        for j, waveform in enumerate(WAVEFORMS):
            right = sound.partition(" ")[0] == waveform
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if shares[i, j] > 0.6 else "black", fontweight="bold" if right else "normal")
    ax.set_xticks(range(len(WAVEFORMS)), WAVEFORMS, fontsize=8)
    ax.set_yticks(range(len(sounds)), sounds, fontsize=7)
    ax.set_xlabel("heard as")
    ax.set_title("waveform heard, by sound asked for", fontsize=9)


def _health(report: dict, ax) -> None:
    clips = report["clip_health"]
    dc = np.array([max(abs(d) for d in c["dc"]) for c in clips], dtype=float)
    tone = np.array([c["artefact_tone_db"] for c in clips], dtype=float)
    bad = np.array([bool(problems(c)) for c in clips], dtype=bool)
    dc_drawn = np.maximum(dc, DC_AXIS_FLOOR)
    ax.scatter(dc_drawn[~bad], tone[~bad], s=9, color="#31a354", label=f"healthy {int((~bad).sum())}")
    ax.scatter(dc_drawn[bad], tone[bad], s=14, color="#de2d26", marker="x", label=f"unhealthy {int(bad.sum())}")
    ax.axvline(DC_LIMIT, color="#de2d26", linestyle="--", linewidth=1)
    ax.axhline(ARTEFACT_LIMIT_DB, color="#de2d26", linestyle="--", linewidth=1)
    ax.set_xscale("log")  # the limits stay in view however healthy the clips are
    ax.set_xlim(DC_AXIS_FLOOR / 2, max(dc.max(initial=0.0), DC_LIMIT) * 2)
    ax.set_ylim(top=max(np.nanmax(tone, initial=-200.0), ARTEFACT_LIMIT_DB) + 5)
    ax.set_xlabel("largest |DC| of the two channels")
    ax.set_ylabel("loudest artefact tone (dB re clip)")
    ax.set_title("signal health per clip (limits dashed)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def _band_response(report: dict, ax) -> None:
    b = report["band_response"]
    centres = [np.sqrt(max(lo, 20.0) * hi) for lo, hi in b["bands_hz"]]
    for sound, values in b["median_db_by_sound"].items():
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.plot(centres, y, marker="o", markersize=3, linewidth=1, label=sound)
    ax.axhline(0.0, color="#636363", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("octave band (Hz)")
    ax.set_ylabel("reconstruction / reference (dB)")
    ax.set_title("band response (median per sound)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
