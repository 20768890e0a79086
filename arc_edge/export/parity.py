"""Numerical parity between eager fp32 and an exported graph: SNR and cosine similarity."""

from __future__ import annotations

import math

import torch


def snr_db(reference: torch.Tensor, test: torch.Tensor) -> float:
    """10 log10(|ref|^2 / |ref - test|^2); +inf for an exact match."""
    ref, tst = reference.double().flatten(), test.double().flatten()
    noise = torch.sum((ref - tst) ** 2).item()
    signal = torch.sum(ref ** 2).item()
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(reference: torch.Tensor, test: torch.Tensor) -> float:
    a, b = reference.double().flatten(), test.double().flatten()
    denom = (a.norm() * b.norm()).item()
    return 1.0 if denom == 0.0 else float(torch.dot(a, b).item() / denom)


def compare(references: list[torch.Tensor], tests: list[torch.Tensor]) -> dict[str, float]:
    """Worst SNR and cosine over a graph's outputs."""
    return {"snr_db": min(snr_db(r, t) for r, t in zip(references, tests)),
            "cosine": min(cosine(r, t) for r, t in zip(references, tests))}
