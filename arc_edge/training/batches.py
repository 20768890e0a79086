"""Deterministic batches: step k on rank r always draws the same examples, so --resume is exact."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..data.procedural import REGISTER_AND_SIDE_WORDS
from ..tokenizer import PromptTokenizer


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 8191 + rank)


# Words that turn a phrase's meaning around ("no pulsing", "not a saw"): never dropped, or a negated
# attribute would be taught as the attribute itself.
_KEPT_WORDS = frozenset({"no", "not", "without", "non", "never"})
_NEGATED_SPAN = 2  # "no pulsing", "not a saw": a negation with the next words dropped would negate another phrase


def _names_register_or_side(bare: str) -> bool:
    """A word that alone says the pitch ("deep", "900", "hz") or the side ("left"). Dropping these cost
    8-9 points of pitch in every probe run (model card, "Probe: word dropout"): the captions with the
    register left out teach the text encoder's features that pitch need not follow the words."""
    return bare in REGISTER_AND_SIDE_WORDS or any(c.isdigit() for c in bare)


def drop_words(text: str, probability: float, gen: torch.Generator) -> str:
    """``text`` with each word left out with ``probability`` (kept: negations and the two words after
    them, and the words that name a pitch register or a side; at least one word stays).
    A caption whose phrase is always whole ("dying away") teaches the phrase, not its words: the text
    encoder never learns what "away" says on its own, and a phrase it never saw ("fading away") reads
    as a guess. With words missing at random, each word must carry its own evidence."""
    words = text.split(" ")
    bare = [w.strip(",;.!-:").lower() for w in words]
    drop = (torch.rand(len(words), generator=gen) < probability).tolist()
    negated = {j for i, b in enumerate(bare) if b in _KEPT_WORDS for j in range(i, i + 1 + _NEGATED_SPAN)}
    kept = [i for i, d in enumerate(drop) if not d or i in negated or _names_register_or_side(bare[i])]
    return " ".join(words[i] for i in kept) if any(bare[i] for i in kept) else text


def draw_batch(dataset: Dataset, batch_size: int, gen: torch.Generator, word_dropout: float = 0.0) -> dict:
    """``batch_size`` examples drawn from ``gen``; with ``word_dropout`` > 0 their captions lose words at
    random (``drop_words``). At 0 nothing more is drawn, so runs from before the option draw as they did."""
    idx = torch.randint(len(dataset), (batch_size,), generator=gen).tolist()
    items = [dataset[i] for i in idx]
    # an example with several captions of its sound gets one of them, drawn from the same generator
    captions = [it["caption"] if len(it.get("captions", ())) < 2
                else it["captions"][int(torch.randint(len(it["captions"]), (1,), generator=gen))] for it in items]
    if word_dropout > 0:
        captions = [drop_words(c, word_dropout, gen) for c in captions]
    out: dict = {"caption": captions,
                 "seconds": torch.tensor([float(it["seconds"]) for it in items])}
    for key in ("audio", "latent"):
        if key in items[0]:
            out[key] = torch.stack([it[key] for it in items])
    if "spec" in items[0]:
        out["spec"] = [it["spec"] for it in items]
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
