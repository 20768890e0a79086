"""Embedder directories: embedder_config.json + embedder.safetensors, and the one arc-edge ships."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, first_line
from ..fileio import atomic_dir
from ..schema import Fields, int_item, read_json
from .model import AudioTextEmbedder, EmbedderConfig

CONFIG_FILE, WEIGHTS_FILE = "embedder_config.json", "embedder.safetensors"


def default_embedder_dir() -> Path:
    return Path(str(resources.files("arc_edge").joinpath("default_embedder")))


def save_embedder(model: AudioTextEmbedder, out: Path, extra: dict | None = None, force: bool = False) -> None:
    with atomic_dir(out, force=force, kind="embedder") as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps({**model.cfg.to_json(), **({"trained": extra} if extra else {})},
                                                  indent=2))
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS_FILE))


def read_config(path: Path) -> EmbedderConfig:
    """embedder_config.json, every field typed and bounded."""
    f = Fields(read_json(path, "embedder config", CheckpointError), str(path), error=CheckpointError)
    known = {"sample_rate", "n_fft", "hop", "n_mels", "fmin", "fmax", "dim", "text_buckets", "channels", "trained"}
    unknown = sorted(set(f) - known)
    if unknown:
        raise CheckpointError(f"{path}: unknown field(s) {', '.join(unknown)}")
    sample_rate = f.integer("sample_rate", low=8000, high=384000)
    n_fft = f.integer("n_fft", low=64, high=65536)
    fmin = f.number("fmin", low=0.0)
    channels = tuple(f.items("channels", int_item(f.where, 1, CheckpointError), min_len=1))
    if len(channels) > 8 or max(channels) > 4096:
        raise CheckpointError(f"{path}: field 'channels' must be at most 8 layers of at most 4096 channels")
    return EmbedderConfig(sample_rate=sample_rate, n_fft=n_fft, hop=f.integer("hop", low=1, high=n_fft),
                          n_mels=f.integer("n_mels", low=1, high=n_fft // 2 + 1), fmin=fmin,
                          fmax=f.number("fmax", low=fmin, high=sample_rate / 2, low_open=True),
                          dim=f.integer("dim", low=1, high=4096), text_buckets=f.integer("text_buckets", low=1, high=1 << 22),
                          channels=channels)


def load_embedder(path: Path | None = None) -> AudioTextEmbedder:
    """The embedder in ``path`` (default: the bundled one), in eval mode."""
    path = Path(path) if path is not None else default_embedder_dir()
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"no embedder in {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
                              "train one with `arc-edge train clap --out DIR`")
    model = AudioTextEmbedder(read_config(path / CONFIG_FILE))
    try:
        state = load_file(str(path / WEIGHTS_FILE))
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise CheckpointError(f"{path / WEIGHTS_FILE} could not be read ({first_line(exc)}); retrain or re-copy it") from None
    expected = model.state_dict()
    misshaped = [k for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
    if misshaped:
        raise CheckpointError(f"{path / WEIGHTS_FILE} does not match its config ({len(misshaped)} mis-shaped tensors, "
                              f"e.g. {sorted(misshaped)[0]}); retrain or re-copy the embedder")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path / WEIGHTS_FILE} does not match its config (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}); retrain or re-copy the embedder")
    return model.eval()
