"""Windowed VAE decoding: which latent frames each decoder call sees and which audio it keeps.

The Oobleck decoder is convolutional, so a window of latent frames with enough context on each
side (at least the decoder's receptive field) decodes to exactly the audio the whole clip would
give in its middle. The plan is stable-audio-tools' chunked decoding (``decode_audio(chunked=True)``):
windows of ``window`` frames every ``window - overlap`` frames, the last one flush with the end;
each window drops ``overlap // 2`` frames on every side that faces a neighbour, and where the
last window overlaps its neighbour further, the last window's audio is kept (the reference
pastes the windows in order).

A bundle stores its plan in the manifest (the decoder graph is exported for one window size);
every runner reads it from there rather than planning again. The plan also says whether the
decoded audio goes through a DC blocker (``DCBlocker``), which runs window by window as the audio
streams out, the same way in every runner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError

MAX_DC_BLOCKER_HZ = 50.0  # a "DC blocker" cutting higher would take audible bass with it


@dataclass(frozen=True)
class DecodeWindow:
    start: int  # first latent frame fed to the decoder
    keep_begin: int  # first latent frame whose audio this window contributes
    keep_end: int  # one past the last

    def to_json(self) -> list[int]:
        return [self.start, self.keep_begin, self.keep_end]


@dataclass(frozen=True)
class DecodePlan:
    window: int  # latent frames per decoder call
    windows: tuple[DecodeWindow, ...]
    dc_blocker_hz: float = 0.0  # the DC blocker's cutoff (0: none, as in the reference)

    def to_json(self) -> dict:
        return {"window": self.window, "windows": [w.to_json() for w in self.windows],
                "dc_blocker_hz": self.dc_blocker_hz}


class DCBlocker:
    """A first-order high-pass, y[n] = x[n] - x[n-1] + R y[n-1] with R = exp(-2 pi hz / sample_rate),
    run over a clip's pieces in order (its state carries from one to the next, so streaming gives
    the same audio as one call). A decoder can leave an offset a training loss did not see (the
    DiT's latents for a prompt unlike the training captions); at a few Hz the filter takes it out
    and leaves every audible frequency as it was (-0.04 dB at 50 Hz for 5 Hz).

    The clip is taken to have sat at its first ``settle`` samples' mean before it began, so an
    offset present from the start is removed at once instead of decaying as a thump."""

    def __init__(self, hz: float, sample_rate: int, settle: int):
        self.pole = math.exp(-2.0 * math.pi * hz / sample_rate)
        self.settle = settle
        self._state: np.ndarray | None = None

    def __call__(self, piece: torch.Tensor) -> torch.Tensor:
        """piece: [..., n] audio, the clip's next samples; returns the filtered piece (same dtype)."""
        # imported here: every command (--help included) imports this module through the config, and
        # scipy.signal takes most of a second to load
        from scipy.signal import lfilter

        x = piece.detach().double().numpy()
        if self._state is None:
            # lfilter's transposed direct form keeps -x[n-1] + R y[n-1] as its state
            self._state = -x[..., :self.settle].mean(axis=-1, keepdims=True)
        y, self._state = lfilter([1.0, -1.0], [1.0, -self.pole], x, axis=-1, zi=self._state)
        return torch.from_numpy(y).to(piece.dtype)


def plan_windows(length: int, window: int, overlap: int) -> DecodePlan:
    """stable-audio-tools' chunk plan for ``length`` latent frames (one window if it fits)."""
    if window >= length:
        return DecodePlan(length, (DecodeWindow(0, 0, length),))
    if not 0 <= overlap < window:
        raise InputError(f"a decode overlap of {overlap} frames needs 0 <= overlap < window ({window})")
    hop, half = window - overlap, overlap // 2
    starts = list(range(0, length - window + 1, hop))
    if starts[-1] + window != length:
        starts.append(length - window)
    windows = []
    for i, start in enumerate(starts):
        first, last = i == 0, i == len(starts) - 1
        begin = start if first else start + half
        end = start + window if last else start + window - half
        windows.append(DecodeWindow(start, begin, end))
    # the last window is pasted last: it wins wherever it overlaps the one before
    for i in range(len(windows) - 1):
        nxt = windows[i + 1].keep_begin
        if windows[i].keep_end > nxt:
            windows[i] = DecodeWindow(windows[i].start, windows[i].keep_begin, nxt)
    return DecodePlan(window, tuple(windows))


def whole_clip(length: int) -> DecodePlan:
    return DecodePlan(length, (DecodeWindow(0, 0, length),))


END_FADE_SECONDS = 0.01  # a clip cut short of the model's length fades out over its last 10 ms
MIN_SECONDS = END_FADE_SECONDS  # a shorter clip would be all fade (and under 0.5 / sample rate, empty)


def check_duration(seconds: float, max_seconds: float | None = None) -> None:
    """A one-line error about ``--seconds`` unless ``MIN_SECONDS <= seconds <= max_seconds``
    (``max_seconds``: the model's length, where it is known)."""
    top = f"{max_seconds:.2f} s" if max_seconds is not None else "the model's length"
    if not math.isfinite(seconds) or seconds < MIN_SECONDS or (max_seconds is not None and seconds > max_seconds + 1e-9):
        raise InputError(f"--seconds {seconds:g} is out of range; give a duration from {MIN_SECONDS:g} s "
                         f"(the end fade) to {top}")


def end_fade_samples(sample_rate: int) -> int:
    return round(END_FADE_SECONDS * sample_rate)


def end_fade_gains(fade: int) -> torch.Tensor:
    """Raised-cosine gains for the last ``fade`` samples, from just under 1 down to exactly 0 (float32)."""
    k = torch.arange(1, fade + 1, dtype=torch.float64)
    return (0.5 * (1.0 + torch.cos(torch.pi * k / fade))).float()


def decode_in_windows(decode: Callable[[torch.Tensor], torch.Tensor], latent: torch.Tensor, plan: DecodePlan,
                      hop: int, samples: int | None = None, fade: int = 0,
                      sample_rate: int | None = None) -> Iterator[torch.Tensor]:
    """Yield the audio [B, C, n] of each window in order, as soon as it is decoded, up to ``samples``
    samples in all (windows past that are not decoded). ``hop``: audio samples per latent frame.
    The plan's DC blocker (it needs ``sample_rate``) filters each window's audio in turn.
    When ``samples`` cuts the clip short, its last ``fade`` samples fade out (the reference cuts
    hard, which ends the clip on a click); each window's share of the fade is applied before it is
    yielded, so streaming is unaffected."""
    full = latent.shape[-1] * hop
    limit = full if samples is None else samples
    fade = min(fade, limit) if limit < full else 0
    gains = end_fade_gains(fade) if fade else None
    blocker = None
    if plan.dc_blocker_hz > 0:
        if sample_rate is None:
            raise ValueError("this decode plan has a DC blocker: pass the sample rate")
        blocker = DCBlocker(plan.dc_blocker_hz, sample_rate, hop)
    for w in plan.windows:
        if w.keep_begin * hop >= limit:
            return
        audio = decode(latent[..., w.start:w.start + plan.window])
        lo = (w.keep_begin - w.start) * hop
        hi = min((w.keep_end - w.start) * hop, lo + limit - w.keep_begin * hop)
        piece = audio[..., lo:hi]
        if blocker is not None:
            piece = blocker(piece)
        start, fade_start = w.keep_begin * hop, limit - fade
        if gains is not None and start + piece.shape[-1] > fade_start:
            skip = max(fade_start - start, 0)
            piece = piece.clone()
            piece[..., skip:] *= gains[start + skip - fade_start:start + piece.shape[-1] - fade_start]
        yield piece
