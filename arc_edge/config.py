"""Read stable-audio-tools style ``model_config.json`` files into typed, validated configs.

Every option the reference code honours is either honoured here or refused with a one-line
error; nothing is silently ignored.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .decoding import MAX_DC_BLOCKER_HZ
from .errors import ConfigError
from .schema import Fields, int_item, read_json

BUILTIN_CONFIGS = ("saos", "tiny")


@dataclass(frozen=True)
class OobleckConfig:
    audio_channels: int
    channels: int
    c_mults: tuple[int, ...]
    strides: tuple[int, ...]
    latent_dim: int
    use_snake: bool = True
    final_tanh: bool = False
    use_nearest_upsample: bool = False  # decoder only: nearest x s + conv instead of a transposed conv


@dataclass(frozen=True)
class PretransformConfig:
    """stable-audio-tools' AutoencoderPretransform options."""

    scale: float = 1.0  # latents are divided by it after encoding and multiplied before decoding
    model_half: bool = False  # the VAE runs in fp16
    iterate_batch: bool = False  # batch items are encoded/decoded one at a time (same result)
    chunked: bool = False  # encode/decode in overlapping chunks of 128 latent frames (overlap 32)
    # arc-edge's own option (the reference has none): a first-order high-pass at this many Hz on the
    # decoded audio (decoding.DCBlocker); 0 leaves the decoder's output as the reference does
    dc_blocker_hz: float = 0.0


@dataclass(frozen=True)
class DiTConfig:
    io_channels: int
    embed_dim: int
    depth: int
    num_heads: int
    cond_token_dim: int
    global_cond_dim: int
    qk_norm: str = "ln"
    patch_size: int = 1
    global_cond_type: str = "prepend"

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


@dataclass(frozen=True)
class T5CondConfig:
    model_name: str
    max_length: int
    # Architecture of a T5 encoder we train ourselves; None means a named pretrained one (t5-base).
    t5_config: dict[str, Any] | None = None


@dataclass(frozen=True)
class NumberCondConfig:
    min_val: float
    max_val: float


@dataclass(frozen=True)
class ModelConfig:
    sample_rate: int
    sample_size: int
    audio_channels: int
    latent_dim: int
    downsampling_ratio: int
    encoder: OobleckConfig
    decoder: OobleckConfig
    dit: DiTConfig
    prompt: T5CondConfig
    seconds: NumberCondConfig
    cond_dim: int
    diffusion_objective: str
    pretransform: PretransformConfig = PretransformConfig()
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def latent_length(self) -> int:
        return self.sample_size // self.downsampling_ratio

    @property
    def max_seconds(self) -> float:
        return self.sample_size / self.sample_rate

    @property
    def latent_frame_rate(self) -> float:
        """Latent frames per second (Hz): a tone at a multiple of it repeats once per frame."""
        return self.sample_rate / self.downsampling_ratio

    @property
    def cross_attn_tokens(self) -> int:
        return self.prompt.max_length + 1


def _refuse_true(c: Fields, key: str, what: str) -> None:
    if c.has(key) and c.boolean(key):
        raise ConfigError(f"{c.where}: {c.path}.{key} = true ({what}) is not supported by arc-edge; "
                          "remove it or set it to false")


def _oobleck(f: Fields, channels_key: str) -> OobleckConfig:
    f.string("type", choices=("oobleck",))
    c = f.obj("config")
    c_mults = tuple(c.items("c_mults", int_item(c.where, 1), min_len=1))
    strides = tuple(c.items("strides", int_item(c.where, 1), min_len=1))
    if len(c_mults) != len(strides):
        raise ConfigError(f"{c.where}: {c.path}.c_mults and strides must have the same length")
    channels = c.integer("channels", low=1, high=8192)
    if len(strides) > 16 or max(strides) > 1024 or channels * max(c_mults) > 65536:
        raise ConfigError(f"{c.where}: {c.path} is out of range; at most 16 blocks, strides up to 1024 and "
                          "channels * c_mults up to 65536")
    _refuse_true(c, "antialias_activation", "anti-aliased activations")
    decoder = channels_key == "out_channels"
    if not decoder:
        _refuse_true(c, "use_nearest_upsample", "nearest-neighbour upsampling is a decoder option")
    return OobleckConfig(
        audio_channels=c.integer(channels_key, low=1, high=64),
        channels=channels,
        c_mults=c_mults,
        strides=strides,
        latent_dim=c.integer("latent_dim", low=1, high=8192),
        use_snake=c.boolean("use_snake", False),
        final_tanh=c.boolean("final_tanh", True),
        use_nearest_upsample=decoder and c.boolean("use_nearest_upsample", False),
    )


