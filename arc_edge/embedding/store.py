"""Embedder directories: embedder_config.json + embedder.safetensors, and the one arc-edge ships."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..fileio import atomic_dir
from .model import AudioTextEmbedder, EmbedderConfig

CONFIG_FILE, WEIGHTS_FILE = "embedder_config.json", "embedder.safetensors"


def default_embedder_dir() -> Path:
    return Path(str(resources.files("arc_edge").joinpath("default_embedder")))


def save_embedder(model: AudioTextEmbedder, out: Path, extra: dict | None = None, force: bool = False) -> None:
    with atomic_dir(out, force=force, kind="embedder") as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps({**model.cfg.to_json(), **({"trained": extra} if extra else {})},
                                                  indent=2))
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS_FILE))


def load_embedder(path: Path | None = None) -> AudioTextEmbedder:
    """The embedder in ``path`` (default: the bundled one), in eval mode."""
    path = Path(path) if path is not None else default_embedder_dir()
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"no embedder in {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
                              "train one with `arc-edge train clap --out DIR`")
    raw = json.loads((path / CONFIG_FILE).read_text())
    raw.pop("trained", None)
    model = AudioTextEmbedder(EmbedderConfig.from_json(raw))
    missing, unexpected = model.load_state_dict(load_file(str(path / WEIGHTS_FILE)), strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path / WEIGHTS_FILE} does not match its config (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}); retrain or re-copy the embedder")
    return model.eval()
