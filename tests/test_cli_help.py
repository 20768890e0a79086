"""Every option of every command says what it does and, where it has one, its default."""

import argparse

import pytest

from arc_edge.cli import build_parser


def _commands():
    def walk(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*path, name])
    return list(walk(build_parser(), ["arc-edge"]))


@pytest.mark.parametrize("path, parser", _commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_options_have_help_and_show_their_defaults(path, parser):
    text = "".join(parser.format_help().split())  # undo the line wrapping (it also breaks at hyphens)
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "version"):
            continue
        assert action.help, f"{' '.join(path)} {action.option_strings[0]} has no help text"
        default = action.default
        if default not in (None, False, argparse.SUPPRESS) and not isinstance(default, list):
            shown = "".join(str(default).split())
            assert shown in text and ("default" in action.help or "(default:" in text), \
                f"{' '.join(path)} {action.option_strings[0]}: the help does not show its default {shown!r}"


def test_the_old_bench_spellings_still_work():
    from arc_edge.commands.bench import legacy_argv

    assert legacy_argv(["bench", "--bundle", "b"]) == ["bench", "device", "--bundle", "b"]
    assert legacy_argv(["bench", "--backends", "et-int8"]) == ["bench", "backends", "--backends", "et-int8"]
    assert legacy_argv(["bench", "device", "--bundle", "b"]) == ["bench", "device", "--bundle", "b"]
