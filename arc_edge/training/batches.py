"""Deterministic batches: step k on rank r always draws the same examples, so --resume is exact."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..tokenizer import PromptTokenizer


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 8191 + rank)


def draw_batch(dataset: Dataset, batch_size: int, gen: torch.Generator) -> dict:
    idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
    items = [dataset[i] for i in idx]
    # an example with several captions of its sound gets one of them, drawn from the same generator
    captions = [it["caption"] if len(it.get("captions", ())) < 2
                else it["captions"][int(torch.randint(len(it["captions"]), (1,), generator=gen))] for it in items]
    out: dict = {"caption": captions,
                 "seconds": torch.tensor([float(it["seconds"]) for it in items])}
    for key in ("audio", "latent"):
        if key in items[0]:
            out[key] = torch.stack([it[key] for it in items])
    return out


def crop_start(length: int, crop: int, gen: torch.Generator, end_share: float = 0.0, step: int = 1) -> int:
    """Where a training crop of ``crop`` samples starts in a clip of ``length``: a uniform multiple of
    ``step``. Uniform starts almost never include the clip's last samples (1 start in ``length - crop``),
    where every sound releases to silence; with ``end_share`` that share of crops ends exactly at the
    clip's end."""
    # at share 0 nothing extra is drawn: runs (and resumes) from before the option keep their crops
    if end_share > 0 and float(torch.rand(1, generator=gen)) < end_share:
        return length - crop
    return step * int(torch.randint((length - crop) // step + 1, (1,), generator=gen))


def tokenize_batch(tokenizer: PromptTokenizer, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    toks = [tokenizer.encode(c) for c in captions]
    return torch.tensor([t.ids for t in toks]), torch.tensor([t.mask for t in toks])


def logsnr_uniform_t(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    """t = sigmoid(-logSNR) with logSNR uniform in [lo, hi] (the ping-pong sampler's range)."""
    logsnr = lo + (hi - lo) * torch.rand(n, generator=gen)
    return torch.sigmoid(-logsnr)


def logit_normal_t(n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.sigmoid(torch.randn(n, generator=gen))
