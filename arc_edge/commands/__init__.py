"""One module per ``arc-edge`` sub-command, each with ``add_parser(subparsers)`` and ``run(args)``."""
