"""Training the CLAP-style embedder on procedural clips: spectrograms are computed once, then
contrastive steps are cheap enough for a 2-core CPU (a few minutes)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.procedural import caption, heldout_caption, random_spec, render
from ..fileio import check_writable_target
from .model import AudioTextEmbedder, EmbedderConfig
from .store import save_embedder


def _clips(n: int, seconds: float, cfg: EmbedderConfig, seed: int, heldout: bool, model: AudioTextEmbedder):
    """-> (log-mels [n, 2, mels, frames], captions), rendered once up front."""
    rng = random.Random(seed)
    mels, texts = [], []
    for i in tqdm(range(n), desc="rendering clips", unit="clip", leave=False, dynamic_ncols=True):
        spec = random_spec(rng)
        texts.append(heldout_caption(spec, rng) if heldout else caption(spec, rng))
        audio = torch.from_numpy(render(spec, seconds, cfg.sample_rate, seed * 7919 + i))
        with torch.no_grad():
            mels.append(model.log_mel(audio[None])[0])
    return torch.stack(mels), texts


def retrieval_accuracy(model: AudioTextEmbedder, mels: torch.Tensor, texts: list[str], group: int = 16) -> float:
    """Share of clips whose own caption scores highest among ``group`` captions (chance 1/group)."""
    model.eval()
    hits = []
    with torch.no_grad():
        for s in range(0, len(texts) - group + 1, group):
            a, t = model.embed_mel(mels[s:s + group]), model.embed_text(texts[s:s + group])
            hits += (torch.argmax(a @ t.T, dim=1) == torch.arange(group)).tolist()
    model.train()
    return float(np.mean(hits))


def train_embedder(out: Path, steps: int = 2000, batch_size: int = 64, clips: int = 6000, seconds: float = 2.0,
                   lr: float = 2e-3, seed: int = 0, val_clips: int = 512, force: bool = False, log=print) -> dict:
    check_writable_target(out, force)  # fail now, not after the training
    torch.manual_seed(seed)
    cfg = EmbedderConfig()
    model = AudioTextEmbedder(cfg)
    mels, texts = _clips(clips, seconds, cfg, seed, heldout=False, model=model)
    val_mels, val_texts = _clips(val_clips, seconds, cfg, seed + 1, heldout=True, model=model)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(seed)
    bar = tqdm(range(steps), desc="train clap", dynamic_ncols=True)
    for step in bar:
        idx = torch.randperm(len(texts), generator=gen)[:batch_size]
        shift = int(torch.randint(0, 8, (1,), generator=gen))  # small time shifts: no reliance on exact frames
        batch = torch.roll(mels[idx], shifts=shift, dims=-1)
        loss = model.contrastive_loss(model.embed_mel(batch), model.embed_text([texts[i] for i in idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    result = {"steps": steps, "batch_size": batch_size, "clips": clips, "seconds": seconds, "final_loss": loss.item(),
              "heldout_retrieval_top1_of_16": retrieval_accuracy(model, val_mels, val_texts),
              "train_retrieval_top1_of_16": retrieval_accuracy(model, mels[:val_clips], texts[:val_clips])}
    save_embedder(model.eval(), out, extra=result, force=force)
    log(f"held-out retrieval (top-1 of 16, chance 0.06): {result['heldout_retrieval_top1_of_16']:.3f}")
    return result
