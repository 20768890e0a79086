"""A procedural, captioned sound dataset with known attributes.

Every example is drawn from a small attribute space (waveform, pitch register, pulsing, pan, fade),
rendered as stereo audio, and described by a caption built from varied templates and synonyms.
The analysers in ``analysis.py`` measure the same attributes back from audio, which is what lets
arc-edge train and evaluate prompt adherence without downloadable data or weights.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..decoding import end_fade_gains
from ..errors import InputError

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
RELEASE_SECONDS = 0.05  # every rendered sound fades out over its last 50 ms
# A steady, unfaded sine: the plainest sound with a pitch and a pan. A VAE trained on the mixed
# procedural sounds alone keeps either pitch or pan in its latent, not both (see the model card).
STEADY_TONE = {"waveform": "sine", "pulse": "steady", "fade": "none"}

# Caption vocabulary. Synonyms per attribute value; the held-out evaluation phrasings (below) are
# kept out of these lists so that the held-out set measures generalisation.
_WAVE_WORDS = {
    "sine": ["sine wave", "pure tone", "sine tone", "soft sine", "clean tone", "sine", "smooth sine wave",
             "sine oscillator tone", "flute-like tone"],
    "square": ["square wave", "hollow square tone", "square synth", "chiptune square", "square", "square lead",
               "8-bit square tone", "hollow buzzing square"],
    "saw": ["sawtooth", "saw wave", "buzzy saw tone", "bright sawtooth synth", "saw", "sawtooth wave", "saw lead",
            "ramp wave", "raspy sawtooth"],
    "noise": ["white noise", "noise burst", "hiss", "static noise", "static", "hissing noise", "broadband noise",
              "radio static"],
}
_PITCH_WORDS = {"low": ["low", "deep", "low-pitched", "bass", "low register", "rumbling low", "bassy"],
                "mid": ["mid", "medium", "mid-range", "middle", "midrange", "mid-pitched", "medium pitch"],
                "high": ["high", "high-pitched", "bright high", "treble", "shrill", "piercing high", "high register"]}
_PULSE_WORDS = {"steady": ["held steadily", "sustained", "continuous", "steady", "no pulsing", "steady, no pulsing",
                           "not pulsing", "with no tremolo", "unmodulated", "constant, no wobble"],
                "slow": ["pulsing slowly", "with slow pulses", "throbbing slowly", "slow tremolo", "slow pulsing",
                         "a slow wobble", "gently pulsing", "pulses twice a second"],
                "fast": ["pulsing fast", "with rapid pulses", "fast tremolo", "stuttering quickly", "fast pulsing",
                         "rapid tremolo", "fluttering fast", "rapidly pulsing"]}
_PAN_WORDS = {"left": ["on the left", "panned left", "in the left channel", "from the left", "left", "to the left",
                       "left speaker", "panned to the left side"],
              "center": ["in the center", "centered", "in the middle of the stereo field", "panned center", "center",
                         "centred", "mono, centered", "in both speakers equally"],
              "right": ["on the right", "panned right", "in the right channel", "from the right", "right",
                        "to the right", "right speaker", "panned to the right side"]}
_FADE_WORDS = {"none": ["", "", "", "at constant volume", "no fade", "without fading", "not fading",
                        "even volume", "level volume throughout"],
               "in": ["fading in", "with a fade in", "swelling in", "growing louder", "fades in", "fade-in",
                      "getting louder", "rising from silence"],
               "out": ["fading out", "with a fade out", "dying away", "getting quieter", "fades out", "fade-out",
                       "decaying to silence", "trailing off"]}
# Words that say nothing about the sound: the encoder must learn to ignore them.
_PREFIXES = ["", "", "", "", "a sound of", "please generate", "make me", "I need", "generate", "create",
             "sound effect:", "sample:", "can you make"]
_SUFFIXES = ["", "", "", "", "for a game", "for my video", "as a short loop", "in high quality", "please",
             "for a podcast intro", "recorded cleanly", "thanks", "for an alarm"]
_JOINERS = [", ", ", ", " ", " and ", "; ", " - "]


def _frequency_words(frequency: float, rng: random.Random) -> str:
    hz = int(round(frequency))
    return rng.choice([f"{hz} Hz", f"at {hz} Hz", f"{hz}Hz", f"around {hz} Hz"])


def _recase(text: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return text
    if roll < 0.8:
        return text[:1].upper() + text[1:]
    if roll < 0.9:
        return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
    if roll < 0.95:
        return text.upper()
    words = text.split(" ")
    i = rng.randrange(len(words))
    return " ".join(w.upper() if j == i else w for j, w in enumerate(words))


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


def on_frame_grid(spec: SoundSpec, frame_rate: float) -> SoundSpec:
    """``spec`` with its frequency moved to the nearest multiple k of the latent frame rate
    (sample rate / VAE hop) inside its register. Such a tone repeats exactly once per latent frame,
    so its latent is the same in every frame; started at phase 0 (``render(..., frame_locked=True)``),
    every example of that frequency has the same frames. k is never a multiple of 4: a saw there has
    a partial on a multiple of sample rate / 8, where the signal-health check looks for the
    upsampler's whine."""
    steps = _grid_steps(spec.pitch, frame_rate)
    if not steps:
        raise ValueError(f"no frequency on a {frame_rate:g} Hz frame grid lies in the {spec.pitch} register")
    k = min(steps, key=lambda k: abs(math.log(k * frame_rate / spec.frequency)))
    return replace(spec, frequency=k * frame_rate)


