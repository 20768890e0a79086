"""``arc-edge generate``: text (and optionally init audio) to a WAV file."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .common import (
    add_bundle_args,
    add_model_args,
    add_threads_arg,
    finite_float,
    load_runtime,
    progress_bar,
    subcommand,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..generate import DEFAULT_CFG

    p = subcommand(sub, "generate", "generate audio from a text prompt")
    p.add_argument("prompt", help="what to generate, e.g. \"a low sine wave panned left\"")
    p.add_argument("--seconds", type=finite_float, default=None,
                   help="duration (default: the model's length; with --bundle, the duration it was exported for)")
    p.add_argument("--steps", type=int, default=8, help="sampler steps")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--sampler", choices=("pingpong", "euler"), default="pingpong",
                   help="pingpong for ARC models; euler for the rectified-flow base model")
    p.add_argument("--cfg", type=finite_float, default=None,
                   help="classifier-free guidance scale (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_CFG.items()) + ")")
    p.add_argument("--init-audio", type=Path, default=None, help="audio-to-audio: start from this file")
    p.add_argument("--init-noise", type=finite_float, default=1.0,
                   help="sigma_max: below 1 keeps part of the init audio")
    p.add_argument("--out", type=Path, default=Path("out.wav"), help="WAV file to write (a name ending in .wav)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    add_bundle_args(p, "run an exported bundle (ExecuTorch or ONNX) instead of the eager PyTorch model")
    add_threads_arg(p)
    add_model_args(p)
    p.set_defaults(run=run)


def _note_out_of_domain(args: argparse.Namespace) -> None:
    """The bundled default model knows only synthetic tones; say so when a prompt asks for anything else."""
    import sys

    from ..data.procedural import in_domain

    if args.model is None and getattr(args, "bundle", None) is None and not in_domain(args.prompt):
        print("note: the bundled default model renders only synthetic tones (sine, square, saw or noise; pitch, "
              "pulsing, pan, fades) and this prompt names none of them; expect an unrelated tone, or pass --model "
              "with a model trained on real audio", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from ..audio_io import check_wav_target, fit_length, read_audio, write_wav
    from ..generate import GenerationRequest, generate, validate_options, validate_request

    check_wav_target(args.out, args.force)
    req = GenerationRequest(prompt=args.prompt, seconds=args.seconds if args.seconds is not None else 1.0,
                            steps=args.steps, seed=args.seed, sampler=args.sampler, cfg_scale=args.cfg,
                            init_noise=args.init_noise)
    validate_options(req, args.init_audio is not None)  # before any model is loaded
    if not args.prompt.strip():
        from ..errors import InputError

        raise InputError("the prompt is empty; describe the sound to generate, e.g. \"a soft sine tone\"")
    runtime = load_runtime(args)
    _note_out_of_domain(args)
    cfg = runtime.cfg
    req.seconds = runtime.default_seconds() if args.seconds is None else args.seconds
    if args.init_audio is not None:
        req.init_audio = fit_length(read_audio(args.init_audio, cfg.sample_rate, cfg.audio_channels), cfg.sample_size)
    validate_request(cfg, req)
    print(f"model: {runtime.description}")
    with progress_bar(args.steps, "sampling") as bar:
        result = generate(runtime, req, on_step=lambda i, n: bar.update(1))
    gain = write_wav(args.out, result.audio, result.sample_rate)
    if gain < 1.0:
        print(f"note: the clip peaked {-20 * math.log10(gain):.1f} dB over full scale; it was written that much "
              "quieter rather than clipped")
    stages = "  ".join(f"{k} {v:.0f} ms" for k, v in result.stage_ms.items())
    print(f"timing: {stages}  (per step {sum(result.step_ms) / len(result.step_ms):.0f} ms)")
    print(f"wrote {args.out} ({result.audio.shape[1] / result.sample_rate:.2f} s, {result.sample_rate} Hz, "
          f"{result.audio.shape[0]} ch)")
    return 0
