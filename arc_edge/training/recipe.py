"""Training recipes: TOML files with one table per stage; every field has a documented default."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .losses import GAN_LOSSES


@dataclass
class CommonOptions:
    steps: int = 1000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.0
    save_every: int = 200
    sample_every: int = 500
    log_every: int = 10
    seed: int = 0
    dataset_size: int = 20000  # procedural examples


@dataclass
class VAEOptions(CommonOptions):
    crop: int = 32768  # samples per training crop
    kl_weight: float = 1e-4
    ffts: list[int] = field(default_factory=lambda: [2048, 512, 128])
    mid_side_weight: float = 1.0  # spectral convergence on L+R and L-R as well
    mid_side_from_step: int = 0  # switch the mid/side term on here (a per-channel-only warm-up before)
    log_floor: float = 1e-5  # STFT magnitude floor of the log-magnitude term
    envelope_weight: float = 0.0  # log-RMS envelope L1 (loudness, pan, pulsing, fades)
    mel_weight: float = 0.0  # log-mel L1 (64 bands, n_fft 2048)
    balance_weight: float = 0.0  # L1 of the per-frame left/right level ratio (the stereo image)
    # "torch": torch's default conv init; "signal_preserving" (the default recipe's): unit-gain convs
    # and a narrow posterior (std softplus(initial_scale_bias)), see oobleck.signal_preserving_init
    init: str = field(default="torch", metadata={"choices": ("torch", "signal_preserving")})
    initial_scale_bias: float = -4.0


@dataclass
class RFOptions(CommonOptions):
    t_sampling: str = field(default="logit_normal", metadata={"choices": ("logit_normal", "logsnr_uniform")})
    cfg_dropout: float = 0.1
    ema_decay: float = 0.999
    train_text_encoder: bool = True
    tokenizer_vocab: int = 384  # a SentencePiece model is trained on the captions when the T5 is trained


@dataclass
class ARCOptions(CommonOptions):
    lr_d: float = 1e-4
    contrastive_weight: float = 1.0  # lambda
    loss: str = field(default="relativistic", metadata={"choices": tuple(GAN_LOSSES)})  # lsgan: the paper's ablation
    gen_logsnr: list[float] = field(default_factory=lambda: [-6.0, 2.0])
    disc_logsnr: list[float] = field(default_factory=lambda: [-6.0, 2.0])
    disc_fraction: float = 0.75
    head_channels: int = 256
    ema_decay: float = 0.999
    cfg_dropout: float = 0.1


STAGE_OPTIONS = {"vae": VAEOptions, "rf": RFOptions, "arc": ARCOptions}


def _build(cls: type, table: dict[str, Any], where: str):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for name, value in table.items():
        choices = known[name].metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{where}: {name} = {value!r} is not one of {', '.join(choices)}")
    return cls(**table)


def load_recipe(path: Path | None, stage: str, overrides: dict[str, Any] | None = None):
    """Options for ``stage`` from the recipe's ``[stage]`` table (or defaults), then ``overrides``."""
    table: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no training recipe at {path}")
        try:
            table = tomllib.loads(path.read_text()).get(stage, {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    table.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return _build(STAGE_OPTIONS[stage], table, f"recipe [{stage}]")


def builtin_recipe(name: str) -> Path:
    path = Path(str(resources.files("arc_edge.training").joinpath(f"recipes/{name}.toml")))
    if not path.is_file():
        raise ConfigError(f"unknown built-in recipe '{name}'")
    return path
