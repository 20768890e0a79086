"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None,
                   help="model directory (model_config.json + model.safetensors); default: the bundled model")
    p.add_argument("--t5", type=Path, default=None,
                   help="local T5 folder (config.json, model.safetensors, spiece.model); default: MODEL/t5")


def progress_bar(total: int, desc: str, unit: str = "step"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)


def load_runtime(args: argparse.Namespace):
    """-> (runtime, model config, tokenizer, description) for --bundle or --model/--t5."""
    if getattr(args, "bundle", None) is not None:
        from ..export.bundle import BundleRuntime

        runtime = BundleRuntime(args.bundle, getattr(args, "threads", None))
        m = runtime.manifest
        return runtime, runtime.cfg, runtime.tokenizer, f"bundle {args.bundle} ({m['backend']}, {m['recipe']['name']})"
    from ..checkpoint import load_model

    pipeline, source = load_model(args.model, args.t5)
    return pipeline, pipeline.cfg, pipeline.tokenizer, source.description
