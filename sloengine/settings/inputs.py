"""Validation at the edge: values from HTTP or gRPC become domain values, or a RequestError.

Why one module: every 500 / UNKNOWN the fuzzer found had the same cause, a transport value
(a JSON field, a query parameter, a protobuf Timestamp) used as if it already had the
right type and range. The transports call these checks before a value reaches the domain,
so a bad value is rejected once, with the field's name, and the domain code never sees it.

    at = unix_seconds_text(request.query.get("eval_time"), "eval_time")   # None when absent
    at = timestamp_seconds(req.eval_time, "eval_time") if req.HasField("eval_time") else None
    service = text(body.get("service"), "service")
    labels = string_map(alert.get("labels"), "alerts[0].labels")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from sloengine.errors import RequestError

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_UNIX_SECONDS",
    "MIN_UNIX_SECONDS",
    "TimestampLike",
    "optional_string_map",
    "string_map",
    "text",
    "timestamp_seconds",
    "unix_seconds",
    "unix_seconds_text",
]

# The range a protobuf Timestamp can carry is 0001-01-01 .. 9999-12-31T23:59:59Z; an
# evaluation time must also be encodable in the answer. Before 1970 there is no data.
MIN_UNIX_SECONDS = 0.0
MAX_UNIX_SECONDS = 253_402_300_799.0
# Names, variants, revisions, label values: far longer than any real one, small enough that
# one request cannot make the engine keep megabytes.
MAX_TEXT_CHARS = 4096


class TimestampLike(Protocol):
    """google.protobuf.Timestamp's fields (typed structurally: no protobuf import here)."""

    seconds: int
    nanos: int


def unix_seconds(value: float, field: str) -> float:
    """A time in unix seconds: finite and within [1970, 9999]."""
    if not math.isfinite(value):
        raise RequestError(field, f"must be a finite time in unix seconds, got {value!r}")
    if not MIN_UNIX_SECONDS <= value <= MAX_UNIX_SECONDS:
        raise RequestError(
            field,
            f"must be unix seconds in [{MIN_UNIX_SECONDS:.0f}, {MAX_UNIX_SECONDS:.0f}]"
            f" (1970 .. 9999), got {value:g}",
        )
    return float(value)


def unix_seconds_text(value: Any, field: str) -> float | None:
    """A query or JSON value holding unix seconds; None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RequestError(field, "must be unix seconds (a number), got a boolean")
    if isinstance(value, int | float):
        return unix_seconds(float(value), field)
    raw = text(value, field).strip()
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        raise RequestError(field, f"must be unix seconds, got {_shown(raw)}") from None
    return unix_seconds(number, field)


def timestamp_seconds(ts: TimestampLike, field: str) -> float:
    """A protobuf Timestamp as unix seconds; out of range (or bad nanos) is a RequestError."""
    if not 0 <= ts.nanos < 1_000_000_000:
        raise RequestError(f"{field}.nanos", f"must be in [0, 999999999], got {ts.nanos}")
    if not MIN_UNIX_SECONDS <= ts.seconds <= MAX_UNIX_SECONDS:
        raise RequestError(
            f"{field}.seconds",
            f"must be in [{MIN_UNIX_SECONDS:.0f}, {MAX_UNIX_SECONDS:.0f}] (1970 .. 9999),"
            f" got {ts.seconds}",
        )
    return ts.seconds + ts.nanos / 1e9


def text(
    value: Any, field: str, *, max_chars: int = MAX_TEXT_CHARS, numbers: bool = True
) -> str:
    """A string field; absent is ""; never a list or map. With `numbers`, a JSON number is
    taken as written (`{"revision": 42}`, `{"short_window": 300}`)."""
    if value is None:
        return ""
    if isinstance(value, bool) or (not numbers and isinstance(value, int | float)):
        raise RequestError(field, f"must be a string, got {_type_name(value)}")
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise RequestError(field, f"must be a string, got {_type_name(value)}")
    if len(value) > max_chars:
        raise RequestError(field, f"must be at most {max_chars} characters, got {len(value)}")
    if "\x00" in value:
        raise RequestError(field, "must not contain NUL characters")
    return value


def string_map(value: Any, field: str) -> dict[str, str]:
    """A map of strings to strings (labels, annotations, metadata); each value checked."""
    if not isinstance(value, Mapping):
        raise RequestError(field, f"must be a map of strings, got {_type_name(value)}")
    out: dict[str, str] = {}
    for key, item in value.items():
        name = text(key, f"{field} key")
        if not isinstance(item, str):
            raise RequestError(f"{field}.{name}", f"must be a string, got {_type_name(item)}")
        out[name] = text(item, f"{field}.{name}")
    return out


def optional_string_map(value: Any, field: str) -> dict[str, str]:
    """Like string_map, but absent (None) is an empty map."""
    return {} if value is None else string_map(value, field)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: tuple[tuple[type, str], ...] = (
        (Mapping, "an object"),
        (list, "a list"),
        (str, "a string"),
        (type(None), "null"),
    )
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _shown(raw: str, limit: int = 40) -> str:
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")
