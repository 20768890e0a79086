"""User-facing errors: the CLI prints them as one line and exits non-zero."""


class ArcEdgeError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ConfigError(ArcEdgeError):
    pass


class CheckpointError(ArcEdgeError):
    pass


class GenerationError(ArcEdgeError):
    """A generation that went numerically wrong (NaN or infinity); nothing is written."""


class InputError(ArcEdgeError):
    pass


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An exception's message reduced to one line (for wrapping library errors in ours)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__