def _grid_steps(pitch: str, frame_rate: float) -> list[int]:
    lo, hi = PITCH_RANGES[pitch]
    return [k for k in range(math.ceil(lo / frame_rate), math.floor(hi / frame_rate) + 1) if k % 4]


def check_frame_grid(frame_rate: float) -> None:
    """Refuse a frame rate (sample rate / VAE hop) with no usable grid frequency in some register."""
    empty = [pitch for pitch in PITCHES if not _grid_steps(pitch, frame_rate)]
    if empty:
        raise InputError(f"frame-locked tones need a multiple of this model's latent frame rate ({frame_rate:g} Hz) "
                         f"inside every pitch register, and the {', '.join(empty)} register has none; "
                         "use the usual procedural data (--data procedural, no --frame-locked)")


def caption(spec: SoundSpec, rng: random.Random) -> str:
    """A varied caption of ``spec``: synonyms (pitch sometimes in Hz), attribute phrases in any
    order, negations ("steady, no pulsing", "a sine, not a saw"), words that say nothing about the
    sound, and random case and punctuation."""
    wave = rng.choice(_WAVE_WORDS[spec.waveform])
    if spec.waveform == "noise":  # noise has no pitch: its captions never mention one
        noun = wave
    elif rng.random() < 0.2:
        noun = f"{wave} {_frequency_words(spec.frequency, rng)}" if rng.random() < 0.5 else \
            f"{_frequency_words(spec.frequency, rng).removeprefix('at ').removeprefix('around ')} {wave}"
    else:
        pitch = rng.choice(_PITCH_WORDS[spec.pitch])
        noun = f"{pitch} {wave}" if rng.random() < 0.8 else f"{wave}, {pitch}"
    if rng.random() < 0.15:
        other = rng.choice([w for w in WAVEFORMS if w != spec.waveform])
        noun += f", not a {rng.choice(_WAVE_WORDS[other])}"
    noun = (rng.choice(["a ", "a ", "the sound of a ", "", ""]) + noun).strip()
    phrases = [rng.choice(_PULSE_WORDS[spec.pulse]), rng.choice(_PAN_WORDS[spec.pan]),
               rng.choice(_FADE_WORDS[spec.fade])]
    rng.shuffle(phrases)
    # the sound itself usually comes first, as people write it, but not always
    parts = [noun] + phrases if rng.random() < 0.75 else phrases + [noun]
    joiner = rng.choice(_JOINERS)
    text = joiner.join(p for p in parts if p)
    text = " ".join(x for x in (rng.choice(_PREFIXES), text, rng.choice(_SUFFIXES)) if x)
    text = _recase(" ".join(text.split()), rng)
    return text + rng.choice(["", "", "", ".", "!"])


# Everyday words that say nothing about a sound, for `with_irrelevant_words`. Kept apart from the caption
# vocabulary, from the held-out phrasings and from the words a sound could be described by (loud, warm, ...).
_IRRELEVANT_WORDS = (
    "actually", "ad", "again", "almost", "already", "also", "always", "anyway", "app", "as", "because",
    "before", "best", "better", "bit", "both", "but", "button", "by", "can", "clip", "coffee", "could", "demo",
    "did", "do", "does", "done", "each", "else", "enough", "evening", "ever", "every", "exactly", "example",
    "file", "fine", "first", "for", "friend", "game", "garden", "get", "give", "go", "good", "got", "great",
    "guess", "had", "has", "have", "here", "hey", "hmm", "how", "idea", "if", "into", "intro", "is", "it",
    "its", "itself", "keep", "kitchen", "know", "later", "let", "lot", "me", "menu", "mine", "moment", "more",
    "morning", "most", "movie", "much", "my", "need", "new", "next", "nice", "now", "office", "ok", "okay",
    "one", "only", "or", "other", "our", "outro", "over", "own", "paper", "phone", "piece", "plan", "podcast",
    "pretty", "probably", "project", "rather", "same", "scene", "screen", "see", "seems", "should", "simply",
    "so", "some", "song", "soon", "story", "such", "sure", "team", "test", "than", "thanks", "then", "there",
    "these", "thing", "things", "think", "this", "those", "though", "thought", "thus", "today", "together",
    "tonight", "too", "track", "trailer", "try", "um", "us", "use", "used", "usually", "version", "video",
    "was", "way", "we", "weekend", "well", "were", "what", "when", "where", "while", "who", "why", "will",
    "window", "wish", "within", "yeah", "yes", "yet", "you", "your", "yours",
)