def _pretransform(pre: Fields) -> PretransformConfig:
    pre.string("type", choices=("autoencoder",))
    return PretransformConfig(scale=pre.number("scale", 1.0, low=0.0, low_open=True),
                              model_half=pre.boolean("model_half", False),
                              iterate_batch=pre.boolean("iterate_batch", False),
                              chunked=pre.boolean("chunked", False),
                              dc_blocker_hz=pre.number("dc_blocker_hz", 0.0, low=0.0, high=MAX_DC_BLOCKER_HZ))


def _conditioning(model: Fields) -> tuple[T5CondConfig, NumberCondConfig, int]:
    cond = model.obj("conditioning")
    configs = {}
    for i, item in enumerate(cond.items("configs", lambda v, name: v)):
        entry = Fields(item, cond.where, f"{cond.path}.configs[{i}]")
        configs[entry.string("id")] = entry
    if set(configs) != {"prompt", "seconds_total"}:
        raise ConfigError(f"{cond.where}: conditioning must be exactly 'prompt' (t5) and 'seconds_total' (number), "
                          f"got {', '.join(sorted(configs)) or 'none'}")
    prompt, seconds = configs["prompt"], configs["seconds_total"]
    prompt.string("type", choices=("t5",))
    seconds.string("type", choices=("number",))
    p, s = prompt.obj("config"), seconds.obj("config", {})
    t5_config = p.obj("t5_config").data if p.has("t5_config") else None
    if p.has("project_out") and p.boolean("project_out"):
        raise ConfigError(f"{p.where}: {p.path}.project_out = true is not supported by arc-edge")
    # stable-audio-tools' NumberConditioner defaults: min_val 0, max_val 1
    low, high = s.number("min_val", 0.0), s.number("max_val", 1.0)
    if high <= low:
        raise ConfigError(f"{s.where}: {s.path}.max_val ({high:g}) must be larger than min_val ({low:g})")
    return (T5CondConfig(model_name=p.string("t5_model_name", "t5-base"), max_length=p.integer("max_length", 128, 2, 4096),
                         t5_config=t5_config),
            NumberCondConfig(low, high), cond.integer("cond_dim", low=1, high=65536))


def parse_config(raw: Any, where: str = "model_config.json") -> ModelConfig:
    """Validate and type a stable-audio-tools ``diffusion_cond`` config."""
    top = Fields(raw, where)
    top.string("model_type", choices=("diffusion_cond",))
    model = top.obj("model")
    pre = model.obj("pretransform")
    pc = pre.obj("config")
    bottleneck = pc.obj("bottleneck")
    bottleneck.string("type", choices=("vae",))
    diff = model.obj("diffusion")
    diff.string("type", choices=("dit",))
    dc = diff.obj("config")
    if diff.items("cross_attention_cond_ids", lambda v, n: v, []) != ["prompt", "seconds_total"] or \
            diff.items("global_cond_ids", lambda v, n: v, []) != ["seconds_total"]:
        raise ConfigError(f"{where}: expected cross_attention_cond_ids [prompt, seconds_total] and "
                          "global_cond_ids [seconds_total]")
    qk_norm = dc.obj("attn_kwargs", {}).string("qk_norm", "none")
    if qk_norm != "ln" or dc.string("global_cond_type", "prepend") != "prepend" or dc.integer("patch_size", 1) != 1:
        raise ConfigError(f"{where}: only qk_norm 'ln', global_cond_type 'prepend' and patch_size 1 are supported")
    dc.string("transformer_type", "continuous_transformer", choices=("continuous_transformer",))
    # stable-audio-tools' ContinuousTransformer options that add a position embedding to the tokens
    for key in ("use_abs_pos_emb", "use_sinusoidal_emb"):
        _refuse_true(dc, key, "an absolute position embedding in the DiT")
    prompt, seconds, cond_dim = _conditioning(model)
    cfg = ModelConfig(
        sample_rate=top.integer("sample_rate", low=1000, high=384000),
        sample_size=top.integer("sample_size", low=1, high=1 << 26),
        audio_channels=top.integer("audio_channels", low=1, high=64),
        latent_dim=pc.integer("latent_dim", low=1, high=8192),
        downsampling_ratio=pc.integer("downsampling_ratio", low=1, high=1 << 20),
        encoder=_oobleck(pc.obj("encoder"), "in_channels"),
        decoder=_oobleck(pc.obj("decoder"), "out_channels"),
        dit=DiTConfig(
            io_channels=dc.integer("io_channels", low=1, high=8192),
            embed_dim=dc.integer("embed_dim", low=1, high=65536),
            depth=dc.integer("depth", low=1, high=1024),
            num_heads=dc.integer("num_heads", low=1, high=1024),
            cond_token_dim=dc.integer("cond_token_dim", low=1, high=65536),
            global_cond_dim=dc.integer("global_cond_dim", low=1, high=65536),
            qk_norm=qk_norm,
        ),
        prompt=prompt,
        seconds=seconds,
        cond_dim=cond_dim,
        diffusion_objective=diff.string("diffusion_objective", "rf_denoiser",
                                        choices=("rf_denoiser", "rectified_flow")),
        pretransform=_pretransform(pre),
        raw=raw,
    )
    _check_consistency(cfg, where)
    return cfg


