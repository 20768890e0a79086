"""``arc-edge export``: a model directory -> an ExecuTorch (or ONNX) bundle, behind the parity gate."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import add_model_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to an ExecuTorch/XNNPACK (or ONNX) bundle")
    add_model_args(p)
    p.add_argument("--quant", default="int8",
                   help="export recipe: a name from export/recipes (int8, fp32) or a .toml path (default int8)")
    p.add_argument("--format", choices=("executorch", "onnx"), default="executorch")
    p.add_argument("--seconds", type=float, default=None, help="default duration stored in the bundle")
    p.add_argument("--with-encoder", action="store_true", help="also export the VAE encoder (audio-to-audio)")
    p.add_argument("--out", type=Path, required=True, help="bundle directory to create")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import resource

    from ..checkpoint import load_model
    from ..errors import InputError
    from ..export.exporter import ExportOptions, export_bundle
    from ..export.recipes import load_export_recipe
    from ..fileio import check_writable_target

    recipe = load_export_recipe(args.quant)
    check_writable_target(args.out, args.force)
    pipeline, source = load_model(args.model, args.t5)
    if args.seconds is not None and not 0 < args.seconds <= pipeline.cfg.max_seconds:
        raise InputError(f"--seconds {args.seconds:g} is out of range (0, {pipeline.cfg.max_seconds:.2f}]")
    print(f"model: {source.description}; recipe: {recipe.name} ({recipe.description}); format: {args.format}")
    t0 = time.perf_counter()
    manifest = export_bundle(pipeline, args.out, ExportOptions(recipe, args.format, args.seconds, args.with_encoder),
                             force=args.force)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size_mb = sum(p.stat().st_size for p in Path(args.out).iterdir()) / 2**20
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f} s, peak RSS {peak_mb:.0f} MB")
    print(json.dumps({k: round(v["snr_db"], 1) for k, v in manifest["parity"].items()}))
    return 0
