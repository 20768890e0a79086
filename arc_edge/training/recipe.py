"""Training recipes: TOML files with one table per stage; every field has a documented default.

A stage's table may go on in phases (``[[vae.then]]``: an array of tables under the stage's): each
phase continues the same run (its optimiser and step count) to its own ``steps``, with the options
it names changed and the rest as the phase before left them. ``train default`` runs them in order.

Every option is typed and bounded: a recipe value or a ``--set KEY=VALUE`` of the wrong type, a NaN,
an infinity or a value outside its range is a one-line error naming the option, before the run
directory exists.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from ..errors import ConfigError
from ..schema import read_text
from .losses import GAN_LOSSES


def opt(default: Any, low: float | None = None, high: float | None = None, choices: tuple | None = None,
        low_open: bool = False, length: int | None = None):
    """A recipe option: its default and what values it accepts."""
    meta = {"low": low, "high": high, "choices": choices, "low_open": low_open, "length": length}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CommonOptions:
    steps: int = opt(1000, low=1)
    batch_size: int = opt(8, low=1)
    lr: float = opt(3e-4, low=0.0, low_open=True)
    weight_decay: float = opt(0.0, low=0.0)
    save_every: int = opt(200, low=1)
    sample_every: int = opt(500, low=0)  # 0: no samples
    log_every: int = opt(10, low=1)
    seed: int = opt(0, low=0)
    dataset_size: int = opt(20000, low=1)  # procedural examples


@dataclass
class CaptionOptions(CommonOptions):
    # differently worded captions per procedural example (`train encode` caches them all; RF and ARC
    # draw one per use), so the text encoder learns meaning rather than one caption per sound; the
    # decoder stage's pool of generations draws one per latent, so it holds what the DiT makes of each
    caption_variants: int = opt(1, low=1, high=64)
    # the share of procedural captions with a few everyday words put in at random places, so that words the
    # captions never use do not scramble how the text encoder reads the ones they do
    irrelevant_word_share: float = opt(0.0, low=0.0, high=1.0)


@dataclass
class VAEOptions(CaptionOptions):
    crop: int = opt(32768, low=2048)  # samples per training crop
    # share of crops that end at the clip's end: uniform starts leave the release of every sound (its
    # last 50 ms) out of training, and a decoder trained so keeps a clip's last frame loud (an end click)
    end_crop_share: float = opt(0.0, low=0.0, high=1.0)
    # crops start on the latent frame grid (multiples of the VAE hop), as the clips whose latents the DiT
    # learns and generates do: off it, every tone's latent also carries its phase against the frames,
    # which the decoder must learn to render although generation never asks for it
    crop_on_frames: bool = opt(False)
    kl_weight: float = opt(1e-4, low=0.0)
    ffts: list[int] = opt([2048, 512, 128], low=16, high=65536)
    stft_weight: float = opt(1.0, low=0.0)  # multi-resolution STFT loss (spectral convergence + log magnitude)
    mid_side_weight: float = opt(1.0, low=0.0)  # spectral convergence on L+R and L-R as well
    mid_side_from_step: int = opt(0, low=0)  # switch the mid/side term on here (a per-channel-only warm-up before)
    log_floor: float = opt(1e-5, low=0.0, low_open=True)  # STFT magnitude floor of the log-magnitude term
    # the mel term's floor, as an STFT magnitude per bin (losses.log_mel_loss); 0: the old additive 1e-5
    mel_log_floor: float = opt(0.0, low=0.0)
    envelope_weight: float = opt(0.0, low=0.0)  # log-RMS envelope L1 (loudness, pan, pulsing, fades)
    mel_weight: float = opt(0.0, low=0.0)  # log-mel L1 (64 bands, n_fft 2048)
    balance_weight: float = opt(0.0, low=0.0)  # L1 of the per-frame left/right level ratio (the stereo image)
    waveform_weight: float = opt(0.0, low=0.0)  # waveform L1, raw and average-pooled (phase, low end, DC)
    dc_weight: float = opt(0.0, low=0.0)  # L1 of the per-channel mean (DC offset)
    dc_tolerance: float = opt(0.0, low=0.0, high=1.0)  # the DC term counts only offsets past this
    # the upsampler's fixed whine at multiples of sr/8 (losses.whine_loss): a decoder trained on the
    # magnitude terms alone keeps it at -20 dB under a generated clip's energy
    whine_weight: float = opt(0.0, low=0.0)
    # > 0: the whine counts only beyond this many times what an incoherent residual (noise not rendered
    # sample for sample) leaves in the periodic part (losses.whine_loss); 0: all of it, as before
    whine_noise_factor: float = opt(0.0, low=0.0, high=100.0)
    whine_tolerance: float = opt(0.0, low=0.0, high=1.0)  # the whine term counts only ratios past this
    # the whine ratio's power: 1 pulls as hard on a -60 dB whine as on a -20 dB one; 2 (the power ratio)
    # pulls in proportion to the whine, leaving the clipped update to the other terms once it is faint
    whine_exponent: float = opt(1.0, low=1.0, high=4.0)
    peak_weight: float = opt(0.0, low=0.0)  # overshoot of |sample| past 0.95 (losses.peak_loss): clipping
    # the part of the residual that repeats every buzz_period samples (losses.buzz_loss): a decoder renders
    # steady noise with a repeating part (every 2048 samples, and so every 512: a buzz at 86 Hz and its
    # multiples), which the analyser hears as a pitched saw; on the data only (a generated tone may repeat so)
    buzz_weight: float = opt(0.0, low=0.0)
    buzz_period: int = opt(512, low=2, high=65536)
    # steady tones the reconstruction adds to a reference that repeats every VAE hop (losses.spurious_tone_loss):
    # under the band split the decoder's comb below 1500 Hz (grid tones off the harmonics, -10 to -34 dB on
    # the step 10 decoder) is seen by the MSE alone; the health check counts any such tone above -40 dB. With
    # generated_latents, the pool's decodes are held to have no steady tone off the harmonics of their
    # loudest one (losses.inharmonic_tone_loss)
    spurious_tone_weight: float = opt(0.0, low=0.0)
    # the decoder's last N upsamplers (those nearest the output) are kept comb-free after every update
    # (oobleck.make_comb_free): none of them can turn its features' constant part into a fixed comb. The
    # first must stay free: a steady tone on the frame grid has a constant latent, and only that upsampler
    # turns it into the repeating waveform. Transposed-conv decoders only (nearest upsampling is comb-free)
    comb_free_upsamplers: int = opt(0, low=0, high=64)
    # > 0: a pool of this many latents generated by the model's own DiT (ping-pong, 8 steps, the data's
    # captions) is decoded beside the data every step, and the DC, whine and peak terms apply to those
    # decodes too (against silence: they have no reference). Needs freeze_encoder (a DiT trained on
    # these latents): the decoder then learns to render what generation really hands it
    generated_latents: int = opt(0, low=0, high=65536)
    # this share of the pool is generated under conditioning mixed between two captions (a random weight):
    # prompts worded unlike the captions land between them, where the DiT makes latents a pool of the
    # captions alone never holds (generated_pool.mix_conditions)
    generated_mixed_share: float = opt(0.0, low=0.0, high=1.0)
    # > 0: the pool's windows span this many samples (a multiple of the hop; the whole clip at most)
    # instead of `crop`. A decoder trained on 8-frame windows renders a latent's middle, where no conv
    # reaches the zero padding of an edge, as it never saw it: a left tone came out with a -72 dB whine
    # in 8-frame windows and -30 dB (its side swapped, DC 0.02) decoded whole, as generation decodes
    generated_crop: int = opt(0, low=0)
    # > 0: the pool's decodes are also held, at this weight, to the per-channel loudness envelopes (L1 of
    # log RMS per 1024 samples) that the decoder the run began with gives them, so that a long run that
    # changes timbre does not also change how loud, and on which side, it renders the DiT's latents
    generated_anchor_weight: float = opt(0.0, low=0.0)
    # waveform mean-squared error: the one term whose gradient points at the target's phase. From a
    # fresh decoder (or a wrong carrier) the magnitude terms give no path to a tone, only to silence.
    mse_weight: float = opt(0.0, low=0.0)
    # > 0: the MSE counts only below this frequency (where the pitches are), leaving harmonics and noise
    # to the phase-blind terms; over the whole band the MSE decoder dropped them (-15 to -40 dB above 2 kHz)
    mse_lowpass_hz: float = opt(0.0, low=0.0)
    # > 0: the STFT and mel terms see only what lies above this frequency; with mse_lowpass_hz at the same
    # value the band splits in two: the MSE places the pitches' phase, the magnitude terms the rest
    # (beside it over the whole band they pull a wrong carrier towards silence instead of the tone)
    spectral_highpass_hz: float = opt(0.0, low=0.0)
    # earth mover's distance between log-frequency spectra (n_fft 4096): a partial at the wrong pitch is
    # pulled towards the right one rather than to silence; phase-blind, so it counts from step 0
    transport_weight: float = opt(0.0, low=0.0)
    # against a multi-resolution complex-STFT discriminator (audio_discriminator.py; the reference's VAE
    # recipe): its hinge generator loss, and feature matching (a paired distance that sees phase)
    adversarial_weight: float = opt(0.0, low=0.0)
    feature_matching_weight: float = opt(0.0, low=0.0)
    spectral_from_step: int = opt(0, low=0)  # STFT, mel, envelope and balance terms count from here on
    # how a new run's random VAE weights start (not applied to weights given with --init):
    # "torch": torch's default conv init; "signal_preserving" (the default recipe's): unit-gain convs
    # and a narrow posterior (std softplus(initial_scale_bias)), see oobleck.signal_preserving_init
    init: str = opt("torch", choices=("torch", "signal_preserving"))
    initial_scale_bias: float = opt(-4.0, low=-20.0, high=20.0)
    # share of procedural examples that are steady, unfaded sines (any pitch, any pan), and a warm-up
    # of that many first steps on such tones alone; with them the latent keeps pitch and pan
    steady_tone_share: float = opt(0.0, low=0.0, high=1.0)
    tone_warmup_steps: int = opt(0, low=0)
    # set the saved model's pretransform scale so that the latents of the training data have unit std,
    # the scale of the diffusion noise (the reference divides latents by it). A VAE trained without
    # the magnitude terms has latents of std ~0.1, and a DiT trained on those at scale 1 made noise.
    unit_latents: bool = opt(False)
    # train the decoder only: the latents stay as they are, so a DiT already trained on them (and its
    # latent cache) stays valid while the decoder is fine-tuned, e.g. with a stronger dc_weight
    freeze_encoder: bool = opt(False)


@dataclass
class RFOptions(CaptionOptions):
    t_sampling: str = opt("logit_normal", choices=("logit_normal", "logsnr_uniform"))
    cfg_dropout: float = opt(0.1, low=0.0, high=1.0)
    ema_decay: float = opt(0.999, low=0.0, high=1.0)
    train_text_encoder: bool = opt(True)
    tokenizer_vocab: int = opt(384, low=16, high=1_000_000)  # pieces of the SentencePiece model trained on the captions
    # false: keep the --init model's tokenizer and text encoder and train them on (true: new ones from the captions)
    new_text_encoder: bool = opt(True)
    # InfoNCE between each caption's text-encoder output and its clip's latents (see alignment.py):
    # the RF loss alone leaves pitch and fade direction weakly encoded in the text
    alignment_weight: float = opt(0.0, low=0.0)
    # each word of a drawn caption is left out with this probability (batches.drop_words; negations stay):
    # without it the encoder learns whole phrases, and a phrase built of known words in a new order
    # ("fading away" beside the captions' "dying away" and "fading out") reads as a guess
    word_dropout: float = opt(0.0, low=0.0, high=0.5)


@dataclass
class ARCOptions(CommonOptions):
    lr_d: float = opt(1e-4, low=0.0, low_open=True)
    contrastive_weight: float = opt(1.0, low=0.0)  # lambda
    loss: str = opt("relativistic", choices=tuple(GAN_LOSSES))  # lsgan: the paper's ablation
    gen_logsnr: list[float] = opt([-6.0, 2.0], low=-20.0, high=20.0, length=2)
    disc_logsnr: list[float] = opt([-6.0, 2.0], low=-20.0, high=20.0, length=2)
    disc_fraction: float = opt(0.75, low=0.0, high=1.0, low_open=True)
    head_channels: int = opt(256, low=8, high=65536)
    ema_decay: float = opt(0.999, low=0.0, high=1.0)
    cfg_dropout: float = opt(0.1, low=0.0, high=1.0)
    # Beside the deranged prompts (another example's), the discriminator also learns own prompt > the same
    # sound's caption with one attribute changed: the waveform ("waveform"), or any one ("all"). A deranged
    # prompt differs in several attributes, and the easiest (side, fade) settle the contrast; an edited one
    # forces each. Needs data that says what each example is (procedural data, or a cache of it).
    edited_negatives: str = opt("none", choices=("none", "waveform", "all"))
    edited_weight: float = opt(1.0, low=0.0)


STAGE_OPTIONS = {"vae": VAEOptions, "rf": RFOptions, "arc": ARCOptions}
# A recipe's tables: one per stage, and an optional [decoder]: the VAE stage again, after ARC, on the
# decoder alone (the DiT was trained on the encoder's latents, so those must not move)
TABLE_STAGE = {"vae": "vae", "rf": "rf", "arc": "arc", "decoder": "vae"}
TABLE_DEFAULTS = {"decoder": {"freeze_encoder": True}}
PHASES_KEY = "then"


def _check_number(name: str, value: Any, kind: type, meta: dict, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where}: {name} = {value!r} must be {'an integer' if kind is int else 'a number'}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where}: {name} = {value!r} must be a finite number")
    low, high = meta.get("low"), meta.get("high")
    too_low = low is not None and (value <= low if meta.get("low_open") else value < low)
    if too_low or (high is not None and value > high):
        bounds = f"{'>' if meta.get('low_open') else '>='} {low:g}" if low is not None else ""
        bounds += (" and " if bounds and high is not None else "") + (f"<= {high:g}" if high is not None else "")
        raise ConfigError(f"{where}: {name} = {value!r} is out of range; it must be {bounds}")
    return value


def _check(name: str, value: Any, hint: Any, meta: dict, where: str) -> Any:
    choices = meta.get("choices")
    if choices is not None:
        if value not in choices:
            raise ConfigError(f"{where}: {name} = {value!r} is not one of {', '.join(map(str, choices))}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {name} = {value!r} must be true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {name} = {value!r} must be a string")
        return value
    if get_origin(hint) is list:
        (item,) = get_args(hint)
        length = meta.get("length")
        if not isinstance(value, list) or not value or (length is not None and len(value) != length):
            size = f"{length} " if length else "a non-empty list of "
            raise ConfigError(f"{where}: {name} = {value!r} must be {size}{'integers' if item is int else 'numbers'}")
        return [_check_number(f"{name}[{i}]", v, item, meta, where) for i, v in enumerate(value)]
    return _check_number(name, value, hint, meta, where)


def _checked_values(cls: type, table: dict[str, Any], where: str) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    hints = get_type_hints(cls)
    return {name: _check(name, value, hints[name], known[name].metadata, where) for name, value in table.items()}


# options that shape the pool of generated latents, and so mean nothing without one
POOL_OPTIONS = {
    "generated_anchor_weight": "holds the pool of generated latents to its first rendering",
    "generated_mixed_share": "sets how the pool of generated latents is made",
    "generated_crop": "sets the length of the windows of the pool of generated latents",
}


def _build(cls: type, table: dict[str, Any], where: str):
    opts = cls(**_checked_values(cls, table, where))
    for name in ("gen_logsnr", "disc_logsnr"):
        pair = getattr(opts, name, None)
        if pair is not None and not pair[0] < pair[1]:
            raise ConfigError(f"{where}: {name} = {pair} must be [low, high] with low < high")
    if getattr(opts, "generated_latents", 0) > 0 and not opts.freeze_encoder:
        raise ConfigError(f"{where}: generated_latents decodes the DiT's own latents, which are the frozen "
                          "encoder's; set freeze_encoder = true (and start from a trained model with --init)")
    for name, purpose in POOL_OPTIONS.items():
        if getattr(opts, name, 0) > 0 and not opts.generated_latents:
            raise ConfigError(f"{where}: {name} {purpose}; set generated_latents > 0 (e.g. 512) or {name} = 0")
    if getattr(opts, "alignment_weight", 0) > 0 and not opts.train_text_encoder:
        raise ConfigError(f"{where}: alignment_weight trains the text encoder; set train_text_encoder = true "
                          "or alignment_weight = 0")
    return opts


def recipe_tables(path: Path) -> dict[str, Any]:
    """The tables of a recipe file, checked to be known tables of options (phases under ``then``)."""
    try:
        raw = tomllib.loads(read_text(path, "training recipe", max_bytes=1 << 20))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - set(TABLE_STAGE))
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; a recipe has [vae], [rf], [arc] and "
                          "optionally [decoder]")
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table of options")
        _check_phases(name, table, path)
    return raw


def _check_phases(name: str, table: dict[str, Any], path: Path) -> None:
    """``then`` must be tables, each naming the step its phase ends at, later than the phase before."""
    phases = table.get(PHASES_KEY, [])
    if not isinstance(phases, list) or not all(isinstance(p, dict) for p in phases):
        raise ConfigError(f"{path}: [{name}] {PHASES_KEY} must be an array of tables ([[{name}.{PHASES_KEY}]])")
    previous = table.get("steps", STAGE_OPTIONS[TABLE_STAGE[name]]().steps)
    for i, phase in enumerate(phases, start=2):  # the table itself is phase 1
        steps = phase.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or not isinstance(previous, int) or steps <= previous:
            raise ConfigError(f"{path}: [[{name}.{PHASES_KEY}]] phase {i} needs steps, the step it ends at, above "
                              f"the {previous!r} its run has reached by then (got {steps!r})")
        previous = steps


def phase_count(path: Path, table_name: str) -> int:
    """How many phases the recipe's table runs in: 1, and one per ``then`` entry."""
    return 1 + len(recipe_tables(Path(path)).get(table_name, {}).get(PHASES_KEY, []))


