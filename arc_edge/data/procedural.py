"""A procedural, captioned sound dataset with known attributes.

Every example is drawn from a small attribute space (waveform, pitch register, pulsing, pan, fade),
rendered as stereo audio, and described by a caption built from varied templates and synonyms.
The analysers in ``analysis.py`` measure the same attributes back from audio, which is what lets
arc-edge train and evaluate prompt adherence without downloadable data or weights.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np

WAVEFORMS = ("sine", "square", "saw", "noise")
PITCHES = ("low", "mid", "high")
PULSES = ("steady", "slow", "fast")
PANS = ("left", "center", "right")
FADES = ("none", "in", "out")

ATTRIBUTES = {"waveform": WAVEFORMS, "pitch": PITCHES, "pulse": PULSES, "pan": PANS, "fade": FADES}

# Frequency ranges (Hz) per register and pulse rates (Hz); the analysers use the same boundaries.
PITCH_RANGES = {"low": (80.0, 160.0), "mid": (220.0, 440.0), "high": (620.0, 1200.0)}
PULSE_RATES = {"steady": 0.0, "slow": 2.0, "fast": 6.0}
PAN_GAINS = {"left": (1.0, 0.15), "center": (0.7, 0.7), "right": (0.15, 1.0)}

_WAVE_WORDS = {
    "sine": ["sine wave", "pure tone", "sine tone", "soft sine", "clean tone"],
    "square": ["square wave", "hollow square tone", "square synth", "chiptune square"],
    "saw": ["sawtooth", "saw wave", "buzzy saw tone", "bright sawtooth synth"],
    "noise": ["white noise", "noise burst", "hiss", "static noise"],
}
_PITCH_WORDS = {"low": ["low", "deep", "low-pitched", "bass"], "mid": ["mid", "medium", "mid-range", "middle"],
                "high": ["high", "high-pitched", "bright high", "treble"]}
_PULSE_WORDS = {"steady": ["held steadily", "sustained", "continuous", "steady"],
                "slow": ["pulsing slowly", "with slow pulses", "throbbing slowly", "slow tremolo"],
                "fast": ["pulsing fast", "with rapid pulses", "fast tremolo", "stuttering quickly"]}
_PAN_WORDS = {"left": ["on the left", "panned left", "in the left channel", "from the left"],
              "center": ["in the center", "centered", "in the middle of the stereo field", "panned center"],
              "right": ["on the right", "panned right", "in the right channel", "from the right"]}
_FADE_WORDS = {"none": ["", "", "at constant volume"],
               "in": ["fading in", "with a fade in", "swelling in", "growing louder"],
               "out": ["fading out", "with a fade out", "dying away", "getting quieter"]}
_TEMPLATES = [
    "a {pitch} {wave} {pulse} {pan} {fade}",
    "{pitch} {wave}, {pulse}, {pan}, {fade}",
    "the sound of a {pitch} {wave} {pan}, {pulse} {fade}",
    "{wave} {pan}, {register} {pulse} {fade}",
    "{fade} {pitch} {wave} {pulse} {pan}",
]


@dataclass(frozen=True)
class SoundSpec:
    waveform: str
    pitch: str
    pulse: str
    pan: str
    fade: str
    frequency: float

    def attributes(self) -> dict[str, str]:
        d = asdict(self)
        d.pop("frequency")
        return d


def random_spec(rng: random.Random, given: dict[str, str] | None = None, frequency: float | None = None) -> SoundSpec:
    """A random sound; attributes in ``given`` (and a ``frequency``) are kept, the rest drawn."""
    choice = {k: (given or {}).get(k) or rng.choice(v) for k, v in ATTRIBUTES.items()}
    lo, hi = PITCH_RANGES[choice["pitch"]]
    freq = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return SoundSpec(frequency=frequency or freq, **choice)


def caption(spec: SoundSpec, rng: random.Random) -> str:
    # Noise has no pitch: its captions never mention one.
    pitch = "" if spec.waveform == "noise" else rng.choice(_PITCH_WORDS[spec.pitch])
    text = rng.choice(_TEMPLATES).format(
        pitch=pitch, wave=rng.choice(_WAVE_WORDS[spec.waveform]), pulse=rng.choice(_PULSE_WORDS[spec.pulse]),
        pan=rng.choice(_PAN_WORDS[spec.pan]), fade=rng.choice(_FADE_WORDS[spec.fade]),
        register=f"{pitch} register," if pitch else "",
    )
    return " ".join(text.replace(" ,", ",").replace(",,", ",").split()).strip(" ,")


def _oscillator(waveform: str, freq: float, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / sr
    phase = (freq * t + rng.uniform()) % 1.0
    if waveform == "sine":
        return np.sin(2 * np.pi * phase)
    if waveform == "square":
        return np.where(phase < 0.5, 1.0, -1.0) * 0.6
    if waveform == "saw":
        return (2.0 * phase - 1.0) * 0.7
    return rng.standard_normal(n) * 0.35


def render(spec: SoundSpec, seconds: float, sample_rate: int, seed: int) -> np.ndarray:
    """-> float32 stereo audio [2, n] in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    mono = _oscillator(spec.waveform, spec.frequency, n, sample_rate, rng)
    rate = PULSE_RATES[spec.pulse]
    if rate > 0:
        mono = mono * (0.5 - 0.5 * np.cos(2 * np.pi * rate * t))
    if spec.fade == "in":
        mono = mono * np.linspace(0.0, 1.0, n)
    elif spec.fade == "out":
        mono = mono * np.linspace(1.0, 0.0, n)
    left, right = PAN_GAINS[spec.pan]
    return (np.stack([mono * left, mono * right]) * 0.8).astype(np.float32)


def caption_corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [caption(random_spec(rng), rng) for _ in range(n)]


# Held-out phrasings: templates and words the training captions never use, for evaluation.
_HELDOUT_TEMPLATES = [
    "please make a {pitch} {wave} that sits {pan}, {pulse}, {fade}",
    "{pan}: {pitch} {wave}, {pulse}; {fade}",
    "I want to hear a {pitch} {wave} {pan} {pulse} {fade}",
]
_HELDOUT_WAVE = {"sine": ["sinusoid", "pure sine"], "square": ["square oscillator", "square-wave beep"],
                 "saw": ["saw oscillator", "sawtooth buzz"], "noise": ["noise", "white-noise wash"]}
_HELDOUT_PITCH = {"low": ["low", "very low"], "mid": ["medium-pitched", "mid"], "high": ["high", "very high"]}
_HELDOUT_PAN = {"left": ["hard left", "on the left side"], "center": ["dead center", "in the middle"],
                "right": ["hard right", "on the right side"]}
_HELDOUT_PULSE = {"steady": ["without pulsing", "held"], "slow": ["slowly pulsing", "pulsing slowly"],
                  "fast": ["quickly pulsing", "with a fast tremolo"]}
_HELDOUT_FADE = {"none": ["at a steady level", "constant"], "in": ["fading in", "slowly fading in"],
                 "out": ["fading out", "fading away"]}


def heldout_caption(spec: SoundSpec, rng: random.Random) -> str:
    pitch = "" if spec.waveform == "noise" else rng.choice(_HELDOUT_PITCH[spec.pitch])
    text = rng.choice(_HELDOUT_TEMPLATES).format(
        pitch=pitch, wave=rng.choice(_HELDOUT_WAVE[spec.waveform]), pan=rng.choice(_HELDOUT_PAN[spec.pan]),
        pulse=rng.choice(_HELDOUT_PULSE[spec.pulse]), fade=rng.choice(_HELDOUT_FADE[spec.fade]))
    return " ".join(text.split())
