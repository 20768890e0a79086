"""WAV reading/writing: atomic writes, channel and rate conversion for init audio."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from .errors import InputError, first_line
from .fileio import atomic_file, check_writable_target


def check_wav_target(path: Path, force: bool, flag: str = "--out") -> None:
    """Before any work: the file a WAV goes to must be writable and named .wav (a WAV under another
    name, such as .mp3, is not what the name says)."""
    path = Path(path)
    check_writable_target(path, force)
    if not path.name.lower().endswith(".wav"):
        raise InputError(f"{flag} {path}: the audio is written as WAV; give a file name ending in .wav, "
                         f"e.g. {path.with_suffix('.wav')}")


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> float:
    """audio [channels, samples] float; appears at ``path`` only when complete. Returns the gain
    applied: 1.0, or under 1 for a clip whose peak is over full scale. Such a clip is turned down as
    a whole rather than clipped: clipping flattens every peak into a buzz, one gain only makes the
    sound quieter. The native runner and the app apply the same rule in float32 and write the same
    bytes."""
    data = np.asarray(audio, dtype=np.float32)
    peak = np.float32(np.max(np.abs(data))) if data.size else np.float32(0.0)
    if peak > 1.0:  # x / peak, not x * (1 / peak): the peak lands on exactly 1, in every writer
        data = data / peak
    data = np.clip(data, -1.0, 1.0).T
    if subtype == "PCM_16":  # round x * 32767 ourselves: the native runner and the app do the same
        data = np.rint(data * np.float32(32767.0)).astype(np.int16)
    with atomic_file(Path(path), suffix=".wav") as tmp:
        sf.write(str(tmp), data, sample_rate, subtype=subtype, format="WAV")
    return float(1.0 / peak) if peak > 1.0 else 1.0


def read_audio(path: Path, sample_rate: int, channels: int) -> np.ndarray:
    """-> float32 [channels, samples] at ``sample_rate`` (mono is duplicated; resampled if needed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no audio file at {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for files it cannot read
        raise InputError(f"{path} is not a readable audio file ({first_line(exc)}); use WAV or FLAC") from None
    audio = data.T
    if audio.shape[1] == 0:
        raise InputError(f"{path} holds no samples; give an audio file with sound in it")
    if not np.all(np.isfinite(audio)):
        raise InputError(f"{path} contains NaN or infinite samples; give a clean audio file")
    if audio.shape[0] == 1 and channels > 1:
        audio = np.repeat(audio, channels, axis=0)
    elif audio.shape[0] > channels:  # stable-audio-tools keeps the first channels
        audio = audio[:channels]
    elif audio.shape[0] != channels:
        raise InputError(f"{path} has {audio.shape[0]} channels; the model needs {channels} (or mono)")
    if sr != sample_rate:
        g = gcd(sr, sample_rate)
        audio = resample_poly(audio, sample_rate // g, sr // g, axis=1).astype(np.float32)
    return audio


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Crop or zero-pad [channels, n] to exactly ``samples``."""
    if audio.shape[1] >= samples:
        return audio[:, :samples]
    return np.pad(audio, ((0, 0), (0, samples - audio.shape[1])))
