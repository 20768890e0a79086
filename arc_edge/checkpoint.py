"""Model directories: ``model_config.json`` + ``model.safetensors`` (or a ``.ckpt``) + a T5 folder.

Layout of a model directory written by arc-edge (the official SAOS release has the first two;
its T5 comes from a separate local t5-base folder passed with ``--t5``)::

    model_config.json     stable-audio-tools config
    model.safetensors     DiT + VAE + seconds conditioner, official key names
    t5/                   config.json, model.safetensors, spiece.model
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .config import ModelConfig, builtin_config, load_config
from .errors import CheckpointError, first_line
from .fileio import atomic_dir
from .models.conditioners import TextEncoder
from .models.oobleck import Pretransform
from .models.pipeline import ArcPipeline
from .schema import printable
from .tokenizer import PromptTokenizer

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model_config.json"
T5_DIR = "t5"
PRETRANSFORM_PREFIX = "pretransform."  # the VAE's keys in model.safetensors
TRAINED_PREFIX = "arc_edge_trained_"  # safetensors metadata keys of what training wrote the weights
SPIECE_FILE = "spiece.model"


@dataclass
class ModelSource:
    """Where a loaded model came from, for messages and manifests."""

    description: str
    random_weights: bool
    trained: dict[str, str] = field(default_factory=dict)  # what training recorded in the weights (``trained_record``)

    @property
    def lineage(self) -> str | None:
        """The runs that made the weights, newest first (``lineage_of``); None when training recorded none."""
        return lineage_of(self.trained) if self.trained else None


def default_model_dir() -> Path:
    return Path(str(resources.files("arc_edge").joinpath("default_model")))


def _read_state_dict(model_dir: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """The weights file's tensors whose keys start with ``prefix``; from safetensors only those are read
    (the VAE alone is a tenth of the official checkpoint)."""
    weights = model_dir / WEIGHTS_FILE
    if weights.is_file():
        try:
            if not prefix:
                return load_file(str(weights))
            with safe_open(str(weights), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118 (not iterable)
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise CheckpointError(f"{weights} could not be read ({first_line(exc)}); re-download or re-save it") from None
    ckpts = sorted(model_dir.glob("*.ckpt"))
    if ckpts:
        try:
            obj = torch.load(ckpts[0], map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{ckpts[0]} could not be loaded safely ({first_line(exc)}); "
                                  "convert it to safetensors") from None
        state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in state.items()):
            raise CheckpointError(f"{ckpts[0]} holds no state dict of named tensors; convert it to safetensors")
        return {k: v for k, v in state.items() if k.startswith(prefix)}
    raise CheckpointError(f"no {WEIGHTS_FILE} (or .ckpt) in {model_dir}; point --model at a model directory")


def trained_record(model_dir: Path) -> dict[str, str]:
    """What training recorded in a model directory's weights (stage, step); {} for weights saved
    otherwise (the official release, a .ckpt, a model saved outside a training run)."""
    weights = Path(model_dir) / WEIGHTS_FILE
    try:
        with safe_open(str(weights), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception:  # absent or unreadable: loading the weights names that problem
        return {}
    return {printable(k.removeprefix(TRAINED_PREFIX)): printable(v) for k, v in sorted(metadata.items())
            if k.startswith(TRAINED_PREFIX)}


LINEAGE_KEYS = ("from", "vae_from")  # what a run was started from, kept in its weights' metadata beside stage, step
NO_RECORD = "weights without a training record"
LINEAGE_CHARS = 600


def lineage_of(record: dict[str, str]) -> str:
    """One line naming the runs that made a model, newest first ("arc 400 <- rf 4000 <- ..."), from its
    ``trained_record``; a run started from ``--vae-from`` names that VAE's runs in brackets."""
    if not record.get("stage"):
        return NO_RECORD
    line = f"{record['stage']} {record.get('step', '?')}"
    if record.get("vae_from"):
        line += f" [VAE: {record['vae_from']}]"
    if record.get("from"):
        line += f" <- {record['from']}"
    # a long chain of runs keeps its newest part: each later run copies the line into its own metadata
    return line if len(line) <= LINEAGE_CHARS else line[:LINEAGE_CHARS] + " <- ..."


