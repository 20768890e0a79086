"""The ``arc-edge`` command line: dispatches to ``arc_edge.commands.*`` and turns errors into one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings


def _quiet_third_party() -> None:
    # Optional-kernel and deprecation chatter from torch/torchao/transformers is not for our users.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name in ("torchao", "torch.utils._pytree", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)

    def one_line(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        print(f"arc-edge: warning: {message}", file=sys.stderr)

    warnings.showwarning = one_line


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .commands import eval as eval_cmd
    from .commands import bench, export, generate, info, train

    parser = argparse.ArgumentParser(prog="arc-edge", description="Fast text-to-audio on Arm CPUs.")
    parser.add_argument("--version", action="version", version=f"arc-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (generate, export, bench, eval_cmd, info, train):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_third_party()
    from .errors import ArcEdgeError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ArcEdgeError as exc:
        print(f"arc-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arc-edge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
