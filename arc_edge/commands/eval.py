"""``arc-edge eval``: prompt adherence, diversity, quality and latency of a model or a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_model_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure prompt adherence, diversity and quality on a prompt set")
    add_model_args(p)
    p.add_argument("--bundle", type=Path, default=None, help="evaluate an exported bundle instead")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--sampler", choices=("pingpong", "euler"), default="pingpong")
    p.add_argument("--cfg", type=float, default=1.0, help="CFG scale (euler)")
    p.add_argument("--prompts", default="heldout",
                   help="built-in set: heldout (new phrasings, the default) or training-style (the training "
                        "captions' phrasing, new attribute draws); or a JSONL of prompt + attributes")
    p.add_argument("--limit", type=int, default=None, help="use only the first N prompts")
    p.add_argument("--n-per-prompt", type=int, default=2)
    p.add_argument("--embedder", type=Path, default=None,
                   help="CLAP-style embedder directory (default: the bundled one; `arc-edge train clap` makes one)")
    p.add_argument("--no-embedder", action="store_true", help="analyser metrics only")
    p.add_argument("--vae-only", action="store_true",
                   help="score VAE encode+decode of the reference audio instead of generations (the latent ceiling)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", nargs="+", metavar="LABEL=REPORT.json", default=None,
                   help="instead of evaluating: print a markdown table of earlier reports")
    p.add_argument("--out", type=Path, default=None, help="report JSON (required unless --table)")
    p.add_argument("--force", action="store_true")
    p.set_defaults(run=run)


def print_table(items: list[str]) -> int:
    import json

    from ..errors import InputError
    from ..evaluation import results_table

    reports = {}
    for item in items:
        label, sep, path = item.rpartition("=")
        if not sep or not Path(path).is_file():
            raise InputError(f"--table {item!r}: give LABEL=REPORT.json with an existing report")
        reports[label] = json.loads(Path(path).read_text())
    print(results_table(reports))
    return 0


def run(args: argparse.Namespace) -> int:
    from ..embedding.store import load_embedder
    from ..errors import InputError
    from ..evaluation import evaluate, load_prompts
    from ..fileio import check_writable_target, write_json
    from .common import load_runtime, progress_bar

    if args.table:
        return print_table(args.table)
    if args.out is None:
        raise InputError("give --out REPORT.json (or --table LABEL=REPORT.json ... to tabulate reports)")
    check_writable_target(args.out, args.force)
    embedder = None if args.no_embedder else load_embedder(args.embedder)
    runtime, cfg, tokenizer, source = load_runtime(args)
    prompts = load_prompts(args.prompts, args.limit)
    bar = progress_bar(len(prompts) * args.n_per_prompt, "evaluating", unit="gen")
    report = evaluate(runtime, tokenizer, cfg, prompts, args.n_per_prompt, args.steps, args.sampler, args.cfg,
                      args.seed, on_item=lambda: bar.update(1), vae_only=args.vae_only,
                      embedder=embedder)
    bar.close()
    report["source"] = source
    report["prompt_set"] = str(args.prompts)
    write_json(args.out, report)
    a = report["adherence"]
    print(f"{source}: adherence {a['overall']:.3f} (chance {a['chance']:.3f}) "
          + " ".join(f"{k} {v:.2f}" for k, v in a["per_attribute"].items())
          + (f"  diversity {report['diversity']:.3f}" if report["diversity"] is not None else "")
          + f"  FD {report['frechet_distance']:.2f}  {report['latency_s']['mean'] * 1e3:.0f} ms/gen")
    if report["learned_embedding"]:
        e = report["learned_embedding"]
        print(f"learned embedding: CLAP score {e['clap_score']:.3f} (reference {e['reference_clap_score']:.3f})"
              + (f"  diversity {e['diversity']:.3f}" if e["diversity"] is not None else "")
              + f"  FD {e['frechet_distance']:.3f}")
    print(f"wrote {args.out}")
    return 0
