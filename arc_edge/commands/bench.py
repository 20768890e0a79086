"""``arc-edge bench``: the native runner on a device (local, qemu, adb), with statistics and charts."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PROMPT = "a low sine wave panned left, pulsing slowly"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure a bundle with the native runner on local, qemu or adb devices, "
                                     "or compare Python backends side by side (--backends)")
    p.add_argument("--bundle", type=Path, default=None, help="ExecuTorch bundle from `arc-edge export`")
    p.add_argument("--backends", default=None,
                   help="compare backends instead, e.g. eager-fp32,et-fp32,et-int8,ort-fp32,ort-int8")
    p.add_argument("--model", type=Path, default=None, help="--backends: model directory (default: bundled model)")
    p.add_argument("--config", choices=("saos", "tiny"), default=None,
                   help="--backends: a built-in architecture with random weights (e.g. the full SAOS size)")
    p.add_argument("--work", type=Path, default=None, help="--backends: folder for exported bundles (default: temp)")
    p.add_argument("--device", default="local", help="local | qemu | adb | adb:SERIAL (default local)")
    p.add_argument("--runner", choices=("native", "app"), default="native",
                   help="adb only: arc_runner (native) or the installed Android demo app's benchmark entry point")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="XNNPACK threads (default: the runtime's choice)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--timeout", type=float, default=1800, help="seconds before the runner is stopped")
    p.add_argument("--out", type=Path, default=Path("bench_results.json"), help="results JSON (+ .csv, .png)")
    p.add_argument("--wav", type=Path, default=None, help="also keep the generated WAV here")
    p.add_argument("--compare", type=Path, default=None, help="an earlier results JSON to compare with")
    p.add_argument("--cleanup", action="store_true", help="remove the files pushed to the device afterwards")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.devices import open_device
    from ..bench.native import bench_native
    from ..bench.report import load_previous, table, write_outputs
    from ..errors import InputError
    from ..fileio import check_writable_target

    if args.runs < 1 or args.warmup < 0:
        raise InputError("--runs must be at least 1 and --warmup at least 0")
    check_writable_target(args.out, args.force)
    if args.backends:
        return run_backends(args)
    if args.bundle is None:
        raise InputError("give --bundle DIR (native runner on a device) or --backends LIST (Python side by side)")
    previous = load_previous(args.compare) if args.compare else None
    device = open_device(args.device, args.runner)
    try:
        result = bench_native(args.bundle, device, args.runs, args.warmup, args.threads, args.prompt,
                              args.seconds, args.steps, args.timeout, args.wav)
    finally:
        if args.cleanup or device.name != "adb":
            device.cleanup()
    result["title"] = f"{args.bundle.name} on {result['device']['device']}"
    written = write_outputs(result, args.out)
    if result["summary"]:
        print(table(result["summary"], previous))
    if result["emulated_timings"]:
        print("note: qemu timings are emulated and mean nothing; the numerics and Arm code paths are real")
    print("wrote " + ", ".join(str(p) for p in written))
    if not result["complete"]:
        kept = "partial results kept" if result["partial"] else "no results"
        print(f"arc-edge: error: {result['error']} ({kept}, marked incomplete in {args.out})")
        return 3
    return 0


def run_backends(args: argparse.Namespace) -> int:
    import tempfile

    from ..bench.backends import backends_chart, backends_table, compare_backends, parse_backends
    from ..fileio import write_json

    names = parse_backends(args.backends)
    work = args.work or Path(tempfile.mkdtemp(prefix="arc-edge-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or _model_dir_for(args.config, work)
    results = compare_backends(model_dir, names, args.runs, args.warmup, args.threads, work)
    title = f"{args.config or model_dir.name}: 8 steps, {args.threads or 'default'} threads"
    write_json(args.out, {"model": str(model_dir), "config": args.config, "threads": args.threads,
                          "runs": args.runs, "warmup": args.warmup, "backends": results})
    chart = backends_chart(results, args.out.with_suffix(".png"), title)
    print(backends_table(results))
    print(f"wrote {args.out}, {chart}")
    return 0


def _model_dir_for(config: str | None, work: Path) -> Path:
    """A model directory for the benchmark: a built-in architecture with seeded random weights, or the default."""
    from ..checkpoint import default_model_dir, random_pipeline, save_model_dir
    from ..config import builtin_config

    if config is None:
        return default_model_dir()
    out = work / f"random-{config}"
    if not (out / "model.safetensors").is_file():
        print(f"creating a {config} model with random weights in {out} ...")
        save_model_dir(random_pipeline(builtin_config(config), seed=0), out, force=True)
    return out