def _check_consistency(cfg: ModelConfig, where: str) -> None:
    prod = 1
    for s in cfg.decoder.strides:
        prod *= s
    problems = []
    if prod != cfg.downsampling_ratio:
        problems.append(f"decoder strides multiply to {prod}, not downsampling_ratio {cfg.downsampling_ratio}")
    if cfg.encoder.strides != cfg.decoder.strides:
        problems.append("encoder and decoder strides differ")
    if cfg.sample_size % cfg.downsampling_ratio:
        problems.append("sample_size is not a multiple of downsampling_ratio")
    if cfg.encoder.latent_dim != 2 * cfg.latent_dim or cfg.decoder.latent_dim != cfg.latent_dim:
        problems.append("a VAE encoder must output 2*latent_dim (mean, scale) and the decoder take latent_dim")
    if cfg.encoder.audio_channels != cfg.audio_channels or cfg.decoder.audio_channels != cfg.audio_channels:
        problems.append("the VAE's in_channels/out_channels must equal audio_channels")
    if cfg.dit.io_channels != cfg.latent_dim:
        problems.append("diffusion io_channels must equal the VAE latent_dim")
    if cfg.dit.embed_dim % cfg.dit.num_heads or (cfg.dit.embed_dim // cfg.dit.num_heads) % 2:
        problems.append("embed_dim must be divisible by num_heads into an even head size")
    if cfg.dit.cond_token_dim != cfg.cond_dim or cfg.dit.global_cond_dim != cfg.cond_dim:
        problems.append("cond_token_dim and global_cond_dim must equal conditioning cond_dim")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def with_decoder(cfg: ModelConfig, decoder: dict[str, Any], where: str, dc_blocker_hz: float | None = None
                 ) -> ModelConfig:
    """``cfg`` with its VAE decoder's config (the raw ``decoder.config`` object) replaced, and the DC
    blocker on its output when one is given, validated again."""
    raw = copy.deepcopy(cfg.raw)
    raw["model"]["pretransform"]["config"]["decoder"]["config"] = copy.deepcopy(decoder)
    if dc_blocker_hz is not None:
        raw["model"]["pretransform"]["dc_blocker_hz"] = dc_blocker_hz
    return parse_config(raw, where)


def decoder_raw(cfg: ModelConfig) -> dict[str, Any]:
    """The raw ``decoder.config`` object of ``cfg``'s VAE."""
    return cfg.raw["model"]["pretransform"]["config"]["decoder"]["config"]


def load_config(path: Path) -> ModelConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no model config at {path}; a model directory needs model_config.json")
    return parse_config(read_json(path, "model config"), str(path))


def builtin_config(name: str) -> ModelConfig:
    if name not in BUILTIN_CONFIGS:
        raise ConfigError(f"unknown built-in config '{name}'; choose one of {', '.join(BUILTIN_CONFIGS)}")
    text = resources.files("arc_edge.configs").joinpath(f"{name}.json").read_text()
    return parse_config(json.loads(text), f"built-in config '{name}'")
