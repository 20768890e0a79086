"""Arguments and helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (argparse's own formatter, without 'None' noise)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


def subcommand(sub: argparse._SubParsersAction, name: str, help_text: str, **kw) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter, **kw)


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None,
                   help="model directory (model_config.json + model.safetensors); default: the bundled model")
    p.add_argument("--t5", type=Path, default=None,
                   help="local T5 folder (config.json, model.safetensors, spiece.model); default: MODEL/t5")


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for every runtime (torch, ExecuTorch, onnxruntime); default: the runtime's choice")


def add_bundle_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--bundle", type=Path, default=None, help=what)
    p.add_argument("--bundle-digest", default=None, metavar="SHA256",
                   help="refuse the bundle unless its manifest.json has this sha256 (printed by `arc-edge export`)")


def decode_window_arg(text: str) -> int | str:
    """--decode-window: auto, whole or a number of latent frames."""
    if text in ("auto", "whole"):
        return text
    if text.strip().lstrip("+-").isdigit():
        return positive_int(text)
    raise argparse.ArgumentTypeError(f"expected auto, whole or a number of latent frames, got {text!r}")


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_int_list(text: str) -> list[int]:
    """'128,64,32' -> [128, 64, 32], each at least 1."""
    try:
        return [positive_int(item.strip()) for item in text.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, e.g. 128,64,32,32,32 ({exc})"
                                         ) from None


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def finite_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


@contextlib.contextmanager
def progress_bar(total: int, desc: str, unit: str = "step") -> Iterator:
    """A tqdm bar that is always closed, also when the block raises, so an error line is never
    printed over a half-drawn bar."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def set_threads(threads: int | None) -> None:
    """One thread control: torch (eager and the export's own passes) and the ExecuTorch runtime;
    onnxruntime sessions take it when they are created."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def load_runtime(args: argparse.Namespace):
    """The runtime for --bundle or --model/--t5 (``generate.Runtime``, with a ``description``)."""
    threads = getattr(args, "threads", None)
    set_threads(threads)
    if getattr(args, "bundle", None) is not None:
        from ..errors import InputError
        from ..export.bundle import BundleRuntime

        if args.model is not None or args.t5 is not None:
            raise InputError("--bundle carries its own model; drop --model/--t5 (or drop --bundle)")
        return BundleRuntime(args.bundle, threads, args.bundle_digest)
    from ..checkpoint import load_model

    pipeline, source = load_model(args.model, args.t5)
    pipeline.description = source.description
    return pipeline
