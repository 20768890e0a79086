"""The training loop shared by every stage: resumable atomic checkpoints, metrics CSV, samples, tqdm.

A run directory holds::

    checkpoint.pt     everything needed to resume (tensors only; read with weights_only=True)
    metrics.csv       one row per logged step
    samples/          audio written every sample_every steps
    model/            the model directory of the latest checkpoint (EMA weights where there are some)
"""

from __future__ import annotations

import csv
import gc
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from ..audio_io import write_wav
from ..checkpoint import LINEAGE_KEYS, save_model_dir
from ..config import parse_config
from ..errors import CheckpointError, InputError, first_line
from ..fileio import atomic_file, write_json
from ..generate import DEFAULT_PROMPT, GenerationRequest, generate, reconstruct
from ..models.pipeline import ArcPipeline
from ..schema import read_text
from ..tokenizer import PromptTokenizer
from . import distributed
from .batches import step_generator
from .stages import STAGES

CHECKPOINT = "checkpoint.pt"
SAMPLE_PROMPTS = (DEFAULT_PROMPT, "a high sawtooth on the right fading out")


def pipeline_from_checkpoint(ckpt: dict, run_dir: Path) -> ArcPipeline:
    cfg = parse_config(json.loads(ckpt["config"]), f"{run_dir / CHECKPOINT}")
    pipeline = ArcPipeline(cfg)
    try:
        pipeline.load_state_dict(ckpt["pipeline"])
    except RuntimeError as exc:
        raise CheckpointError(f"{run_dir / CHECKPOINT} does not match its own config ({first_line(exc)}); "
                              "start a new run") from None
    # the tokenizer is written only once the weights have loaded: a refused resume leaves no file behind
    spm_file = run_dir / "resume_spiece.model"
    with atomic_file(spm_file) as tmp:
        tmp.write_bytes(bytes(ckpt["tokenizer"].tolist()))
    try:
        pipeline.tokenizer = PromptTokenizer(spm_file, cfg.prompt.max_length)
    except CheckpointError:
        spm_file.unlink()
        raise
    return pipeline


RUN_RECORD = "recipe.json"


def read_run_record(run_dir: Path) -> dict:
    """What a run recorded of itself (stage, --data, options); {} for a run from before runs recorded it.
    A record that is there but broken is refused: resuming without it would silently change the data
    and options the run trains on."""
    path = Path(run_dir) / RUN_RECORD
    if not path.exists():
        return {}
    try:
        record = json.loads(read_text(path, "run record", InputError, max_bytes=1 << 20))
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise InputError(f"{path} is not a run record (a JSON object, written by the run); restore it, or delete it "
                         "to resume on this command's --data and recipe")
    return record


# what a checkpoint must hold, and of which type, before anything trusts it
_CHECKPOINT_FIELDS = {"step": int, "stage_name": str, "config": str, "tokenizer": torch.Tensor, "pipeline": dict,
                      "stage": dict, "rng": torch.Tensor}


