"""``arc-edge export``: a model directory -> an ExecuTorch (or ONNX) bundle, behind the parity gate."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import add_model_args, add_threads_arg, decode_window_arg, finite_float, positive_int, subcommand


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..export.recipes import QLINEAR_NAMES, available_recipes

    p = subcommand(sub, "export", "export a model to an ExecuTorch/XNNPACK (or ONNX) bundle")
    add_model_args(p)
    p.add_argument("--quant", default=None,
                   help=f"export recipe: {', '.join(available_recipes())} or a .toml path (default: int8)")
    p.add_argument("--qlinear", choices=tuple(QLINEAR_NAMES), default=None,
                   help="optimum-cli's name for a recipe: " + ", ".join(f"{k} = {v}" for k, v in QLINEAR_NAMES.items()))
    p.add_argument("--format", choices=("executorch", "onnx"), default="executorch", help="bundle format")
    p.add_argument("--seconds", type=finite_float, default=None, help="default duration stored in the bundle "
                                                                       "(default: the model's maximum)")
    p.add_argument("--steps", type=positive_int, default=8, help="default sampler steps stored in the bundle")
    p.add_argument("--decode-window", type=decode_window_arg, default="auto",
                   help="latent frames per decoder call: auto (the whole clip up to 128 frames, else the fewest equal "
                   "windows of at most 128), whole, or a number")
    p.add_argument("--decode-overlap", type=positive_int, default=None,
                   help="latent frames two neighbouring windows share (default: twice the decoder's receptive field)")
    p.add_argument("--with-encoder", action="store_true", help="also export the VAE encoder (audio-to-audio)")
    add_threads_arg(p)
    p.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import resource

    from ..checkpoint import load_model
    from ..decoding import check_duration
    from ..errors import InputError
    from ..export.exporter import ExportOptions, export_bundle
    from ..export.manifest import manifest_digest
    from ..export.recipes import QLINEAR_NAMES, load_export_recipe
    from ..fileio import check_writable_dir_target
    from .common import set_threads

    if args.quant is not None and args.qlinear is not None:
        raise InputError("give --quant or --qlinear, not both")
    recipe = load_export_recipe(QLINEAR_NAMES.get(args.qlinear, args.quant or "int8"))
    check_writable_dir_target(args.out, args.force, "bundle")
    if args.seconds is not None:
        check_duration(args.seconds)
    set_threads(args.threads)
    pipeline, source = load_model(args.model, args.t5)
    if args.seconds is not None:
        check_duration(args.seconds, pipeline.cfg.max_seconds)
    print(f"model: {source.description}; recipe: {recipe.name} ({recipe.description}); format: {args.format}")
    t0 = time.perf_counter()
    opts = ExportOptions(recipe, args.format, args.seconds, args.with_encoder, args.steps, args.decode_window,
                         args.decode_overlap)
    manifest = export_bundle(pipeline, args.out, opts, force=args.force, source=source)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for p in Path(args.out).iterdir()) / 2**20
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f} s, peak RSS {peak_mb:.0f} MB")
    print(json.dumps({k: round(v["snr_db"], 1) for k, v in manifest["parity"].items()}))
    print(f"bundle digest: sha256:{manifest_digest(args.out)}  (pin it with --bundle-digest)")
    return 0
