"""Training datasets: procedural (generated on the fly), a manifest of audio files, and a latent cache."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset

from ..audio_io import read_audio
from ..errors import InputError, first_line
from ..schema import Fields, number_item, read_json, read_text, str_item
from .procedural import (
    ATTRIBUTES,
    STEADY_TONE,
    SoundSpec,
    caption,
    check_frame_grid,
    on_frame_grid,
    random_spec,
    render,
    with_irrelevant_words,
)


class _CaptionedDataset(Dataset):
    """A dataset whose examples carry one or more captions; the first is the example's caption."""

    def captions(self, index: int) -> list[str]:
        raise NotImplementedError

    def caption(self, index: int) -> str:
        return self.captions(index)[0]

    def has_specs(self) -> bool:
        """Whether each example carries the ``SoundSpec`` it renders (``spec``), which ARC's edited
        negatives are made from."""
        return False


class ProceduralDataset(_CaptionedDataset):
    """Index i always yields the same example (seeded), so every rank/epoch agrees on what it saw.
    ``caption_variants`` > 1 gives each example that many differently worded captions of one sound
    (``captions``); latent caches keep them all and each training draw picks one.
    ``steady_tone_share`` of the examples are steady, unfaded sines (any pitch and pan).
    ``irrelevant_word_share`` of the captions get a few everyday words at random places (``with_irrelevant_words``).
    With a ``frame_rate`` (sample rate / VAE hop), every tone is frame-locked: its frequency on that
    grid (``on_frame_grid``) and its phase 0, so every latent frame of a tone holds the same waveform."""

    def __init__(self, size: int, samples: int, sample_rate: int, seed: int = 0, caption_variants: int = 1,
                 steady_tone_share: float = 0.0, frame_rate: float | None = None, irrelevant_word_share: float = 0.0):
        for name, share in (("steady_tone_share", steady_tone_share), ("irrelevant_word_share", irrelevant_word_share)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {share}")
        self.size, self.samples, self.sample_rate, self.seed = size, samples, sample_rate, seed
        self.caption_variants, self.steady_tone_share, self.frame_rate = caption_variants, steady_tone_share, frame_rate
        self.irrelevant_word_share = irrelevant_word_share
        if frame_rate:
            check_frame_grid(frame_rate)

    def __len__(self) -> int:
        return self.size

    def example(self, index: int) -> tuple[SoundSpec, list[str]]:
        example_seed = self.seed * 1_000_003 + index
        rng = random.Random(example_seed)
        # no draw without steady tones: the examples of existing recipes stay what they were
        steady = self.steady_tone_share > 0 and rng.random() < self.steady_tone_share
        spec = random_spec(rng, STEADY_TONE if steady else None)
        if self.frame_rate:  # before the captions: those that give the pitch in Hz name the tone played
            spec = on_frame_grid(spec, self.frame_rate)
        texts = [caption(spec, rng) for _ in range(self.caption_variants)]
        if self.irrelevant_word_share > 0:  # a stream of its own: without it the examples stay what they were
            words_rng = random.Random(example_seed + (1 << 40))
            texts = [with_irrelevant_words(t, words_rng) if words_rng.random() < self.irrelevant_word_share else t
                     for t in texts]
        return spec, texts

    def captions(self, index: int) -> list[str]:
        return self.example(index)[1]

    def has_specs(self) -> bool:
        return True

    def __getitem__(self, index: int) -> dict:
        spec, texts = self.example(index)
        audio = render(spec, self.samples / self.sample_rate, self.sample_rate, seed=self.seed * 7919 + index,
                       frame_locked=bool(self.frame_rate))
        return {"audio": torch.from_numpy(audio), "caption": texts[0], "captions": texts,
                "seconds": self.samples / self.sample_rate, "spec": spec}


def _manifest_row(row: object, where: str) -> dict:
    """One manifest entry: path and caption (non-empty strings), optional seconds (a finite number > 0)."""
    if not isinstance(row, dict):
        raise InputError(f"{where} must be an object with path and caption")
    for key in ("path", "caption"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise InputError(f"{where} needs '{key}' as a non-empty string")
    seconds = row.get("seconds")
    if seconds not in (None, ""):
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds <= 0:
            raise InputError(f"{where}: seconds must be a finite number above 0, got {row.get('seconds')!r}")
    return {"path": row["path"], "caption": row["caption"], "seconds": seconds or None}


def _read_manifest(path: Path) -> list[dict]:
    if path.suffix not in (".jsonl", ".csv"):
        raise InputError(f"{path}: a manifest is a .jsonl or .csv file with path, caption[, seconds]")
    text = read_text(path, "training manifest", InputError, max_bytes=256 << 20)
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line, parse_constant=lambda c: math.nan)
                except ValueError as exc:
                    raise InputError(f"{path} line {n} is not valid JSON ({first_line(exc)})") from None
                rows.append(_manifest_row(row, f"{path} line {n}"))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or not {"path", "caption"} <= set(reader.fieldnames):
            raise InputError(f"{path}: the CSV header must name path and caption (and optionally seconds)")
        rows = [_manifest_row(row, f"{path} row {n}") for n, row in enumerate(reader, 2)]
    if not rows:
        raise InputError(f"{path} lists no audio files")
    return rows


class ManifestDataset(_CaptionedDataset):
    """Audio files listed in a manifest; unreadable files are skipped and counted, never fatal."""

    def __init__(self, manifest: Path, samples: int, sample_rate: int, channels: int, seed: int = 0):
        self.manifest = Path(manifest)
        self.rows = _read_manifest(self.manifest)
        self.samples, self.sample_rate, self.channels, self.seed = samples, sample_rate, channels, seed
        self.skipped: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    def captions(self, index: int) -> list[str]:
        return [self.rows[index]["caption"]]

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
        seconds = row["seconds"] or min(n, self.samples) / self.sample_rate
        return {"audio": torch.from_numpy(np.ascontiguousarray(audio)), "caption": row["caption"], "seconds": seconds}


class LatentDataset(_CaptionedDataset):
    """Latents pre-encoded once by the VAE (``arc-edge train encode``), for fast DiT training."""

    def __init__(self, cache_dir: Path, cfg=None):
        cache_dir = Path(cache_dir)
        if not (cache_dir / "latents.safetensors").is_file():
            raise InputError(f"{cache_dir} is not a latent cache (no latents.safetensors); make one with `arc-edge "
                             "train encode`")
        try:
            latents = load_file(str(cache_dir / "latents.safetensors")).get("latents")
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise InputError(f"{cache_dir / 'latents.safetensors'} could not be read ({first_line(exc)})") from None
        expected = "[N, latent_dim, frames]" if cfg is None else f"[N, {cfg.latent_dim}, {cfg.latent_length}]"
        if (latents is None or latents.dim() != 3 or not latents.is_floating_point() or latents.shape[0] == 0
                or (cfg is not None and tuple(latents.shape[1:]) != (cfg.latent_dim, cfg.latent_length))):
            raise InputError(f"{cache_dir} holds no float latents of shape {expected} for this model; re-encode it")
        if not torch.isfinite(latents).all():
            raise InputError(f"{cache_dir} holds NaN or infinite latents; re-encode it")
        meta = Fields(read_json(cache_dir / "captions.json", "latent cache index", InputError),
                      str(cache_dir / "captions.json"), error=InputError)
        first = meta.items("captions", str_item(meta.where, InputError))
        self.seconds = meta.items("seconds", number_item(meta.where, InputError))
        if not len(first) == len(self.seconds) == latents.shape[0]:
            raise InputError(f"{cache_dir}: {latents.shape[0]} latents but {len(first)} captions and "
                             f"{len(self.seconds)} durations; re-encode it")
        self.variants = _caption_variants(meta.raw("variants", None), first, str(cache_dir / "captions.json"))
        self.specs = _cached_specs(meta.raw("specs", None), len(first), str(cache_dir / "captions.json"))
        self.latents = latents

    def __len__(self) -> int:
        return self.latents.shape[0]

    def captions(self, index: int) -> list[str]:
        return self.variants[index]

    def has_specs(self) -> bool:
        return self.specs is not None

    def __getitem__(self, index: int) -> dict:
        texts = self.variants[index]
        item = {"latent": self.latents[index], "caption": texts[0], "captions": texts, "seconds": self.seconds[index]}
        if self.specs is not None:
            item["spec"] = self.specs[index]
        return item


def _cached_specs(specs: object, count: int, where: str) -> list[SoundSpec] | None:
    """A cache's optional per-latent sound descriptions (a cache of procedural data has them)."""
    if specs is None:
        return None
    fields = set(ATTRIBUTES) | {"frequency"}

    def valid(spec: object) -> bool:
        return (isinstance(spec, dict) and set(spec) == fields
                and all(spec[k] in values for k, values in ATTRIBUTES.items())
                and isinstance(spec["frequency"], int | float) and not isinstance(spec["frequency"], bool)
                and math.isfinite(spec["frequency"]) and spec["frequency"] > 0)

    if not isinstance(specs, list) or len(specs) != count or not all(valid(s) for s in specs):
        raise InputError(f"{where}: 'specs' must hold, per latent, the sound's {', '.join(sorted(fields))}; "
                         "re-encode the cache")
    return [SoundSpec(**s) for s in specs]


def _caption_variants(variants: object, first: list[str], where: str) -> list[list[str]]:
    """A cache's optional per-example caption lists (each starting with its ``captions`` entry)."""
    if variants is None:
        return [[c] for c in first]
    if (not isinstance(variants, list) or len(variants) != len(first)
            or not all(isinstance(v, list) and v and v[0] == c and all(isinstance(t, str) and t.strip() for t in v)
                       for v, c in zip(variants, first, strict=True))):
        raise InputError(f"{where}: 'variants' must hold, per latent, a list of non-empty captions starting with "
                         "its 'captions' entry; re-encode the cache")
    return variants
