"""matplotlib for the charts arc-edge writes: headless, and every PNG written atomically."""

from __future__ import annotations

from pathlib import Path

from .fileio import atomic_file


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display on CI machines or over ssh)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` through a temporary file, then close it."""
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    pyplot().close(fig)
    return path
