"""User-facing errors: the CLI prints them as one line and exits non-zero."""


class ArcEdgeError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ConfigError(ArcEdgeError):
    pass


class CheckpointError(ArcEdgeError):
    pass


class InputError(ArcEdgeError):
    pass
