"""Training datasets: procedural (generated on the fly), a manifest of audio files, and a latent cache."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from ..audio_io import read_audio
from ..errors import InputError
from .procedural import SoundSpec, caption, random_spec, render


class ProceduralDataset(Dataset):
    """Index i always yields the same example (seeded), so every rank/epoch agrees on what it saw."""

    def __init__(self, size: int, samples: int, sample_rate: int, seed: int = 0):
        self.size, self.samples, self.sample_rate, self.seed = size, samples, sample_rate, seed

    def __len__(self) -> int:
        return self.size

    def example(self, index: int) -> tuple[SoundSpec, str]:
        rng = random.Random(self.seed * 1_000_003 + index)
        spec = random_spec(rng)
        return spec, caption(spec, rng)

    def caption(self, index: int) -> str:
        return self.example(index)[1]

    def __getitem__(self, index: int) -> dict:
        spec, text = self.example(index)
        audio = render(spec, self.samples / self.sample_rate, self.sample_rate, seed=self.seed * 7919 + index)
        return {"audio": torch.from_numpy(audio), "caption": text, "seconds": self.samples / self.sample_rate}


def _read_manifest(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(f"no manifest at {path}; give a .jsonl or .csv with columns path, caption[, seconds]")
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    elif path.suffix == ".csv":
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise InputError(f"{path}: manifests must be .jsonl or .csv")
    for i, row in enumerate(rows):
        if "path" not in row or "caption" not in row:
            raise InputError(f"{path} row {i + 1} lacks 'path' or 'caption'")
    return rows


class ManifestDataset(Dataset):
    """Audio files listed in a manifest; unreadable files are skipped and counted, never fatal."""

    def __init__(self, manifest: Path, samples: int, sample_rate: int, channels: int, seed: int = 0):
        self.manifest = Path(manifest)
        self.rows = _read_manifest(self.manifest)
        self.samples, self.sample_rate, self.channels, self.seed = samples, sample_rate, channels, seed
        self.skipped: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    def caption(self, index: int) -> str:
        return self.rows[index]["caption"]

    def _load(self, index: int) -> np.ndarray | None:
        row = self.rows[index]
        path = Path(row["path"])
        path = path if path.is_absolute() else self.manifest.parent / path
        try:
            return read_audio(path, self.sample_rate, self.channels)
        except InputError:
            self.skipped.add(index)
            return None

    def __getitem__(self, index: int) -> dict:
        for attempt in range(len(self.rows)):
            i = (index + attempt) % len(self.rows)
            audio = self._load(i)
            if audio is not None and audio.shape[1] > 0:
                break
        else:
            raise InputError(f"no readable audio in {self.manifest}")
        rng = random.Random(self.seed * 1_000_003 + index)
        n = audio.shape[1]
        if n > self.samples:  # random crop
            start = rng.randrange(n - self.samples + 1)
            audio = audio[:, start:start + self.samples]
        else:
            audio = np.pad(audio, ((0, 0), (0, self.samples - n)))
        row = self.rows[i]
        seconds = float(row.get("seconds") or min(n, self.samples) / self.sample_rate)
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio)), "caption": row["caption"], "seconds": seconds}


class LatentDataset(Dataset):
    """Latents pre-encoded once by the VAE (``arc-edge train encode``), for fast DiT training."""

    def __init__(self, cache_dir: Path):
        cache_dir = Path(cache_dir)
        if not (cache_dir / "latents.safetensors").is_file():
            raise InputError(f"{cache_dir} is not a latent cache (no latents.safetensors)")
        self.latents = load_file(str(cache_dir / "latents.safetensors"))["latents"]
        meta = json.loads((cache_dir / "captions.json").read_text())
        self.captions, self.seconds = meta["captions"], meta["seconds"]

    def __len__(self) -> int:
        return self.latents.shape[0]

    def caption(self, index: int) -> str:
        return self.captions[index]

    def __getitem__(self, index: int) -> dict:
        return {"latent": self.latents[index], "caption": self.captions[index], "seconds": self.seconds[index]}
