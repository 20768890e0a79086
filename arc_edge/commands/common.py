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
