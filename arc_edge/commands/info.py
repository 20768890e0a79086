"""``arc-edge info``: a model's config, parameter counts per part and sizes (no weights needed)."""

from __future__ import annotations

import argparse
import json

from .common import add_model_args, subcommand


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subcommand(sub, "info", "show a model's config, parameter counts and sizes")
    add_model_args(p)
    p.add_argument("--config", choices=("saos", "tiny"), default=None,
                   help="describe a built-in architecture instead of a model directory (no weights loaded)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def describe(cfg, counts: dict[str, int], source: str, trained: dict[str, str] | None = None,
             lineage: str | None = None) -> dict:
    return {
        "source": source,
        # the stage and step of the run that wrote the weights, and the runs before it, when runs recorded them
        "trained": trained or None,
        "lineage": lineage,
        "sample_rate": cfg.sample_rate,
        "audio_channels": cfg.audio_channels,
        "max_seconds": round(cfg.max_seconds, 3),
        "dc_blocker_hz": cfg.pretransform.dc_blocker_hz,  # 0: the decoder's output as it is (the reference's)
        "latent_shape": [1, cfg.latent_dim, cfg.latent_length],
        "dit": {"embed_dim": cfg.dit.embed_dim, "depth": cfg.dit.depth, "heads": cfg.dit.num_heads},
        "t5": cfg.prompt.model_name,
        "max_tokens": cfg.prompt.max_length,
        "parameters": counts,
        "fp32_mb": {k: round(v * 4 / 2**20, 1) for k, v in counts.items()},
    }


def run(args: argparse.Namespace) -> int:
    import torch

    from ..checkpoint import load_model
    from ..config import builtin_config
    from ..models import ArcPipeline

    trained, lineage = None, None
    if args.config:
        cfg = builtin_config(args.config)
        with torch.device("meta"):  # counts without allocating weights
            counts = ArcPipeline(cfg).part_parameters()
        source = f"built-in config '{args.config}' (architecture only)"
    else:
        pipeline, src = load_model(args.model, args.t5)
        cfg, counts, source = pipeline.cfg, pipeline.part_parameters(), src.description
        trained, lineage = src.trained, src.lineage
    counts["total_checkpoint"] = counts["dit"] + counts["vae_encoder"] + counts["vae_decoder"] + counts[
        "seconds_conditioner"]
    info = describe(cfg, counts, source, trained, lineage)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model:        {info['source']}")
    if trained:
        print(f"trained:      {info['lineage']} (stage and step of each run, newest first, as the runs recorded "
              "them)")
    print(f"audio:        {cfg.sample_rate} Hz, {cfg.audio_channels} ch, up to {info['max_seconds']} s")
    print(f"latent:       {info['latent_shape']}")
    hz = info["dc_blocker_hz"]
    print(f"DC blocker:   {f'{hz:g} Hz high-pass on the decoded audio' if hz else 'none'}")
    print(f"DiT:          dim {cfg.dit.embed_dim}, depth {cfg.dit.depth}, heads {cfg.dit.num_heads}")
    print(f"text encoder: {cfg.prompt.model_name}, {cfg.prompt.max_length} tokens")
    for part, n in counts.items():
        print(f"  {part:22s} {n:>13,d} params  {n * 4 / 2**20:9.1f} MB fp32")
    return 0
