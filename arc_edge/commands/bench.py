"""``arc-edge bench``: two tools.

- ``bench device``: the native runner (or the Android app) on local, qemu or adb devices, with
  statistics, charts and comparison with an earlier run;
- ``bench backends``: Python backends (eager, ExecuTorch, onnxruntime) side by side on one model.

The older spellings ``arc-edge bench --bundle ...`` and ``arc-edge bench --backends ...`` still
work: ``cli.main`` routes them to the sub-commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import decode_window_arg, finite_float, non_negative_int, positive_int, subcommand

TOOLS = ("device", "backends", "profile")


def legacy_argv(argv: list[str]) -> list[str]:
    """``bench --bundle ...`` -> ``bench device --bundle ...``; ``bench --backends ...`` -> ``bench backends ...``;
    ``bench --profile --bundle ...`` -> ``bench profile --bundle ...``."""
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] not in (*TOOLS, "-h", "--help"):
        if "--profile" in argv:
            return ["bench", "profile", *(a for a in argv[1:] if a != "--profile")]
        return ["bench", "backends" if "--backends" in argv else "device", *argv[1:]]
    return argv


def _common(p: argparse.ArgumentParser) -> None:
    from ..generate import DEFAULT_PROMPT

    p.add_argument("--runs", type=positive_int, default=5, help="measured generations")
    p.add_argument("--warmup", type=non_negative_int, default=1, help="generations before measuring")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: the runtime's choice)")
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help="the prompt every run generates")
    p.add_argument("--seconds", type=finite_float, default=None, help="duration (default: the model's maximum)")
    p.add_argument("--steps", type=positive_int, default=None, help="sampler steps (default: the bundle's, 8)")
    p.add_argument("--force", action="store_true", help="overwrite --out and the files beside it")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = subcommand(sub, "bench", "measure speed and memory: `bench device` (native runner on a device) or "
                                 "`bench backends` (Python backends side by side)")
    tools = p.add_subparsers(dest="tool", required=True, metavar="{device,backends,profile}")
    d = subcommand(tools, "device", "a bundle with the native runner (or the Android app) on local, qemu or adb")
    d.add_argument("--bundle", type=Path, required=True, help="ExecuTorch bundle from `arc-edge export`")
    d.add_argument("--bundle-digest", default=None, metavar="SHA256", help="refuse a bundle whose manifest differs")
    d.add_argument("--device", default="local", help="local | qemu | adb | adb:SERIAL")
    d.add_argument("--runner", choices=("native", "app"), default="native",
                   help="adb only: arc_runner (native) or the installed Android demo app's benchmark entry point")
    _common(d)
    d.add_argument("--cfg", type=finite_float, default=None, help="classifier-free guidance scale (default 1: none)")
    d.add_argument("--timeout", type=finite_float, default=1800, help="seconds before the runner is stopped")
    d.add_argument("--out", type=Path, default=Path("bench_results.json"), help="results JSON (+ .csv, .png beside it)")
    d.add_argument("--wav", type=Path, default=None, help="also keep the generated WAV here (a name ending in .wav)")
    d.add_argument("--compare", type=Path, default=None, help="an earlier results JSON to compare with")
    d.add_argument("--cleanup", action="store_true", help="remove the files pushed to the device afterwards")
    d.add_argument("--selftest", action="store_true",
                   help="instead of timing: run every graph on the bundle's stored inputs and check its numbers "
                        "(SNR per graph against the recipe's threshold; exit 4 when a graph fails)")
    d.set_defaults(run=run_device)

    b = subcommand(tools, "backends", "eager PyTorch, ExecuTorch and onnxruntime side by side, each in a fresh process")
    from ..bench.backends import BACKENDS, DEFAULT_BACKENDS

    b.add_argument("--backends", default=DEFAULT_BACKENDS,
                   help=f"comma-separated: {', '.join(BACKENDS)} (et-/ort-: the bundle from Python; native-: "
                        "arc_runner on this machine; the part after the prefix is the export recipe)")
    b.add_argument("--model", type=Path, default=None, help="model directory (default: the bundled model)")
    b.add_argument("--config", choices=("saos", "tiny"), default=None,
                   help="a built-in architecture with random weights instead (e.g. the full SAOS size)")
    b.add_argument("--decode-window", type=decode_window_arg, default="auto",
                   help="latent frames per decoder call: auto (the whole clip up to 128 frames, else the fewest equal "
                   "windows of at most 128), whole, or a number")
    b.add_argument("--work", type=Path, default=None, help="folder for the exported bundles (default: a temp folder)")
    b.add_argument("--reuse-exports", action="store_true",
                   help="measure the bundles an earlier run left in --work (same recipes, hashes verified) "
                        "instead of exporting again")
    _common(b)
    b.add_argument("--out", type=Path, default=Path("backends.json"), help="results JSON (+ .png beside it)")
    b.set_defaults(run=run_backends)

    f = subcommand(tools, "profile", "per-operator times of each graph of an ExecuTorch bundle (ETDump + Inspector)")
    f.add_argument("--bundle", type=Path, required=True, help="ExecuTorch bundle from `arc-edge export`")
    f.add_argument("--runs", type=positive_int, default=3, help="calls of each graph that are averaged")
    f.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: the runtime's choice)")
    f.add_argument("--top", type=positive_int, default=12, help="operator kinds listed per graph")
    f.add_argument("--etdump", default=None, metavar="PREFIX",
                   help="read the dumps `arc_runner --etdump PREFIX` wrote (PREFIX.GRAPH.etdp) instead of measuring here")
    f.add_argument("--out", type=Path, default=Path("profile.json"), help="results JSON")
    f.add_argument("--force", action="store_true", help="overwrite --out")
    f.set_defaults(run=run_profile)


def run_device(args: argparse.Namespace) -> int:
    from ..audio_io import check_wav_target
    from ..bench.devices import open_device
    from ..bench.native import DeviceBenchOptions, bench_native, bench_selftest
    from ..bench.report import check_outputs, load_previous, table, write_outputs
    from ..decoding import check_duration
    from ..errors import InputError

    check_outputs(args.out, args.force)
    if args.wav is not None:
        check_wav_target(args.wav, args.force, "--wav")
    if args.timeout <= 0:
        raise InputError(f"--timeout {args.timeout:g} must be above 0 seconds")
    if args.seconds is not None:
        check_duration(args.seconds)
    if not args.prompt.strip():
        raise InputError("--prompt is empty; describe the sound to generate")
    previous = load_previous(args.compare) if args.compare else None
    opts = DeviceBenchOptions(args.runs, args.warmup, args.threads, args.prompt, args.seconds, args.steps, args.cfg,
                              args.timeout, args.wav, args.bundle_digest)
    device = open_device(args.device, args.runner)
    try:
        result = (bench_selftest if args.selftest else bench_native)(args.bundle, device, opts)
    finally:
        if args.cleanup or device.name != "adb":
            device.cleanup()
    result["title"] = f"{args.bundle.name} on {result['device']['device']}"
    written = write_outputs(result, args.out)
    if args.selftest:
        return _selftest_verdict(result, written)
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


def _selftest_verdict(result: dict, written: list) -> int:
    from ..bench.report import selftest_table

    print("wrote " + ", ".join(str(p) for p in written))
    verdict = result.get("selftest")
    if verdict is None:
        print(f"arc-edge: error: the self-test did not run: {result.get('error', 'no report from the device')}")
        return 3
    print(selftest_table(verdict))
    failed = [f"{name} {g['snr_db']:.1f} dB < {g['min_snr_db']:.1f} dB" for name, g in verdict["graphs"].items()
              if not g["passed"]]
    if failed:
        print(f"arc-edge: error: numerics self-test FAILED on {result['device']['device']}: {'; '.join(failed)} "
              "(this device computes the bundle's graphs wrongly)")
        return 4
    print(f"numerics self-test passed on {result['device']['device']}")
    return 0


def run_backends(args: argparse.Namespace) -> int:
    import tempfile

    from ..bench.backends import BackendsOptions, backends_table, compare_backends, parse_backends
    from ..bench.charts import stage_chart
    from ..bench.sysinfo import machine
    from ..bench.targets import check_targets, targets_table
    from ..decoding import check_duration
    from ..errors import InputError
    from ..fileio import check_writable_target, write_json

    names = parse_backends(args.backends)
    for path in (args.out, args.out.with_suffix(".png")):
        check_writable_target(path, args.force)
    if args.model is not None and args.config is not None:
        raise InputError("give --model or --config, not both")
    if args.seconds is not None:
        check_duration(args.seconds)
    if not args.prompt.strip():
        raise InputError("--prompt is empty; describe the sound to generate")
    if args.reuse_exports and args.work is None:
        raise InputError("--reuse-exports needs --work: the folder an earlier run exported into")
    if args.work is not None and args.work.exists() and not args.work.is_dir():
        raise InputError(f"--work {args.work} is not a folder; give a folder for the exported bundles")
    work = args.work or Path(tempfile.mkdtemp(prefix="arc-edge-backends-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or _model_dir_for(args.config, work)
    opts = BackendsOptions(args.runs, args.warmup, args.threads, args.prompt, args.seconds, args.steps or 8,
                           args.decode_window, args.reuse_exports)
    results = compare_backends(model_dir, names, work, opts)
    title = f"{args.config or model_dir.name}: {opts.steps} steps, {args.threads or 'default'} threads"
    report = {"model": str(model_dir), "config": args.config, "threads": args.threads, "machine": machine(),
              "prompt": args.prompt, "steps": opts.steps, "runs": args.runs, "warmup": args.warmup,
              "backends": results}
    if args.config == "saos":
        report["targets"] = check_targets(results)
    write_json(args.out, report)
    chart = stage_chart({n: r["summary"] for n, r in results.items()}, args.out.with_suffix(".png"), title)
    print(backends_table(results))
    if "targets" in report:
        print(targets_table(report["targets"]))
    print(f"wrote {args.out}, {chart}")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from ..bench.profile import ProfileOptions, profile_bundle, profile_table
    from ..bench.sysinfo import machine
    from ..fileio import check_writable_target, write_json

    check_writable_target(args.out, args.force)
    result = profile_bundle(args.bundle, ProfileOptions(args.runs, args.threads, args.top), args.etdump)
    if args.etdump is None:
        result["machine"] = machine()
    write_json(args.out, result)
    print(profile_table(result))
    print(f"wrote {args.out}")
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