def with_irrelevant_words(text: str, rng: random.Random, count: int | None = None,
                          vocabulary: tuple[str, ...] = _IRRELEVANT_WORDS) -> str:
    """``text`` with ``count`` (default: 1 to 3) everyday words of ``vocabulary`` put between its words at
    random: real prompts carry words the captions never use, and an encoder that has only seen its templates
    reads them as noise on every attribute (three such words cost the step 8 model 10 points on training-style
    prompts)."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 3) if count is None else count):
        word = rng.choice(vocabulary)
        words.insert(rng.randrange(len(words) + 1), word.upper() if text.isupper() else word)
    return " ".join(words)


# Words a prompt in the default model's domain uses: every word of the caption vocabulary that names
# a sound or an attribute, and common ones people use for the same things.
_FILLER = {"a", "an", "the", "of", "in", "on", "to", "from", "with", "no", "not", "at", "and", "sound", "field",
           "stereo", "channel", "speaker", "side", "volume", "twice", "second", "both", "equally", "getting",
           "growing", "even", "away", "held", "gently", "dying", "rising", "trailing", "off", "throughout", "like"}
DOMAIN_WORDS = frozenset(
    w for table in (_WAVE_WORDS, _PITCH_WORDS, _PULSE_WORDS, _PAN_WORDS, _FADE_WORDS)
    for phrases in table.values() for phrase in phrases for w in phrase.replace(",", " ").split()
    if w not in _FILLER) | {"beep", "hum", "drone", "buzz", "sawtooth", "hz", "khz", "pitch", "pitched", "centre",
                            "tremolo", "pulse", "pulses", "fade", "fades"}
# The words that name a pitch register, a frequency's unit or a stereo side ("deep", "treble", "hz",
# "left", "centred"): training's word dropout (training.batches.drop_words) never leaves them out.
REGISTER_AND_SIDE_WORDS = frozenset(
    w.strip(",") for table in (_PITCH_WORDS, _PAN_WORDS) for phrases in table.values() for phrase in phrases
    for w in phrase.split() if w.strip(",") not in _FILLER | {"panned"}) | {"hz"}  # "900 Hz" (_frequency_words)


def in_domain(prompt: str) -> bool:
    """Whether ``prompt`` names any sound or attribute the procedural captions describe."""
    words = "".join(c if c.isalnum() else " " for c in prompt.lower()).split()
    return any(w in DOMAIN_WORDS or w.rstrip("s") in DOMAIN_WORDS or w.endswith("hz") for w in words)


WAVETABLE_SIZE = 1 << 15  # samples per cycle: linear interpolation then errs under -70 dB for any partial


def _band_limited_cycle(waveform: str, freq: float, sr: int) -> np.ndarray:
    """One cycle of a square (0.6) or saw (0.7, rising) of the same shape as the ideal one, with only
    the partials below Nyquist (the ideal one's partials above it would fold back as inharmonic
    tones): ``WAVETABLE_SIZE`` + 1 samples, the last the first again, to read with linear interpolation."""
    partials = np.zeros(WAVETABLE_SIZE // 2 + 1, dtype=np.complex128)
    n = np.arange(1, min(int((sr / 2) / freq), WAVETABLE_SIZE // 2 - 1) + 1)
    if waveform == "square":
        n = n[n % 2 == 1]
        amplitude = 0.6 * 4 / (np.pi * n)
    else:
        amplitude = -0.7 * 2 / (np.pi * n)  # 2 phase - 1 = -(2 / pi) sum sin(2 pi n phase) / n
    # irfft of -i * A * N / 2 at bin n gives A * sin(2 pi n phase)
    partials[n] = -0.5j * amplitude * WAVETABLE_SIZE
    cycle = np.fft.irfft(partials, WAVETABLE_SIZE)
    return np.append(cycle, cycle[0])


def _oscillator(waveform: str, freq: float, n: int, sr: int, rng: np.random.Generator,
                start_phase: float | None = None) -> np.ndarray:
    drawn = rng.uniform()  # drawn either way: a locked phase leaves the noise of a seed as it was
    # freq * n / sr in this order: exact for a frequency on the frame grid (a dyadic multiple of sr /
    # hop), so a frame-locked square or saw jumps at the same samples in every frame
    phase = (freq * np.arange(n) / sr + (drawn if start_phase is None else start_phase)) % 1.0
    if waveform == "sine":
        return np.sin(2 * np.pi * phase)
    if waveform in ("square", "saw"):
        cycle = _band_limited_cycle(waveform, freq, sr)
        return np.interp(phase * WAVETABLE_SIZE, np.arange(WAVETABLE_SIZE + 1), cycle)
    return np.clip(rng.standard_normal(n), -3.5, 3.5) * 0.3  # peaks bounded: the mix never clips


def render(spec: SoundSpec, seconds: float, sample_rate: int, seed: int, frame_locked: bool = False) -> np.ndarray:
    """-> float32 stereo audio [2, n] in [-1, 1]. ``frame_locked`` starts every tone at phase 0
    (with ``on_frame_grid``: the same waveform in every latent frame and every example)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    mono = _oscillator(spec.waveform, spec.frequency, n, sample_rate, rng, 0.0 if frame_locked else None)
    rate = PULSE_RATES[spec.pulse]
    if rate > 0:
        mono = mono * (0.5 - 0.5 * np.cos(2 * np.pi * rate * t))
    if spec.fade == "in":
        mono = mono * np.linspace(0.0, 1.0, n)
    elif spec.fade == "out":
        mono = mono * np.linspace(1.0, 0.0, n)
    release = min(int(RELEASE_SECONDS * sample_rate), n)
    if release:  # sounds end in silence, as one-shots do, not on a click where the clip is cut
        mono[n - release:] *= end_fade_gains(release).numpy()
    left, right = PAN_GAINS[spec.pan]
    return (np.stack([mono * left, mono * right]) * 0.8).astype(np.float32)


