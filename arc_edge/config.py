"""Read stable-audio-tools style ``model_config.json`` files into typed, validated configs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError

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
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def latent_length(self) -> int:
        return self.sample_size // self.downsampling_ratio

    @property
    def max_seconds(self) -> float:
        return self.sample_size / self.sample_rate

    @property
    def cross_attn_tokens(self) -> int:
        return self.prompt.max_length + 1


def _get(d: dict[str, Any], dotted: str, where: str) -> Any:
    cur: Any = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ConfigError(f"{where}: missing key '{dotted}'; compare with arc_edge/configs/saos.json")
        cur = cur[part]
    return cur


def _oobleck(cfg: dict[str, Any], channels_key: str, where: str) -> OobleckConfig:
    c = cfg["config"]
    if cfg.get("type") != "oobleck":
        raise ConfigError(f"{where}: only oobleck autoencoders are supported, got '{cfg.get('type')}'")
    c_mults = tuple(int(v) for v in _get(c, "c_mults", where))
    strides = tuple(int(v) for v in _get(c, "strides", where))
    if len(c_mults) != len(strides):
        raise ConfigError(f"{where}: c_mults and strides must have the same length")
    return OobleckConfig(
        audio_channels=int(_get(c, channels_key, where)),
        channels=int(_get(c, "channels", where)),
        c_mults=c_mults,
        strides=strides,
        latent_dim=int(_get(c, "latent_dim", where)),
        use_snake=bool(c.get("use_snake", False)),
        final_tanh=bool(c.get("final_tanh", True)),
    )


def parse_config(raw: dict[str, Any], where: str = "model_config.json") -> ModelConfig:
    """Validate and type a stable-audio-tools ``diffusion_cond`` config."""
    if raw.get("model_type") != "diffusion_cond":
        raise ConfigError(f"{where}: model_type must be 'diffusion_cond', got '{raw.get('model_type')}'")
    pre = _get(raw, "model.pretransform.config", where)
    if _get(raw, "model.pretransform.config.bottleneck.type", where) != "vae":
        raise ConfigError(f"{where}: only the 'vae' bottleneck is supported")
    diff = _get(raw, "model.diffusion", where)
    if diff.get("type") != "dit":
        raise ConfigError(f"{where}: only the 'dit' diffusion model is supported, got '{diff.get('type')}'")
    dc = diff["config"]
    conds = {c["id"]: c for c in _get(raw, "model.conditioning.configs", where)}
    if set(conds) != {"prompt", "seconds_total"}:
        raise ConfigError(f"{where}: conditioning must be exactly 'prompt' (t5) and 'seconds_total' (number)")
    if list(diff.get("cross_attention_cond_ids", [])) != ["prompt", "seconds_total"] or list(
        diff.get("global_cond_ids", [])
    ) != ["seconds_total"]:
        raise ConfigError(f"{where}: expected cross_attention_cond_ids [prompt, seconds_total] and global_cond_ids [seconds_total]")
    prompt = conds["prompt"]
    if prompt.get("type") != "t5":
        raise ConfigError(f"{where}: the prompt conditioner must be of type 't5'")
    qk_norm = dc.get("attn_kwargs", {}).get("qk_norm", "none")
    if qk_norm != "ln" or dc.get("global_cond_type", "prepend") != "prepend" or dc.get("patch_size", 1) != 1:
        raise ConfigError(f"{where}: only qk_norm 'ln', global_cond_type 'prepend' and patch_size 1 are supported")
    cfg = ModelConfig(
        sample_rate=int(_get(raw, "sample_rate", where)),
        sample_size=int(_get(raw, "sample_size", where)),
        audio_channels=int(_get(raw, "audio_channels", where)),
        latent_dim=int(_get(pre, "latent_dim", where)),
        downsampling_ratio=int(_get(pre, "downsampling_ratio", where)),
        encoder=_oobleck(_get(pre, "encoder", where), "in_channels", where + " encoder"),
        decoder=_oobleck(_get(pre, "decoder", where), "out_channels", where + " decoder"),
        dit=DiTConfig(
            io_channels=int(_get(dc, "io_channels", where)),
            embed_dim=int(_get(dc, "embed_dim", where)),
            depth=int(_get(dc, "depth", where)),
            num_heads=int(_get(dc, "num_heads", where)),
            cond_token_dim=int(_get(dc, "cond_token_dim", where)),
            global_cond_dim=int(_get(dc, "global_cond_dim", where)),
            qk_norm=qk_norm,
        ),
        prompt=T5CondConfig(
            model_name=str(prompt["config"].get("t5_model_name", "t5-base")),
            max_length=int(prompt["config"].get("max_length", 128)),
            t5_config=prompt["config"].get("t5_config"),
        ),
        seconds=NumberCondConfig(
            min_val=float(conds["seconds_total"]["config"].get("min_val", 0)),
            max_val=float(conds["seconds_total"]["config"].get("max_val", 256)),
        ),
        cond_dim=int(_get(raw, "model.conditioning.cond_dim", where)),
        diffusion_objective=str(diff.get("diffusion_objective", "rf_denoiser")),
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
    if cfg.sample_size % cfg.downsampling_ratio:
        problems.append("sample_size is not a multiple of downsampling_ratio")
    if cfg.encoder.latent_dim != 2 * cfg.latent_dim or cfg.decoder.latent_dim != cfg.latent_dim:
        problems.append("a VAE encoder must output 2*latent_dim (mean, scale) and the decoder take latent_dim")
    if cfg.dit.io_channels != cfg.latent_dim:
        problems.append("diffusion io_channels must equal the VAE latent_dim")
    if cfg.dit.embed_dim % cfg.dit.num_heads:
        problems.append("embed_dim must be divisible by num_heads")
    if cfg.dit.cond_token_dim != cfg.cond_dim or cfg.dit.global_cond_dim != cfg.cond_dim:
        problems.append("cond_token_dim and global_cond_dim must equal conditioning cond_dim")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def load_config(path: Path) -> ModelConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no model config at {path}; a model directory needs model_config.json")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); fix or re-export it") from None
    return parse_config(raw, str(path))


def builtin_config(name: str) -> ModelConfig:
    if name not in BUILTIN_CONFIGS:
        raise ConfigError(f"unknown built-in config '{name}'; choose one of {', '.join(BUILTIN_CONFIGS)}")
    text = resources.files("arc_edge.configs").joinpath(f"{name}.json").read_text()
    return parse_config(json.loads(text), f"built-in config '{name}'")
