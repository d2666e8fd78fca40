"""One way to validate settings: a place, and typed readers that fail naming it.

Every config section (`engine:`, `canary:`, `hooks:`, `pipelines.mapping`), the spec
loaders, the sidecar's flags and `instrument()`'s keywords read their values the same way:

    at = At("engine.yaml", "engine")
    section = fields.mapping(doc.get("engine"), at.key("engine"))
    fields.check_known(section, KNOWN, at)
    max_series = fields.read(section, "max_series", fields.positive_int, at)

A reader takes the raw value and its place and returns the typed value or raises
`at.error(reason)`: a `SpecError` whose one line is `file: field.path: reason`. A place
that is not in a file (`At("", "--variant")`, `At("", "variant")`) reads `--variant: ...`:
the sidecar raises that line as its `ConfigError`, `instrument()` lets the SpecError (a
ValueError) through. A value that is absent or null reads as None: the caller's default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sloengine import conventions
from sloengine.durations import parse_duration_seconds
from sloengine.errors import SpecError

__all__ = [
    "At",
    "boolean",
    "check_known",
    "choice",
    "duration",
    "mapping",
    "non_negative_int",
    "number_in",
    "path",
    "positive",
    "positive_int",
    "read",
    "revision",
    "string",
]

T = TypeVar("T")

_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_./]*$")


@dataclass(frozen=True)
class At:
    """A place in a document: the file and the dotted field path (`slos[0].objective`)."""

    file: str
    path: str = ""

    def key(self, name: object) -> At:
        text = str(name)
        if not _PLAIN_KEY_RE.match(text):  # e.g. a label named "a b" or "x\ny"
            return At(self.file, f"{self.path}[{json.dumps(text)}]")
        return At(self.file, f"{self.path}.{text}" if self.path else text)

    def index(self, i: int) -> At:
        return At(self.file, f"{self.path}[{i}]")

    def error(self, reason: str) -> SpecError:
        # One line per error, whatever the document's keys and values hold.
        return SpecError(self.file, self.path, reason.replace("\r", "\\r").replace("\n", "\\n"))


def read(
    doc: Mapping[str, Any], key: str, reader: Callable[..., T], at: At, *args: Any
) -> T | None:
    """`reader(doc[key], at.key(key), *args)`, or None when the key is absent or null."""
    value = doc.get(key)
    return None if value is None else reader(value, at.key(key), *args)


def check_known(doc: Mapping[str, Any], known: Iterable[str], at: At) -> None:
    """Refuse the first key not in `known`: a typo must not be silently ignored."""
    allowed = tuple(known)
    for key in doc:
        if key not in allowed:
            raise at.key(key).error(f"unknown key; known: {', '.join(allowed)}")


def mapping(value: Any, at: At) -> Mapping[str, Any]:
    """A mapping (null reads as empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise at.error("expected a mapping")
    return value


def string(value: Any, at: At) -> str:
    if not isinstance(value, str) or not value:
        raise at.error("must be a non-empty string")
    return value


def path(value: Any, at: At, base: Path) -> Path:
    """A file or directory path; a relative one is relative to `base` (the config's folder)."""
    if not isinstance(value, str) or not value:
        raise at.error("must be a non-empty path")
    p = Path(value)
    return p if p.is_absolute() else base / p


def positive_int(value: Any, at: At) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise at.error("must be a positive integer")
    return value


def non_negative_int(value: Any, at: At) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise at.error("must be an integer >= 0")
    return value


def number_in(value: Any, at: At, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise at.error(f"must be a number in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def positive(value: float, at: At) -> float:
    """A number > 0 (a timeout, an interval)."""
    if not value > 0:
        raise at.error(f"must be > 0, got {value}")
    return value


def boolean(value: Any, at: At) -> bool:
    if not isinstance(value, bool):
        raise at.error("must be true or false")
    return value


def duration(value: Any, at: At) -> float:
    """A Prometheus duration (`5m`, `1h30m`) in seconds."""
    try:
        return parse_duration_seconds(str(value))
    except ValueError as exc:
        raise at.error(str(exc)) from None


def choice(value: Any, at: At, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if value not in options:
        raise at.error(f"must be one of {', '.join(options)}, got {value!r}")
    return str(value)


def revision(value: str, at: At) -> str:
    """A deployed revision as the `revision` label carries it (conventions.REVISION_PATTERN)."""
    if not re.fullmatch(conventions.REVISION_PATTERN, value):
        raise at.error(
            f"must be 1-128 of [A-Za-z0-9_.:-], not starting with '-', got {value[:40]!r}"
        )
    return value
