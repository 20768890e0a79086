"""``arc-edge eval``: prompt adherence, diversity, quality and latency of a model or a bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    add_bundle_args,
    add_model_args,
    add_threads_arg,
    finite_float,
    load_runtime,
    positive_int,
    progress_bar,
    subcommand,
)

MAX_EXTRA_WORDS = 16  # more would push most prompts past the 64-token limit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subcommand(sub, "eval", "measure prompt adherence, diversity and quality on a prompt set")
    add_model_args(p)
    add_bundle_args(p, "evaluate an exported bundle instead")
    p.add_argument("--steps", type=positive_int, default=8, help="sampler steps")
    p.add_argument("--sampler", choices=("pingpong", "euler"), default="pingpong", help="sampler")
    p.add_argument("--cfg", type=finite_float, default=None,
                   help="classifier-free guidance scale (default: 1 for pingpong, 6 for euler)")
    p.add_argument("--prompts", default="heldout",
                   help="built-in set: heldout (new phrasings), training-style (the training captions' phrasing, "
                        "new attribute draws) or natural (hand-written, as people type); or a JSONL of prompt + "
                        "attributes")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N prompts")
    p.add_argument("--extra-words", type=int, default=0, metavar="N",
                   help="put N everyday words no training caption uses into each prompt at random places (seeded "
                        "by --seed): how robust the model's reading of prompts is (default: 0, the prompts as written)")
    p.add_argument("--n-per-prompt", type=positive_int, default=2, help="generations per prompt")
    p.add_argument("--embedder", type=Path, default=None,
                   help="CLAP-style embedder directory (default: the bundled one; `arc-edge train clap` makes one)")
    p.add_argument("--no-embedder", action="store_true", help="analyser metrics only")
    p.add_argument("--vae-only", action="store_true",
                   help="score VAE encode+decode of the reference audio instead of generations (the latent ceiling)")
    p.add_argument("--frame-locked", action="store_true",
                   help="render the reference tones frame-locked (on the latent frame grid, phase 0), as "
                        "`train --data procedural-grid` trains: a --vae-only ceiling for such a VAE")
    p.add_argument("--seed", type=int, default=0, help="base seed of the generations")
    add_threads_arg(p)
    p.add_argument("--table", nargs="+", metavar="LABEL=REPORT.json", default=None,
                   help="instead of evaluating: print a markdown table of earlier reports")
    p.add_argument("--chart", type=Path, default=None, metavar="PNG",
                   help="with --table: also draw the reports side by side into this PNG")
    p.add_argument("--out", type=Path, default=None,
                   help="report JSON (required unless --table); its chart goes next to it (.png)")
    p.add_argument("--force", action="store_true", help="overwrite --out and its chart")
    p.set_defaults(run=run)


def print_table(items: list[str], chart: Path | None, force: bool) -> int:
    from ..errors import InputError
    from ..eval_chart import comparison_chart
    from ..evaluation import load_report, results_table
    from ..fileio import check_writable_target

    if chart is not None:
        check_writable_target(chart, force)
    reports = {}
    for item in items:
        label, sep, path = item.rpartition("=")
        if not sep or not label:
            raise InputError(f"--table {item!r}: give LABEL=REPORT.json")
        if label in reports:
            raise InputError(f"--table label {label!r} is given twice; give each report its own label")
        reports[label] = load_report(Path(path))
    print(results_table(reports))
    if chart is not None:
        print(f"wrote {comparison_chart(reports, chart)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..embedding.store import load_embedder
    from ..errors import InputError
    from ..eval_chart import report_chart
    from ..evaluation import evaluate, load_prompts, with_extra_words
    from ..fileio import check_writable_target, write_json

    if args.table:
        return print_table(args.table, args.chart, args.force)
    if args.chart is not None:
        raise InputError("--chart draws --table's reports; an evaluation's own chart goes next to its --out")
    if args.out is None:
        raise InputError("give --out REPORT.json (or --table LABEL=REPORT.json ... to tabulate reports)")
    chart = args.out.with_suffix(".png")
    if chart == args.out:
        raise InputError(f"--out {args.out} ends in .png, the name of its chart; give the report a .json name")
    for path in (args.out, chart):
        check_writable_target(path, args.force)
    if args.cfg is not None and args.cfg < 0:
        raise InputError(f"--cfg {args.cfg:g} is negative; use 1 for no guidance or a larger scale")
    if not 0 <= args.seed < 2**40:  # per-item seeds are derived from it and must stay below 2^63
        raise InputError(f"--seed {args.seed} is out of range; use 0 .. 2^40-1")
    if not 0 <= args.extra_words <= MAX_EXTRA_WORDS:
        raise InputError(f"--extra-words {args.extra_words} is out of range; use 0 .. {MAX_EXTRA_WORDS}")
    prompts = load_prompts(args.prompts, args.limit)  # before any model is loaded
    if args.extra_words:
        prompts = with_extra_words(prompts, args.extra_words, args.seed)
    if (args.n_per_prompt < 2 or len(prompts) < 2) and not args.vae_only:
        print("note: diversity needs 2 prompts or more and --n-per-prompt 2 or more; it is left out of this report")
    if len(prompts) * args.n_per_prompt < 2:
        print("note: the Frechet distance needs 2 clips or more; it is left out of this report")
    embedder = None if args.no_embedder else load_embedder(args.embedder)
    runtime = load_runtime(args)
    with progress_bar(len(prompts) * args.n_per_prompt, "evaluating", unit="gen") as bar:
        report = evaluate(runtime, prompts, args.n_per_prompt, args.steps, args.sampler, args.cfg, args.seed,
                          on_item=lambda: bar.update(1), vae_only=args.vae_only, embedder=embedder,
                          frame_locked=args.frame_locked)
    report["source"] = runtime.description
    report["prompt_set"] = str(args.prompts)
    report["extra_words"] = args.extra_words
    write_json(args.out, report)
    report_chart(report, chart, f"{report['source']}: {report['prompt_set']}, {report['mode']}")
    a = report["adherence"]
    refs = " (frame-locked references)" if args.frame_locked else ""
    print(f"{runtime.description}{refs}: adherence {a['overall']:.3f} (chance {a['chance']:.3f}) "
          + " ".join(f"{k} {v:.2f}" for k, v in a["per_attribute"].items())
          + (f"  diversity {report['diversity']:.3f}" if report["diversity"] is not None else "")
          + (f"  FD {report['frechet_distance']:.2f}" if report["frechet_distance"] is not None else "")
          + f"  {report['latency_s']['mean'] * 1e3:.0f} ms/gen")
    if report["learned_embedding"]:
        e = report["learned_embedding"]
        print(f"learned embedding: CLAP score {e['clap_score']:.3f} (reference {e['reference_clap_score']:.3f})"
              + (f"  diversity {e['diversity']:.3f}" if e["diversity"] is not None else "")
              + (f"  FD {e['frechet_distance']:.3f}" if e["frechet_distance"] is not None else ""))
    if report["waveform_heard"]:
        print("waveform heard, by sound asked for:")
        for sound, heard in report["waveform_heard"].items():
            print(f"  {sound}: " + ", ".join(f"{waveform} {n}" for waveform, n in heard.items() if n)
                  + f" ({heard.get(sound.partition(' ')[0], 0)} of {sum(heard.values())} right)")
    if report["band_response"]:
        from ..data.band_response import format_band_response
        print("band response (reconstruction / reference, median per waveform and register):")
        for line in format_band_response(report["band_response"]):
            print(f"  {line}")
    print(f"wrote {args.out} and {chart}")
    return 0
