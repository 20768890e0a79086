"""The ``arc-edge`` command line: dispatches to ``arc_edge.commands.*`` and turns errors into one line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings


def quiet_third_party() -> None:
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


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so cleanup (temp folders, worker processes) runs as for Ctrl-C."""


def _on_sigterm(signum, frame) -> None:  # noqa: ANN001
    raise Terminated()


def _on_sigint(signum, frame) -> None:  # noqa: ANN001
    from .fileio import record_interrupt

    record_interrupt()  # remembered even where a finaliser swallows the exception below
    raise KeyboardInterrupt


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong and where the help is), exit 2."""

    def error(self, message: str):  # noqa: ANN201
        print(f"arc-edge: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .commands import bench, export, generate, info, train
    from .commands import eval as eval_cmd

    parser = ArgumentParser(prog="arc-edge", description="Fast text-to-audio on Arm CPUs.")
    parser.add_argument("--version", action="version", version=f"arc-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (generate, export, bench, eval_cmd, info, train):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_third_party()
    from .commands.bench import legacy_argv
    from .errors import ArcEdgeError
    from .fileio import clear_interrupt, interrupt_seen

    argv = legacy_argv(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    clear_interrupt()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # here, not at exit, so that a reader that left is answered below
        if interrupt_seen():  # a Ctrl-C that something swallowed: nothing was committed after it
            raise KeyboardInterrupt
        return code
    except ArcEdgeError as exc:
        print(f"arc-edge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("arc-edge: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("arc-edge: terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:  # whoever read our output left (`arc-edge info | head`): stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit-time flush must not fail again
        return 141
    except MemoryError:
        print("arc-edge: error: out of memory; try a smaller model, --seconds or --batch-size", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":
    sys.exit(main())
