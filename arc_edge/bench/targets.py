"""The lean-pipeline targets for the SAOS-size architecture (8 steps, 11.9 s, 2 threads on the
project's machine), checked against one ``bench backends`` run: every figure side by side."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    backend: str
    metric: str  # a summary stage (median), or a key (dotted path) of the backend's result
    limit: float
    at_least: bool = False  # ratios must reach the limit; times and memory stay under it

    def check(self, results: dict) -> dict:
        r = results.get(self.backend)
        if r is None:
            return {"target": self.name, "measured": None, "met": None, "note": f"{self.backend} was not run"}
        value = r["summary"][self.metric]["median"] if self.metric in r["summary"] else _lookup(r, self.metric)
        if value is None:
            return {"target": self.name, "measured": None, "met": None, "note": f"{self.metric} not measured"}
        met = value >= self.limit if self.at_least else value <= self.limit
        return {"target": self.name, "measured": round(value, 2), "limit": self.limit, "met": met}


def _lookup(result: dict, path: str) -> float | None:
    value = result
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


SAOS_TARGETS = (
    Target("native end to end <= 3.0 s", "native-int8", "total_ms", 3000),
    Target("native decoder <= 1.5 s", "native-int8", "decoder_ms", 1500),
    Target("native DiT step <= 210 ms", "native-int8", "dit_step_ms", 210),
    Target("native peak RSS <= 1.0 GB (one-shot)", "native-int8", "one_shot.peak_rss_mb.after_decoder", 1024),
    Target("native time to first audio <= 1.5 s", "native-int8", "first_audio_ms", 1500),
    Target(">= 8x eager PyTorch fp32", "native-int8", "speedup_vs_eager", 8.0, at_least=True),
    Target(">= 1.5x onnxruntime, same recipe", "native-int8", "speedup_vs_onnxruntime_same_recipe", 1.5,
           at_least=True),
)


def check_targets(results: dict) -> list[dict]:
    return [t.check(results) for t in SAOS_TARGETS]


def targets_table(checks: list[dict]) -> str:
    rows = []
    for c in checks:
        verdict = "n/a" if c["met"] is None else ("met" if c["met"] else "NOT met")
        shown = c.get("note") or f"{c['measured']:g}"
        rows.append(f"{c['target']:40s} {shown:>24s}  {verdict}")
    return "\n".join(rows)