# ARC's edited negatives get everyday words as often as the default recipe's captions do ([rf]
# irrelevant_word_share), so that such words tell the discriminator nothing about which caption is whose
EDITED_IRRELEVANT_SHARE = 0.5


def edited_spec(spec: SoundSpec, attributes: tuple[str, ...], rng: random.Random) -> SoundSpec:
    """``spec`` with one of ``attributes`` (drawn) set to another of its values, the rest kept (a new
    register gets a frequency in it). Noise has no pitch to change, so its pitch is never drawn."""
    choices = [a for a in attributes if not (a == "pitch" and spec.waveform == "noise")]
    changed = rng.choice(choices)
    values = {**spec.attributes(), changed: rng.choice([v for v in ATTRIBUTES[changed] if v != getattr(spec, changed)])}
    lo, hi = PITCH_RANGES[values["pitch"]]
    frequency = spec.frequency if values["pitch"] == spec.pitch else float(rng.uniform(lo, hi))
    return SoundSpec(frequency=frequency, **values)


def edited_caption(spec: SoundSpec, attributes: tuple[str, ...], rng: random.Random) -> str:
    """A caption of ``spec`` with one of ``attributes`` changed (``edited_spec``): a prompt that is wrong
    about that attribute alone, for ARC's contrastive term (``ARCOptions.edited_negatives``)."""
    text = caption(edited_spec(spec, attributes, rng), rng)
    return with_irrelevant_words(text, rng) if rng.random() < EDITED_IRRELEVANT_SHARE else text


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
# Everyday words for `arc-edge eval --extra-words`, kept out of the training captions' `_IRRELEVANT_WORDS`
# so that the probe measures words a model has never seen.
PROBE_WORDS = ("basically", "honestly", "just", "kind", "lovely", "perhaps", "quite", "really", "something", "sort",
               "that", "totally", "which", "would")


def heldout_caption(spec: SoundSpec, rng: random.Random) -> str:
    pitch = "" if spec.waveform == "noise" else rng.choice(_HELDOUT_PITCH[spec.pitch])
    text = rng.choice(_HELDOUT_TEMPLATES).format(
        pitch=pitch, wave=rng.choice(_HELDOUT_WAVE[spec.waveform]), pan=rng.choice(_HELDOUT_PAN[spec.pan]),
        pulse=rng.choice(_HELDOUT_PULSE[spec.pulse]), fade=rng.choice(_HELDOUT_FADE[spec.fade]))
    return " ".join(text.split())
