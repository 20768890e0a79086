"""Numerical parity between eager fp32 and an exported graph: SNR and cosine similarity."""

from __future__ import annotations

import math

import torch

EXACT_SNR_DB = 300.0  # what an exact match reads (a finite number keeps reports valid JSON)


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    """10 log10(|ref|^2 / |ref - test|^2), clamped to +-EXACT_SNR_DB; NaN anywhere reads -EXACT_SNR_DB."""
    ref, tst = reference.double().flatten(), test.double().flatten()
    noise = torch.sum((ref - tst) ** 2).item()
    signal = torch.sum(ref ** 2).item()
    if math.isnan(noise) or math.isnan(signal):
        return -EXACT_SNR_DB
    if noise == 0.0:
        return EXACT_SNR_DB
    if signal == 0.0:
        return -EXACT_SNR_DB
    return max(-EXACT_SNR_DB, min(EXACT_SNR_DB, 10.0 * math.log10(signal / noise)))


def cosine(reference: torch.Tensor, test: torch.Tensor) -> float:
    a, b = reference.double().flatten(), test.double().flatten()
    denom = (a.norm() * b.norm()).item()
    value = 1.0 if denom == 0.0 else float(torch.dot(a, b).item() / denom)
    return -1.0 if math.isnan(value) else value


def compare(references: list[torch.Tensor], tests: list[torch.Tensor]) -> dict[str, float]:
    """Worst SNR and cosine over a graph's outputs. A missing output or a shape mismatch fails the
    comparison (-inf), it is never skipped."""
    if len(references) != len(tests) or any(r.shape != t.shape for r, t in zip(references, tests, strict=False)):
        return {"snr_db": -EXACT_SNR_DB, "cosine": -1.0}
    return {"snr_db": min(snr_db(r, t) for r, t in zip(references, tests, strict=True)),
            "cosine": min(cosine(r, t) for r, t in zip(references, tests, strict=True))}
