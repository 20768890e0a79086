"""Typed reads from user-supplied JSON/TOML data, with one-line errors that name the file, the field
and what was expected. Every file arc-edge reads from a user (model configs, manifests, recipes,
prompt sets, reports) goes through these readers, so a value of the wrong type, a NaN or a number
out of range is an ``ArcEdgeError`` and never a traceback."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .errors import ArcEdgeError, ConfigError

T = TypeVar("T")
_MISSING: Any = object()


def printable(text: str) -> str:
    """Text read from a user's file, safe to print: a hostile file's newlines or terminal escapes are shown
    as escapes, not obeyed."""
    return text if text.isprintable() else ascii(text)


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


class Fields:
    """A JSON object at ``path`` inside the file ``where``; its typed getters raise ``error``."""

    def __init__(self, data: Any, where: str, path: str = "", error: type[ArcEdgeError] = ConfigError):
        if not isinstance(data, dict):
            raise error(f"{where}: {path or 'the top level'} must be an object, got {_shown(data)}")
        self.data, self.where, self.path, self.error = data, where, path, error

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, expected: str, value: Any = _MISSING) -> ArcEdgeError:
        got = "" if value is _MISSING else f", got {_shown(value)}"
        return self.error(f"{self.where}: field '{self._name(key)}' must be {expected}{got}")

    def has(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return list(self.data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise self.error(f"{self.where}: missing field '{self._name(key)}'")
            return default
        return self.data[key]

    def obj(self, key: str, default: Any = _MISSING) -> Fields:
        value = self.raw(key, {} if default is not _MISSING else _MISSING)
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return Fields(value, self.where, self._name(key), self.error)

    def string(self, key: str, default: Any = _MISSING, choices: tuple[str, ...] | None = None) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.fail(key, "a string", value)
        if choices is not None and value not in choices:
            raise self.fail(key, f"one of {', '.join(choices)}", value)
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def integer(self, key: str, default: Any = _MISSING, low: int | None = None, high: int | None = None) -> int:
        value = self.raw(key, default)
        if isinstance(value, float) and value.is_integer() and math.isfinite(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer" + _range(low, high), value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(key, "an integer" + _range(low, high), value)
        return value

    def number(self, key: str, default: Any = _MISSING, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, "a finite number" + _range(low, high, low_open), value)
        value = float(value)
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            raise self.fail(key, "a finite number" + _range(low, high, low_open), value)
        return value

    def items(self, key: str, read: Callable[[Any, str], T], default: Any = _MISSING, min_len: int = 0) -> list[T]:
        """A list whose items are checked by ``read(item, field_name)``."""
        value = self.raw(key, default)
        if not isinstance(value, list) or len(value) < min_len:
            raise self.fail(key, f"a list of at least {min_len} item(s)" if min_len else "a list", value)
        return [read(v, f"{self._name(key)}[{i}]") for i, v in enumerate(value)]

    def each(self) -> Iterator[tuple[str, Fields]]:
        for key in self.data:
            yield key, self.obj(key)


def _range(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" <= {high:g}"
    return ""


def int_item(where: str, low: int | None = None, error: type[ArcEdgeError] = ConfigError) -> Callable[[Any, str], int]:
    def read(value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            raise error(f"{where}: field '{name}' must be an integer{_range(low, None)}, got {_shown(value)}")
        return value
    return read


def str_item(where: str, error: type[ArcEdgeError] = ConfigError) -> Callable[[Any, str], str]:
    def read(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise error(f"{where}: field '{name}' must be a string, got {_shown(value)}")
        return value
    return read


def number_item(where: str, error: type[ArcEdgeError] = ConfigError) -> Callable[[Any, str], float]:
    def read(value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise error(f"{where}: field '{name}' must be a finite number, got {_shown(value)}")
        return float(value)
    return read


def read_json(path: Path, what: str, error: type[ArcEdgeError] = ConfigError, max_bytes: int = 64 << 20) -> Any:
    """Parse a JSON file with one-line errors for a missing, unreadable, huge or malformed file.
    NaN and Infinity literals (which Python's json accepts) are refused."""
    path = Path(path)
    text = read_text(path, what, error, max_bytes)
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        line = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise error(f"{path} is not valid JSON ({msg}{line}); fix or re-create the {what}") from None
    except RecursionError:
        raise error(f"{path} nests too deeply to be a {what}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_text(path: Path, what: str, error: type[ArcEdgeError] = ConfigError, max_bytes: int = 64 << 20) -> str:
    path = Path(path)
    if not path.is_file():
        raise error(f"no {what} at {path}" + ("" if not path.exists() else " (it is not a regular file)"))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{path} is {size / 2**20:.0f} MB; a {what} is at most {max_bytes >> 20} MB")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path} is not UTF-8 text; a {what} must be") from None
    except OSError as exc:
        raise error(f"cannot read {path} ({exc.strerror or exc})") from None
