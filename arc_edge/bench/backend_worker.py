"""One step of the backend comparison in a fresh process, so its peak RSS is its own; results go
to a JSON file (never scraped from printed text).

python -m arc_edge.bench.backend_worker export --model DIR --format F --recipe R --out BUNDLE --result FILE
python -m arc_edge.bench.backend_worker measure (--model DIR | --bundle DIR) --runs N --warmup K
       [--threads T] --prompt TEXT [--seconds S] --steps N --result FILE
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from ..commands.common import decode_window_arg


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export(args: argparse.Namespace) -> dict:
    from ..checkpoint import load_model
    from ..export.exporter import ExportOptions, export_bundle
    from ..export.recipes import load_export_recipe

    pipeline, source = load_model(args.model)
    t0 = time.perf_counter()
    opts = ExportOptions(load_export_recipe(args.recipe), args.format, steps=args.steps,
                         decode_window=args.decode_window)
    manifest = export_bundle(pipeline, args.out, opts, force=True, log=lambda _: None, source=source)
    return {"export_seconds": round(time.perf_counter() - t0, 1), "export_peak_rss_mb": round(_peak_mb(), 1),
            "parity_snr_db": {k: round(v["snr_db"], 1) for k, v in manifest["parity"].items()},
            "bundle_mb": round(sum(p.stat().st_size for p in args.out.iterdir()) / 2**20, 1)}


def measure(args: argparse.Namespace) -> dict:
    from ..commands.common import set_threads
    from ..generate import GenerationRequest, generate

    set_threads(args.threads)
    if args.bundle:
        from ..export.bundle import BundleRuntime
        runtime = BundleRuntime(args.bundle, args.threads)
    else:
        from ..checkpoint import load_model_dir
        runtime = load_model_dir(args.model)
    rss_loaded = _peak_mb()
    seconds = args.seconds or runtime.default_seconds()
    req = GenerationRequest(args.prompt, seconds, args.steps, seed=0)
    runs = []
    for i in range(args.warmup + args.runs):
        res = generate(runtime, req)
        if i >= args.warmup:
            runs.append({"conditioners_ms": res.stage_ms["conditioners"], "dit_step_ms": res.step_ms,
                         "dit_total_ms": res.stage_ms["dit_total"], "decoder_ms": res.stage_ms["decoder"],
                         "first_audio_ms": res.stage_ms["first_audio"], "total_ms": res.stage_ms["total"]})
    return {"runs": runs, "seconds": seconds, "steps": args.steps, "threads": args.threads,
            "peak_rss_mb": round(_peak_mb(), 1), "rss_after_load_mb": round(rss_loaded, 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    e = sub.add_parser("export")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--format", required=True)
    e.add_argument("--recipe", required=True)
    e.add_argument("--steps", type=int, default=8)
    e.add_argument("--decode-window", type=decode_window_arg, default="auto")
    e.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("measure")
    m.add_argument("--model", type=Path)
    m.add_argument("--bundle", type=Path)
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--warmup", type=int, default=1)
    m.add_argument("--threads", type=int, default=None)
    m.add_argument("--prompt", required=True)
    m.add_argument("--seconds", type=float, default=None)
    m.add_argument("--steps", type=int, default=8)
    for q in (e, m):
        q.add_argument("--result", type=Path, required=True)
    args = p.parse_args()

    from ..cli import quiet_third_party

    quiet_third_party()
    result = export(args) if args.what == "export" else measure(args)
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
