"""Summary statistics over benchmark runs."""

from __future__ import annotations

import numpy as np


def summarize(values: list[float]) -> dict[str, float]:
    """median, trimmed mean (middle 80%), min, max, n."""
    v = np.sort(np.asarray(values, dtype=float))
    cut = int(len(v) * 0.1)
    trimmed = v[cut:len(v) - cut] if len(v) - 2 * cut > 0 else v
    return {"median": float(np.median(v)), "trimmed_mean": float(trimmed.mean()), "min": float(v[0]),
            "max": float(v[-1]), "n": int(len(v))}
