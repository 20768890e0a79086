"""Pre-encode a dataset's audio once with the VAE, so DiT training reads latents instead of audio."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from ..fileio import atomic_dir
from ..models.pipeline import ArcPipeline


@torch.inference_mode()
def encode_dataset(pipeline: ArcPipeline, dataset, out_dir: Path, batch_size: int = 16, force: bool = False) -> None:
    latents, captions, variants, seconds, specs = [], [], [], [], []
    pipeline.eval()
    for start in tqdm(range(0, len(dataset), batch_size), desc="encoding latents", unit="batch", dynamic_ncols=True):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        audio = torch.stack([it["audio"] for it in items])
        latents.append(pipeline.posterior(audio)[0])  # the mean: the cache is deterministic
        captions += [it["caption"] for it in items]
        variants += [it.get("captions", [it["caption"]]) for it in items]
        seconds += [float(it["seconds"]) for it in items]
        specs += [it.get("spec") for it in items]
    with atomic_dir(Path(out_dir), force=force, kind="latents") as tmp:
        save_file({"latents": torch.cat(latents).contiguous()}, str(tmp / "latents.safetensors"))
        index = {"captions": captions, "seconds": seconds}
        if any(len(v) > 1 for v in variants):
            index["variants"] = variants
        if all(spec is not None for spec in specs):  # procedural data: what each latent is the sound of
            index["specs"] = [asdict(spec) for spec in specs]
        (tmp / "captions.json").write_text(json.dumps(index))