def as_float32(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], where: str
               ) -> dict[str, torch.Tensor]:
    """Load any float dtype into fp32 parameters, as the reference does, and say what was cast."""
    cast: dict[str, int] = {}
    out = {}
    for key, value in state.items():
        want = expected[key].dtype
        if value.dtype != want:
            if not (value.is_floating_point() and want.is_floating_point):
                raise CheckpointError(f"{where}: tensor {key} is {value.dtype}, expected a float tensor")
            cast[str(value.dtype).replace("torch.", "")] = cast.get(str(value.dtype).replace("torch.", ""), 0) + 1
            value = value.to(want)
        out[key] = value
    if cast:
        what = ", ".join(f"{n} {dtype}" for dtype, n in sorted(cast.items()))
        warnings.warn(f"{where} stores {what} tensor(s); loaded as float32", stacklevel=3)
    return out


def check_state_dict(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], where: str) -> None:
    """Raise one error listing every missing, unexpected and mis-shaped key."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    misshaped = [f"{k} {tuple(got[k].shape)} != {tuple(expected[k].shape)}"
                 for k in sorted(set(expected) & set(got)) if tuple(got[k].shape) != tuple(expected[k].shape)]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    if parts:
        raise CheckpointError(f"{where} does not match its config: " + "; ".join(parts)
                              + "; check that model_config.json belongs to these weights")


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its per-tensor bars would clutter our own output
    hf_logging.set_verbosity_error()


def _load_text_encoder(cfg: ModelConfig, t5_dir: Path) -> tuple[TextEncoder, PromptTokenizer]:
    from transformers import T5EncoderModel

    _quiet_transformers()
    if not t5_dir.is_dir():
        raise CheckpointError(f"no T5 folder at {t5_dir}; pass --t5 DIR (a local t5-base: config.json, "
                              "model.safetensors, spiece.model)")
    tokenizer = PromptTokenizer(t5_dir / SPIECE_FILE, cfg.prompt.max_length)
    try:
        # fp32 whatever the file stores (the reference runs T5 in fp16; fp32 is at least as accurate)
        t5 = T5EncoderModel.from_pretrained(str(t5_dir), local_files_only=True, dtype=torch.float32)
    except Exception as exc:  # transformers raises many types for broken folders
        raise CheckpointError(f"T5 weights in {t5_dir} could not be loaded ({first_line(exc)})") from None
    if t5.config.d_model != cfg.cond_dim:
        raise CheckpointError(f"T5 in {t5_dir} has d_model {t5.config.d_model}, the config needs {cfg.cond_dim}")
    return TextEncoder(t5.eval()), tokenizer


def _model_dir_config(model_dir: Path) -> ModelConfig:
    if not model_dir.is_dir():
        raise CheckpointError(f"model directory {model_dir} does not exist")
    return load_config(model_dir / CONFIG_FILE)


def _read_checked_weights(model_dir: Path, expected: dict[str, torch.Tensor], prefix: str = ""
                          ) -> dict[str, torch.Tensor]:
    """The weights file's tensors whose keys start with ``prefix``, checked against ``expected`` (one error
    for every missing, unexpected or mis-shaped key) and cast to its dtypes."""
    state = _read_state_dict(model_dir, prefix)
    check_state_dict(expected, state, str(model_dir))
    return as_float32(state, expected, str(model_dir / WEIGHTS_FILE))


def load_model_dir(model_dir: Path, t5_dir: Path | None = None) -> ArcPipeline:
    model_dir = Path(model_dir)
    cfg = _model_dir_config(model_dir)
    text_encoder, tokenizer = _load_text_encoder(cfg, Path(t5_dir) if t5_dir else model_dir / T5_DIR)
    with torch.device("meta"):
        pipeline = ArcPipeline(cfg, text_encoder=None)
    state = _read_checked_weights(model_dir, pipeline.checkpoint_state_dict())
    pipeline.text_encoder = text_encoder
    pipeline.load_state_dict(state, strict=False, assign=True)
    pipeline.tokenizer = tokenizer
    return pipeline.eval().apply_model_half()


def load_vae_dir(model_dir: Path) -> tuple[ModelConfig, Pretransform]:
    """The VAE of the model in ``model_dir`` alone, with the model's config: no T5 and no DiT are built."""
    model_dir = Path(model_dir)
    cfg = _model_dir_config(model_dir)
    with torch.device("meta"):
        vae = Pretransform(cfg.encoder, cfg.decoder)
    expected = {PRETRANSFORM_PREFIX + k: v for k, v in vae.state_dict().items()}
    state = _read_checked_weights(model_dir, expected, PRETRANSFORM_PREFIX)
    vae.load_state_dict({k.removeprefix(PRETRANSFORM_PREFIX): v for k, v in state.items()}, assign=True)
    return cfg, vae.eval()


