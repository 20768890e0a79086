"""The one chart every benchmark writes: per-stage latency (stacked) and peak memory, per row."""

from __future__ import annotations

from pathlib import Path

from ..plotting import pyplot, save_png

STAGE_COLOURS = {"conditioners_ms": "#6baed6", "dit_total_ms": "#fd8d3c", "decoder_ms": "#74c476"}


def stage_chart(summaries: dict[str, dict], path: Path, title: str) -> Path:
    """``summaries``: row label -> a summary with median per stage (``*_ms``) and ``peak_rss_mb``."""
    plt = pyplot()
    labels = list(summaries)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 1.2 + 0.5 * len(labels)),
                                   gridspec_kw={"width_ratios": [3, 1]})
    left = [0.0] * len(labels)
    for stage, colour in STAGE_COLOURS.items():
        values = [summaries[k].get(stage, {}).get("median", 0.0) / 1e3 for k in labels]
        ax1.barh(labels, values, left=left, color=colour, label=stage.removesuffix("_ms").replace("_", " "))
        left = [a + b for a, b in zip(left, values, strict=True)]
    for y, total in enumerate(left):
        ax1.text(total, y, f" {total:.2f} s", va="center", fontsize=8)
    ax1.set_xlabel("median seconds per generation")
    ax1.invert_yaxis()
    ax1.legend(fontsize=8, loc="lower right")
    ax1.set_title(title, fontsize=9)
    ax2.barh(labels, [summaries[k].get("peak_rss_mb", {}).get("median", 0.0) for k in labels], color="#9e9ac8")
    ax2.set_xlabel("peak RSS (MB)")
    ax2.set_yticks([])
    ax2.invert_yaxis()
    fig.tight_layout()
    return save_png(fig, path)
