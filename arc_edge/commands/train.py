"""``arc-edge train``: VAE, rectified-flow and ARC stages, latent caching, and the default-model recipe."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from .common import positive_int, positive_int_list

STAGES = ("vae", "rf", "arc", "decoder", "encode", "default", "clap")
PROCEDURAL_DATA = ("procedural", "procedural-grid")  # -grid: tones frame-locked (ProceduralDataset's frame_rate)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .common import subcommand

    p = subcommand(sub, "train", "train a stage (vae, rf, arc), fine-tune a finished model's decoder (decoder), "
                                 "cache latents (encode), the default model, or the evaluation embedder (clap)")
    p.add_argument("stage", choices=STAGES, help="what to train")
    p.add_argument("--recipe", type=Path, default=None, help="TOML recipe (default: the built-in default.toml)")
    p.add_argument("--data", default=None,
                   help="'procedural' (default; 'train default': procedural-grid), 'procedural-grid' (the same sounds "
                        "with every tone frame-locked: its frequency a multiple of the latent frame rate, its phase 0), "
                        "a manifest (.jsonl/.csv: path, "
                        "caption[, seconds]) or a latent cache dir; --resume uses the run's own")
    p.add_argument("--init", type=Path, default=None, help="model directory to start from (rf, arc, decoder, encode)")
    p.add_argument("--t5", type=Path, default=None, help="local T5 folder for --init (default: INIT/t5)")
    p.add_argument("--vae-from", type=Path, default=None,
                   help="rf, arc: give the trained model the VAE of this model directory instead of --init's (its "
                        "encoder must be --init's, e.g. a later 'train decoder' of the same VAE)")
    p.add_argument("--widen-decoder", type=positive_int_list, default=None, metavar="WIDTHS",
                   help="decoder: first grow the decoder's blocks to these output channels, latent side first (the "
                        "tiny model's are 128,64,32,16,16; e.g. 128,64,32,32,32), keeping what it renders; the new "
                        "channels are then trained")
    p.add_argument("--model-config", default="tiny",
                   help="vae stage without --init: built-in config name (tiny, saos) or a model_config.json")
    p.add_argument("--out", type=Path, required=True, help="run directory (or latent cache for 'encode')")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.add_argument("--steps", type=positive_int, default=None, help="override the recipe's step count")
    p.add_argument("--batch-size", type=positive_int, default=None, help="override the recipe's per-process batch size")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any recipe option of the stage, TOML-valued (e.g. --set contrastive_weight=0 "
                        "--set loss=lsgan); repeatable")
    p.set_defaults(run=run)


def parse_overrides(items: list[str]) -> dict:
    """["a=1", 'b="x"'] -> {"a": 1, "b": "x"}; bare words are taken as strings."""
    import tomllib

    from ..errors import InputError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: write KEY=VALUE, e.g. --set contrastive_weight=0")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def _pipeline_for(args: argparse.Namespace, stage: str):
    from ..checkpoint import load_model_dir, random_pipeline
    from ..errors import InputError

    if args.init is not None:
        pipeline = load_model_dir(args.init, args.t5)
        if args.vae_from is not None:
            take_vae(pipeline, args.vae_from, args.init)
        if args.widen_decoder is not None:
            from ..models.widen import widen_pipeline_decoder
            widen_pipeline_decoder(pipeline, args.widen_decoder)
        return pipeline
    if stage != "vae":
        raise InputError(f"'train {stage}' needs --init MODEL_DIR (the previous stage's RUN/model)")
    return random_pipeline(_fresh_config(args), seed=0)


def take_vae(pipeline, donor_dir: Path, init_dir: Path) -> None:
    """Put the VAE of the model in ``donor_dir`` into ``pipeline``. The DiT side and the decoder are
    trained in separate runs (RF and ARC on cached latents never touch the VAE); this joins a DiT to a
    decoder tuned after it, widened or not (``train decoder --widen-decoder``: the config then takes the
    donor's decoder widths). Refused unless the encoders are identical: the cached latents, and so the
    DiT's, are that encoder's."""
    import dataclasses

    import torch

    from ..checkpoint import load_vae_dir
    from ..config import decoder_raw, with_decoder
    from ..errors import ArcEdgeError, InputError

    if not Path(donor_dir).is_dir():
        raise InputError(f"--vae-from {donor_dir} is not a folder; give a trained model's directory (e.g. RUN/model)")
    try:
        dcfg, donor = load_vae_dir(donor_dir)
    except ArcEdgeError as exc:  # the loader's message names the file, not which option gave it
        raise type(exc)(f"--vae-from: {exc}") from None
    cfg = pipeline.cfg
    widths_aside = dataclasses.replace(dcfg.decoder, channels=cfg.decoder.channels, c_mults=cfg.decoder.c_mults)
    # the DC blocker comes with the donor's decoder: it is there for that decoder's output
    blocker_aside = dataclasses.replace(dcfg.pretransform, dc_blocker_hz=cfg.pretransform.dc_blocker_hz)
    if (cfg.encoder, cfg.pretransform, cfg.decoder) != (dcfg.encoder, blocker_aside, widths_aside):
        raise InputError(f"--vae-from {donor_dir} has another VAE architecture than --init {init_dir}; "
                         "give a model of the same model_config (its decoder may be wider)")
    mine, theirs = pipeline.pretransform.model.encoder.state_dict(), donor.model.encoder.state_dict()
    if any(not torch.equal(mine[k], theirs[k]) for k in mine):
        raise InputError(f"--vae-from {donor_dir} has another encoder than --init {init_dir}, so its decoder would "
                         "not read the latents this DiT makes; give a model whose decoder was tuned from this VAE "
                         "('train decoder' keeps the encoder)")
    if (dcfg.decoder, dcfg.pretransform.dc_blocker_hz) != (cfg.decoder, cfg.pretransform.dc_blocker_hz):
        pipeline.cfg = with_decoder(cfg, decoder_raw(dcfg), f"--vae-from {donor_dir}'s decoder config",
                                    dcfg.pretransform.dc_blocker_hz)
    pipeline.pretransform = donor
    pipeline.apply_model_half()


def _fresh_config(args: argparse.Namespace):
    """The --model-config a VAE run without --init builds its model from."""
    from ..config import BUILTIN_CONFIGS, builtin_config, load_config

    name = args.model_config
    return builtin_config(name) if name in BUILTIN_CONFIGS else load_config(Path(name))


SPURIOUS_TONE_HOPS = 4  # losses.spurious_tone_loss tells a repeating reference from noise over this many frames


def check_crops(opts, hop: int) -> None:
    """A VAE stage's crops must be whole latent frames: the decoder returns whole frames, and another
    length failed deep in the losses after the run folder was written."""
    from ..errors import InputError

    for name in ("crop", "generated_crop"):
        crop = getattr(opts, name, None)
        if crop and crop % hop:
            whole = max(hop, round(crop / hop) * hop)
            raise InputError(f"{name} = {crop} is not a whole number of the model's {hop}-sample latent frames; "
                             f"pass a multiple of {hop}, e.g. --set {name}={whole}")
    crop, period = getattr(opts, "crop", 0), getattr(opts, "buzz_period", 0)
    if getattr(opts, "buzz_weight", 0) > 0 and 2 * (period + 1) > crop:  # the term compares 2+ repeats
        raise InputError(f"buzz_period = {period} needs crops of at least two periods and one sample more; "
                         f"pass --set buzz_period={max(2, crop // 2 - 1)} or less, or a longer crop")
    if getattr(opts, "spurious_tone_weight", 0) > 0 and crop < SPURIOUS_TONE_HOPS * hop:
        raise InputError(f"spurious_tone_weight needs crops of at least {SPURIOUS_TONE_HOPS} latent frames (over fewer, "
                         f"noise repeats as much as a tone); pass --set crop={SPURIOUS_TONE_HOPS * hop} or more")


TONE_OPTIONS = ("steady_tone_share", "tone_warmup_steps")  # procedural tones mixed into a VAE stage's data


def tone_options_for(spec: str, opts, given: set[str]):
    """-> (the options a stage trains with on --data ``spec``, the tone options it leaves out). The procedural
    tones go into the built-in data only: with other data, a tone option given with --set is refused, and one
    the recipe sets (the default's [vae] sets both) is left out (set to 0, as the run records it)."""
    from dataclasses import replace

    from ..errors import InputError

    used = [name for name in TONE_OPTIONS if getattr(opts, name, 0) > 0]
    if spec in PROCEDURAL_DATA or not used:
        return opts, []
    for name in used:
        if name in given:
            raise InputError(f"{name} mixes procedural tones into the built-in data, not into --data {spec}; "
                             f"drop --set {name}=...")
    return replace(opts, **dict.fromkeys(used, 0)), [f"{name} = {getattr(opts, name)}" for name in used]


def note_unused_tone_options(spec: str, unused: list[str]) -> None:
    from ..training.distributed import launched_as_rank_zero

    if unused and launched_as_rank_zero():
        print(f"note: {' and '.join(unused)} (the recipe's) mix procedural tones into the built-in data only; "
              f"not used with --data {spec}")


def note_unused_caption_options(spec: str, caption_variants: int, irrelevant_word_share: float) -> None:
    """Said, not refused: the default recipe's [rf] sets both options, and a manifest's captions are used as
    written."""
    from ..training.distributed import launched_as_rank_zero
    from ..training.recipe import CaptionOptions

    default = CaptionOptions()
    unused = [f"{name} = {value}" for name, value in (("caption_variants", caption_variants),
                                                      ("irrelevant_word_share", irrelevant_word_share))
              if value != getattr(default, name)]
    if unused and launched_as_rank_zero():
        print(f"note: {' and '.join(unused)} reword only the procedural captions; the captions of --data {spec} "
              "are used as written")


def make_dataset(spec: str, cfg, size: int, seed: int, latents_allowed: bool = True, caption_variants: int = 1,
                 steady_tone_share: float = 0.0, irrelevant_word_share: float = 0.0):
    from ..data.datasets import LatentDataset, ManifestDataset, ProceduralDataset
    from ..errors import InputError
    from ..training.distributed import launched_as_rank_zero

    if spec in PROCEDURAL_DATA:
        # e.g. a latent cache written with --out procedural-grid: the bare name is not it (said once under torchrun)
        if Path(spec).exists() and launched_as_rank_zero():
            print(f"note: --data {spec} is the built-in procedural data, not the file or folder {spec} here; "
                  f"pass ./{spec} to train on that")
        frame_rate = cfg.latent_frame_rate if spec == "procedural-grid" else None
        return ProceduralDataset(size, cfg.sample_size, cfg.sample_rate, seed=seed, caption_variants=caption_variants,
                                 steady_tone_share=steady_tone_share, frame_rate=frame_rate,
                                 irrelevant_word_share=irrelevant_word_share)
    path = Path(spec)
    if path.is_dir():
        if not latents_allowed:
            raise InputError(f"--data {spec} is a latent cache; this stage needs audio: 'procedural', "
                             "'procedural-grid' or a manifest")
        return LatentDataset(path, cfg)
    manifest = ManifestDataset(path, cfg.sample_size, cfg.sample_rate, cfg.audio_channels, seed=seed)
    note_unused_caption_options(spec, caption_variants, irrelevant_word_share)  # after the manifest is read
    return manifest


def _prepare_out(args: argparse.Namespace) -> None:
    from ..errors import InputError
    from ..fileio import check_writable_dir_target, refuse_current_folder
    from ..training.distributed import launched_as_rank_zero

    # Under torchrun only rank 0 creates the run directory; the others wait for it at the first barrier.
    if args.resume or not launched_as_rank_zero():
        return
    refuse_current_folder(args.out, "run")  # before "pass --force", which would not be allowed either
    if args.out.exists() and not args.force:
        raise InputError(f"{args.out} already exists; pass --resume to continue it or --force to replace it")
    check_writable_dir_target(args.out, args.force, "run")  # --force deletes only an earlier run
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)


def data_spec(spec: str) -> str:
    """``--data`` as a run records it: a procedural name or the absolute path (a resume may start elsewhere)."""
    return spec if spec in PROCEDURAL_DATA else str(Path(spec).resolve())


def _resumed_data(args: argparse.Namespace, record: dict) -> str:
    """The data a resumed run continues on: its recorded --data; another --data is refused."""
    from ..errors import InputError

    recorded = record.get("data")
    if not isinstance(recorded, str):  # a run from before the data was recorded: the --data given (or procedural)
        recorded = None
    given = data_spec(args.data) if args.data is not None else None
    if recorded is not None and given is not None and given != recorded:
        raise InputError(f"{args.out} was trained on --data {recorded}; resume it with that data (or leave --data "
                         "out), or start a new run")
    return recorded or given or "procedural"


def _stage_options(args: argparse.Namespace, stage: str, record: dict, table: str, given: dict, phase: int = 0):
    """The stage's options (from the recipe's ``table``, at ``phase``): a resume continues on the run's recorded
    ones, changed only by what this command gives (--recipe, ``given``: --set parsed, --steps, --batch-size), and
    says which it changed."""
    from dataclasses import asdict

    from ..training.distributed import launched_as_rank_zero
    from ..training.loop import RUN_RECORD
    from ..training.recipe import builtin_recipe, changed_options, load_recipe, phase_count, recorded_options

    flags = {"steps": args.steps, "batch_size": args.batch_size}
    overrides = {**given, **{k: v for k, v in flags.items() if v is not None}}
    recipe = args.recipe or builtin_recipe("default")
    phases = phase_count(recipe, table)
    if phases > 1 and not getattr(args, "phased", False) and not args.resume and launched_as_rank_zero():
        print(f"note: the recipe's [{table}] goes on in {phases - 1} more phase(s), which 'train default' runs; "
              f"this run is its first (resume it with a phase's options to go on)")
    recorded = recorded_options(record, stage, str(args.out / RUN_RECORD)) if args.resume else None
    if recorded is None:
        return load_recipe(recipe, table, overrides, phase=phase)
    opts = load_recipe(args.recipe, table, overrides, base=asdict(recorded), phase=phase)
    changed = [c for c in changed_options(recorded, opts) if not c.startswith("steps ")]
    if changed and launched_as_rank_zero():  # under torchrun, said once
        print(f"resuming {args.out} with changed options: {'; '.join(changed)}")
    return opts


def run_stage(args: argparse.Namespace, stage: str, table: str | None = None, phase: int = 0) -> Path:
    """Train ``stage`` with the options of the recipe's ``table`` (default: the stage's own) at ``phase``."""
    import json

    from ..config import parse_config
    from ..errors import InputError
    from ..training.loop import load_checkpoint, read_run_record, train
    from ..training.stages import check_comb_free_upsamplers, check_edited_negatives

    if args.vae_from is not None and args.resume:
        raise InputError("--vae-from applies when a run starts; a resumed run keeps the VAE it began with")
    if args.widen_decoder is not None and args.resume:
        raise InputError("--widen-decoder applies when a run starts; a resumed run keeps the decoder it began with")
    record = read_run_record(args.out) if args.resume else {}
    given = parse_overrides(args.set)
    opts = _stage_options(args, stage, record, table or stage, given, phase)
    pipeline, ckpt = None, None
    if args.resume:  # read once: it holds the config the data needs and everything train() resumes
        ckpt = load_checkpoint(args.out, stage)  # before the data: a wrong stage is the error to report
        cfg = parse_config(json.loads(ckpt["config"]), str(args.out))
    else:
        pipeline = _pipeline_for(args, stage)
        if stage == "vae" and args.init is None:
            from ..training.stages import initialise_vae_weights
            initialise_vae_weights(pipeline, opts)
        cfg = pipeline.cfg
    check_crops(opts, cfg.downsampling_ratio)
    check_comb_free_upsamplers(getattr(opts, "comb_free_upsamplers", 0), cfg.decoder)
    spec = _resumed_data(args, record) if args.resume else data_spec(args.data or "procedural")
    opts, unused_tones = tone_options_for(spec, opts, set(given))
    data = make_dataset(spec, cfg, opts.dataset_size, opts.seed, latents_allowed=stage != "vae",
                        caption_variants=getattr(opts, "caption_variants", 1),
                        steady_tone_share=getattr(opts, "steady_tone_share", 0.0),
                        irrelevant_word_share=getattr(opts, "irrelevant_word_share", 0.0))
    note_unused_tone_options(spec, unused_tones)  # once the data is read: a bad --data is the error to report
    check_edited_negatives(getattr(opts, "edited_negatives", "none"), data)
    _prepare_out(args)
    return train(stage, pipeline, opts, data, args.out, ckpt, data_spec=spec,
                 lineage=None if args.resume else started_from(args))


def started_from(args: argparse.Namespace) -> dict[str, str]:
    """What a new run records it started from (``checkpoint.LINEAGE_KEYS``), so that ``arc-edge info`` can name
    every run behind a model, a decoder joined with --vae-from included."""
    from ..checkpoint import lineage_of, trained_record

    sources = {"from": args.init, "vae_from": args.vae_from}
    return {key: lineage_of(trained_record(path)) for key, path in sources.items() if path is not None}


def run_encode(args: argparse.Namespace) -> Path:
    from ..training.latent_cache import encode_dataset
    from ..training.recipe import builtin_recipe, load_recipe

    opts = load_recipe(args.recipe or builtin_recipe("default"), "rf")
    pipeline = _pipeline_for(args, "encode")
    data = make_dataset(args.data or "procedural", pipeline.cfg, opts.dataset_size, opts.seed, latents_allowed=False,
                        caption_variants=opts.caption_variants, irrelevant_word_share=opts.irrelevant_word_share)
    encode_dataset(pipeline, data, args.out, force=args.force)
    return args.out


DEFAULT_RECIPE_DATA = "procedural-grid"  # the default model's data: tones frame-locked (model card, step 5)


def run_default(args: argparse.Namespace) -> Path:
    """vae -> encode -> rf -> arc (-> decoder, when the recipe has that table) with the built-in recipe or
    --recipe, each in a sub-folder of --out, each table in its phases."""
    from ..errors import InputError
    from ..training.loop import load_checkpoint
    from ..training.recipe import builtin_recipe, load_recipe, phase_count, phase_steps, recipe_tables

    if args.set:
        raise InputError("--set overrides one stage; for 'train default' write a recipe and pass --recipe FILE")
    recipe = args.recipe or builtin_recipe("default")
    tables = recipe_tables(recipe)
    phases = {table: phase_count(recipe, table) for table in tables}
    if args.steps is not None and max(phases.values()) > 1:
        raise InputError("--steps would end every phase of the recipe at one step; write the steps into a copy of "
                         "the recipe and pass --recipe FILE")
    data = args.data or DEFAULT_RECIPE_DATA
    # every table and phase checked now, not when its stage starts an hour in (a run from --init: at its start)
    hop = _fresh_config(args).downsampling_ratio if args.init is None else None
    for table in tables:
        for phase in range(phases[table]):
            opts = load_recipe(recipe, table, phase=phase)
            if hop:
                check_crops(opts, hop)
    base = args.out
    _prepare_out(argparse.Namespace(out=base, resume=args.resume, force=args.force))

    def sub(stage: str, **kw) -> argparse.Namespace:
        ns = argparse.Namespace(**{**vars(args), "out": base / stage, "force": False, "recipe": recipe,
                                   "data": data, "phased": True, **kw})
        ns.resume = args.resume and (base / stage / "checkpoint.pt").is_file()
        return ns

    def run_phases(stage: str, table: str, **kw) -> Path:
        for phase in range(phases[table]):
            ns = sub(table, **kw)
            if ns.resume and load_checkpoint(ns.out, stage)["step"] >= phase_steps(recipe, table, phase):
                continue  # a resumed 'train default' skips the phases its run has finished
            ns.resume = ns.resume or phase > 0  # each later phase goes on from where the one before ended
            run_stage(ns, stage, table, phase)
        return base / table / "model"

    vae_model = run_phases("vae", "vae")
    if not (base / "latents").is_dir():  # the DiT learns the procedural captions, frame-locked if the VAE's were
        run_encode(sub("latents", init=vae_model, data=data if data in PROCEDURAL_DATA else "procedural"))
    rf_model = run_phases("rf", "rf", init=vae_model, data=str(base / "latents"))
    arc_model = run_phases("arc", "arc", init=rf_model, data=str(base / "latents"))
    if "decoder" not in tables:
        return arc_model
    # the decoder fine-tuned under the finished DiT: it sees the audio data again, its encoder frozen
    return run_phases("vae", "decoder", init=arc_model)


def _refuse_unused(args: argparse.Namespace, stage: str, options: tuple[str, ...]) -> None:
    from ..errors import InputError

    given = [f"--{o.replace('_', '-')}" for o in options if getattr(args, o) not in (None, False, [], "procedural", "tiny")]
    if given:
        raise InputError(f"'train {stage}' takes no {', '.join(given)}; see arc-edge train --help")


def run(args: argparse.Namespace) -> int:
    if args.stage not in ("rf", "arc"):
        _refuse_unused(args, args.stage, ("vae_from",))
    if args.stage != "decoder":
        _refuse_unused(args, args.stage, ("widen_decoder",))
    if args.stage == "clap":
        from ..embedding.train import train_embedder

        _refuse_unused(args, "clap", ("recipe", "data", "init", "t5", "set", "resume"))
        train_embedder(args.out, steps=args.steps or 2000, batch_size=args.batch_size or 64, force=args.force)
        out = args.out
    elif args.stage == "encode":
        _refuse_unused(args, "encode", ("set", "resume", "steps", "batch_size"))
        out = run_encode(args)
    elif args.stage == "default":
        out = run_default(args)
    elif args.stage == "decoder":
        if args.init is None and not args.resume:
            from ..errors import InputError
            raise InputError("'train decoder' needs --init MODEL_DIR: a finished model, whose decoder it fine-tunes "
                             "under its DiT")
        out = run_stage(args, "vae", table="decoder")
    else:
        out = run_stage(args, args.stage)
    print(f"done: {out}")
    return 0