def check_fits_in_memory(cfg: ModelConfig, where: str) -> None:
    """A config is user input: size its model on the meta device before allocating any of it."""
    import os

    with torch.device("meta"):
        params = sum(p.numel() for p in ArcPipeline(cfg).parameters())
    budget = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    if params * 4 > budget:
        raise CheckpointError(f"{where} describes a {params / 1e9:.1f} G-parameter model ({params * 4 / 2**30:.0f} GiB in "
                              f"fp32), more than half of this machine's memory; use a smaller config")


def random_pipeline(cfg: ModelConfig, seed: int = 0) -> ArcPipeline:
    check_fits_in_memory(cfg, "the model config")
    torch.manual_seed(seed)
    pipeline = ArcPipeline(cfg).eval().apply_model_half()
    pipeline.tokenizer = PromptTokenizer(Path(str(resources.files("arc_edge").joinpath("assets/tiny_spiece.model"))),
                                         cfg.prompt.max_length)
    return pipeline


def load_model(model_dir: Path | None, t5_dir: Path | None = None) -> tuple[ArcPipeline, ModelSource]:
    """Load ``model_dir``; without one, the bundled default model (or, until one ships, a random tiny
    model). ``t5_dir`` replaces the model's own T5 folder either way."""
    if model_dir is not None:
        return load_model_dir(model_dir, t5_dir), ModelSource(str(model_dir), False, trained_record(model_dir))
    bundled = default_model_dir()
    if (bundled / WEIGHTS_FILE).is_file():
        name = "bundled default model" + (f" with the T5 in {t5_dir}" if t5_dir else "")
        return load_model_dir(bundled, t5_dir), ModelSource(name, False, trained_record(bundled))
    if t5_dir is not None:
        raise CheckpointError("--t5 needs a model: no default model is bundled, so pass --model DIR as well")
    warnings.warn("no trained default model is bundled yet: using the tiny config with RANDOM weights "
                  "(the audio will be noise-like); pass --model DIR for a trained model", stacklevel=2)
    return random_pipeline(builtin_config("tiny")), ModelSource("tiny config, random weights", random_weights=True)


def save_model_dir(pipeline: ArcPipeline, out_dir: Path, force: bool = False,
                   trained: dict[str, str] | None = None) -> None:
    """Write a model directory atomically, in the layout ``load_model_dir`` reads; ``trained`` (e.g. the
    stage and step of a run's checkpoint) goes into the weights file's metadata (see ``trained_record``)."""
    if pipeline.tokenizer is None:
        raise CheckpointError("the model has no tokenizer to save")
    with atomic_dir(Path(out_dir), force=force, kind="model") as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(pipeline.cfg.raw, indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in pipeline.checkpoint_state_dict().items()}
        metadata = {TRAINED_PREFIX + k: str(v) for k, v in (trained or {}).items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata=metadata or None)
        t5_out = tmp / T5_DIR
        _quiet_transformers()
        pipeline.text_encoder.t5.save_pretrained(str(t5_out), safe_serialization=True)
        shutil.copyfile(pipeline.tokenizer.model_file, t5_out / SPIECE_FILE)