def phase_steps(path: Path, table_name: str, phase: int) -> int:
    """The step at which ``phase`` of the recipe's table ends."""
    return load_recipe(path, table_name, phase=phase).steps


def load_recipe(path: Path | None, table_name: str, overrides: dict[str, Any] | None = None,
                base: dict[str, Any] | None = None, phase: int = 0):
    """Options for the recipe table ``table_name`` (a stage, or "decoder"): ``base`` (checked options, e.g. a
    resumed run's), then the recipe's table (defaults where neither sets one) with its first ``phase``
    phases laid over it in order, then ``overrides``."""
    cls = STAGE_OPTIONS[TABLE_STAGE[table_name]]
    # a bad --set is named as the user wrote it, not as a fault of the recipe file it overrides
    overrides = _checked_values(cls, overrides or {}, "--set")
    table = dict(recipe_tables(Path(path)).get(table_name, {})) if path is not None else {}
    phases = table.pop(PHASES_KEY, [])
    if phase > len(phases):
        raise ConfigError(f"{path} [{table_name}] has {len(phases)} further phase(s), not {phase}")
    for later in phases[:phase]:
        table.update(later)
    table = {**TABLE_DEFAULTS.get(table_name, {}), **(base or {}), **table, **overrides}
    where = f"recipe [{table_name}]" if path is None else f"{path} [{table_name}]"
    if phase:
        where += f" phase {phase + 1}"
    opts = _build(cls, table, where)
    if table_name == "decoder" and not opts.freeze_encoder:
        raise ConfigError(f"{where}: freeze_encoder = false would move the latents the DiT was trained on; "
                          "the decoder table fine-tunes the decoder alone (leave freeze_encoder out)")
    return opts


def recorded_options(record: dict[str, Any], stage: str, where: str):
    """The ``stage`` options a run recorded (``record``: its recipe.json), checked like a recipe's; None when
    the record is of another stage or holds no options (a run from before options were recorded)."""
    if record.get("stage") != stage:
        return None
    known = {f.name for f in fields(STAGE_OPTIONS[stage])}
    table = {k: v for k, v in record.items() if k in known}
    return _build(STAGE_OPTIONS[stage], table, where) if table else None


def changed_options(before, after) -> list[str]:
    """``name old -> new`` for each option that differs between two option sets of one stage."""
    return [f"{f.name} {getattr(before, f.name)!r} -> {getattr(after, f.name)!r}" for f in fields(before)
            if getattr(before, f.name) != getattr(after, f.name)]


def builtin_recipe(name: str) -> Path:
    path = Path(str(resources.files("arc_edge.training").joinpath(f"recipes/{name}.toml")))
    if not path.is_file():
        raise ConfigError(f"unknown built-in recipe '{name}'")
    return path
