"""``arc-edge generate``: text (and optionally init audio) to a WAV file."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_model_args, load_runtime, progress_bar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate audio from a text prompt")
    p.add_argument("prompt", help="what to generate, e.g. \"a low sine wave panned left\"")
    p.add_argument("--seconds", type=float, default=None, help="duration (default: the model's maximum)")
    p.add_argument("--steps", type=int, default=8, help="sampler steps (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", choices=("pingpong", "euler"), default="pingpong",
                   help="pingpong for ARC models; euler (with --cfg) for the rectified-flow base model")
    p.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (euler only)")
    p.add_argument("--init-audio", type=Path, default=None, help="audio-to-audio: start from this file")
    p.add_argument("--init-noise", type=float, default=1.0, help="sigma_max (< 1 keeps some init audio)")
    p.add_argument("--out", type=Path, default=Path("out.wav"))
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--bundle", type=Path, default=None,
                   help="run an exported bundle (ExecuTorch or ONNX) instead of the eager PyTorch model")
    p.add_argument("--threads", type=int, default=None, help="threads for a bundle's runtime (onnx)")
    add_model_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..audio_io import fit_length, read_audio, write_wav
    from ..fileio import check_writable_target
    from ..generate import GenerationRequest, generate, validate_request

    check_writable_target(args.out, args.force)
    runtime, cfg, tokenizer, description = load_runtime(args)
    seconds = cfg.max_seconds if args.seconds is None else args.seconds
    req = GenerationRequest(prompt=args.prompt, seconds=seconds, steps=args.steps, seed=args.seed,
                            sampler=args.sampler, cfg_scale=args.cfg, init_noise=args.init_noise)
    if args.init_audio is not None:
        req.init_audio = fit_length(read_audio(args.init_audio, cfg.sample_rate, cfg.audio_channels),
                                    cfg.sample_size)
    validate_request(cfg, req)
    print(f"model: {description}")
    bar = progress_bar(args.steps, "sampling")
    result = generate(runtime, tokenizer, cfg, req, on_step=lambda i, n: bar.update(1))
    bar.close()
    write_wav(args.out, result.audio, result.sample_rate)
    stages = "  ".join(f"{k} {v:.0f} ms" for k, v in result.stage_ms.items())
    print(f"timing: {stages}  (per step {sum(result.step_ms) / len(result.step_ms):.0f} ms)")
    print(f"wrote {args.out} ({result.audio.shape[1] / result.sample_rate:.2f} s, {result.sample_rate} Hz, "
          f"{result.audio.shape[0]} ch)")
    return 0