def load_checkpoint(run_dir: Path, stage_name: str | None = None) -> dict:
    """The run's checkpoint, checked; with ``stage_name``, refused unless that stage wrote it."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: no {CHECKPOINT} in {run_dir}")
    try:
        # mapped, not read: a look at the step (train default --resume) costs no copy of the weights
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # truncated or foreign files raise many types
        raise CheckpointError(f"{path} could not be read ({first_line(exc)}); it is truncated or not an arc-edge "
                              "checkpoint: start a new run with --force") from None
    wrong = [k for k, kind in _CHECKPOINT_FIELDS.items() if not isinstance(ckpt, dict) or not isinstance(ckpt.get(k), kind)]
    if wrong:
        raise CheckpointError(f"{path} lacks {', '.join(wrong)} (or has them of the wrong type); it is not an arc-edge "
                              "checkpoint: start a new run with --force")
    try:
        json.loads(ckpt["config"])
    except ValueError:
        raise CheckpointError(f"{path} holds a broken model config; start a new run with --force") from None
    _check_lineage(ckpt, path)
    if stage_name is not None and ckpt["stage_name"] != stage_name:
        raise InputError(f"{run_dir} holds a '{ckpt['stage_name']}' run, not '{stage_name}'; resume it with "
                         f"'train {ckpt['stage_name']}'")
    return ckpt


def _check_lineage(ckpt: dict, path: Path) -> None:
    """A checkpoint's record of what its run started from (``checkpoint.LINEAGE_KEYS``; absent in a run from
    before it was recorded) goes into metadata that ``arc-edge info`` prints: only known keys with text values
    pass (``lineage_of`` cuts what it prints)."""
    lineage = ckpt.get("lineage", {})
    if not (isinstance(lineage, dict) and all(k in LINEAGE_KEYS and isinstance(v, str) for k, v in lineage.items())):
        raise CheckpointError(f"{path} holds a malformed 'lineage' entry; it is not an arc-edge checkpoint: start a "
                              "new run with --force")


def _save(run_dir: Path, stage, pipeline: ArcPipeline, step: int, lineage: dict[str, str]) -> None:
    ckpt = {
        "step": step,
        "stage_name": stage.name,
        "config": json.dumps(pipeline.cfg.raw),
        "tokenizer": torch.tensor(list(pipeline.tokenizer.model_file.read_bytes()), dtype=torch.uint8),
        "pipeline": pipeline.state_dict(),
        "stage": stage.state(),
        "rng": torch.get_rng_state(),
        "lineage": lineage,
    }
    with atomic_file(run_dir / CHECKPOINT) as tmp:
        torch.save(ckpt, tmp)
    save_model_dir(stage.export_pipeline(), run_dir / "model", force=True,
                   trained={"stage": getattr(stage, "trained_as", stage.name), "step": str(step), **lineage})


def _write_samples(run_dir: Path, pipeline: ArcPipeline, step: int, stage_name: str, data) -> None:
    out = run_dir / "samples"
    out.mkdir(exist_ok=True)
    pipeline.eval()
    if stage_name == "vae":  # reconstruction of a training example, decoded as the model's users hear it
        recon = reconstruct(pipeline, data[0]["audio"].cpu().numpy(), next(pipeline.parameters()).device)
        write_wav(out / f"step{step:06d}_recon.wav", recon, pipeline.cfg.sample_rate)
    else:
        steps, sampler, cfg = (8, "pingpong", 1.0) if stage_name == "arc" else (50, "euler", 4.0)
        for i, prompt in enumerate(SAMPLE_PROMPTS):
            req = GenerationRequest(prompt, pipeline.cfg.max_seconds, steps, seed=i, sampler=sampler, cfg_scale=cfg)
            res = generate(pipeline, req)
            write_wav(out / f"step{step:06d}_{i}.wav", res.audio, res.sample_rate)
    pipeline.train()


def train(stage_name: str, pipeline: ArcPipeline | None, opts, data, run_dir: Path,
          ckpt: dict | None = None, data_spec: str | None = None, lineage: dict[str, str] | None = None) -> Path:
    """Run a stage from ``pipeline``, or resume it from ``ckpt`` (``load_checkpoint(run_dir, stage_name)``);
    returns the model dir.
    ``data_spec`` (what ``--data`` named) is recorded in recipe.json, for --resume; ``lineage`` (what a new
    run started from, ``checkpoint.LINEAGE_KEYS``) goes into every saved model's metadata, and a resume
    keeps its checkpoint's."""
    env = distributed.setup()
    distributed.barrier(env)  # rank 0 has prepared the run directory
    run_dir = Path(run_dir)
    if ckpt is not None:
        pipeline = pipeline_from_checkpoint(ckpt, run_dir)
        lineage = ckpt.get("lineage")
    elif pipeline is None:
        raise InputError("a new run needs an initial model (--init DIR or --model-config)")
    lineage = lineage or {}
    torch.manual_seed(opts.seed)
    pipeline = pipeline.to(env.device).train()
    stage = STAGES[stage_name](pipeline, opts, env, data, run_dir, fresh=ckpt is None)
    start = 0
    if ckpt is not None:
        stage.load_state(ckpt["stage"])
        start = int(ckpt["step"])
        torch.set_rng_state(ckpt["rng"])  # dropout draws from the global generator
    if env.is_main:
        recorded = {"stage": stage_name, **({"data": data_spec} if data_spec else {}), **asdict(opts)}
        write_json(run_dir / RUN_RECORD, recorded)  # atomic: a resume reads the run's data and options from it
    metrics_path = run_dir / "metrics.csv"
    t0 = time.perf_counter()
    # a with-block closes the bar when a step raises, so the error line is not glued to it
    with tqdm(total=opts.steps, initial=start, desc=f"train {stage_name}", disable=not env.is_main,
              dynamic_ncols=True) as bar:
        for step in range(start, opts.steps):
            metrics = stage.step(step_generator(opts.seed, step, env.rank), step)
            done = step + 1
            if done % opts.log_every == 0 or done == opts.steps:
                metrics = distributed.mean_across_ranks(metrics, env)
                if env.is_main:
                    row = {"step": done, "seconds": round(time.perf_counter() - t0, 2), **metrics}
                    with metrics_path.open("a", newline="") as f:
                        writer = csv.DictWriter(f, fieldnames=list(row))
                        if f.tell() == 0:
                            writer.writeheader()
                        writer.writerow(row)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()})
            bar.update(1)
            if done % opts.save_every == 0 or done == opts.steps:
                if env.is_main:
                    _save(run_dir, stage, pipeline, done, lineage)
                    tqdm.write(f"saved checkpoint at step {done}: {run_dir / CHECKPOINT}")
                distributed.barrier(env)
            if env.is_main and opts.sample_every and done % opts.sample_every == 0:
                _write_samples(run_dir, stage.export_pipeline(), done, stage_name, data)
    # The DDP wrappers (inside the stage) hold the process group: freed only after teardown, a
    # non-main rank's gloo destructor can wait forever on a rank that has already exited.
    del stage
    gc.collect()
    distributed.barrier(env)
    distributed.teardown()
    return run_dir / "model"
