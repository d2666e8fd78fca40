"""Typed field access for parsed YAML: every failure is a SpecError naming file and field path.

`At` (`sloengine.settings.fields`, shared with every config section) is a place in a document;
the helpers read one field and either return a typed value or
raise `At.error(reason)`. `Collector` gathers errors so that one run reports all of them:
independent parts of a spec are read under `collector.attempt(...)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sloengine.durations import parse_duration_seconds
from sloengine.errors import SloEngineError, SpecError
from sloengine.model import Labels
from sloengine.settings.fields import At

T = TypeVar("T")

# Prometheus label names (data model); names starting with "__" are reserved.
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Prometheus metric names; rulefmt requires alert names to be valid metric names.
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Service and SLO names end up in rule labels, ids and generated file names.
_NAME_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
NAME_RULE = "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


class AlreadyReported(SloEngineError):
    """Abandons an object whose errors are already in the collector (adds no line).

    Private control flow, caught by `Collector.attempt` in this package: it never reaches a
    user, so it stays here rather than in the tree of `sloengine.errors`."""


@dataclass
class Collector:
    """Collects SpecErrors so that every problem of a run is reported, not just the first."""

    errors: list[SpecError] = field(default_factory=list)

    def add(self, err: SpecError) -> None:
        self.errors.append(err)

    def attempt(self, read: Callable[[], T]) -> T | None:
        """Run `read`; on SpecError record it and return None."""
        try:
            return read()
        except SpecError as err:
            self.errors.append(err)
            return None
        except AlreadyReported:
            return None


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def mapping(value: Any, at: At, *, optional: bool = False) -> dict[str, Any]:
    """The value as a mapping (`optional`: null/absent reads as empty)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise at.error(f"expected a mapping, got {type_name(value)}")
    return value


def sequence(value: Any, at: At, *, optional: bool = False) -> list[Any]:
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise at.error(f"expected a list, got {type_name(value)}")
    return value


def required(doc: Mapping[str, Any], name: str, at: At) -> Any:
    if doc.get(name) is None:
        raise at.key(name).error("missing required field")
    return doc[name]


def string(value: Any, at: At) -> str:
    if not isinstance(value, str):
        raise at.error(f"expected a string, got {type_name(value)}")
    return value


def optional_string(value: Any, at: At) -> str:
    return "" if value is None else string(value, at)


def name(value: Any, at: At) -> str:
    """A service or SLO name: it becomes a label value, an id and part of file names."""
    text = string(value, at)
    if not _NAME_RE.match(text):
        raise at.error(f"invalid name {text!r}: use {NAME_RULE}")
    return text


def number(value: Any, at: At) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise at.error(f"expected a number, got {type_name(value)}")
    if not math.isfinite(value):
        raise at.error(f"expected a finite number, got {value}")
    return float(value)


def boolean(value: Any, at: At, *, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise at.error(f"expected true or false, got {type_name(value)}")
    return value


def duration_seconds(value: Any, at: At) -> float:
    if not isinstance(value, str):
        raise at.error(f"expected a duration string like 30d, got {type_name(value)}")
    try:
        return parse_duration_seconds(value)
    except ValueError as exc:
        raise at.error(str(exc)) from None


def percent_to_ratio(percent: float) -> float:
    """99.9 -> 0.999 exactly as written (99.9 / 100 is 0.9990000000000001 in binary)."""
    return float(Decimal(repr(percent)) / 100)


def objective_percent(value: Any, at: At) -> float:
    """An objective in percent, strictly inside (0, 100): 100% leaves no error budget."""
    pct = number(value, at)
    if not 0 < pct < 100:
        raise at.error(f"must be a percentage in (0, 100), got {value}")
    return pct


def objective_ratio(value: Any, at: At) -> float:
    ratio = number(value, at)
    if not 0 < ratio < 1:
        raise at.error(f"must be a ratio in (0, 1), got {value}")
    return ratio


def label_name(value: Any, at: At) -> str:
    text = str(value)
    if not _LABEL_NAME_RE.match(text) or text.startswith("__"):
        raise at.error(f"invalid label name {text!r} (Prometheus: [a-zA-Z_][a-zA-Z0-9_]*, no '__')")
    return text


def alert_name(value: Any, at: At) -> str:
    text = string(value, at)
    if not _METRIC_NAME_RE.match(text):
        raise at.error(f"invalid alert name {text!r} (Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*)")
    return text


def _scalar_text(value: Any, at: At) -> str:
    # YAML turns `tier: 1` into an int and `on: yes` into a bool; Go's yaml (Sloth) reads them
    # as the text written, so do the same rather than refuse a spec Sloth accepts.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise at.error(f"expected a string, got {type_name(value)}")


def label_map(value: Any, at: At) -> Labels:
    """A {name: value} mapping of Prometheus labels or annotations, as sorted pairs."""
    pairs = []
    for key, raw in mapping(value, at, optional=True).items():
        pairs.append((label_name(key, at.key(key)), _scalar_text(raw, at.key(key))))
    return tuple(sorted(pairs))


def merge_labels(outer: Labels, inner: Labels) -> Labels:
    """Spec-level labels overridden by SLO-level ones (Sloth's merge order)."""
    return tuple(sorted({**dict(outer), **dict(inner)}.items()))


def check_known(doc: Mapping[str, Any], known: Iterable[str], at: At, collector: Collector) -> None:
    """Record one error per field not in `known` (typos must not be silently ignored)."""
    allowed = tuple(known)
    for key in doc:
        if key not in allowed:
            collector.add(at.key(key).error(f"unknown field (known: {', '.join(allowed)})"))


def one_of(doc: Mapping[str, Any], names: tuple[str, ...], at: At) -> str:
    """Exactly one of `names` is set; return it."""
    present = [n for n in names if doc.get(n) is not None]
    if len(present) != 1:
        got = ", ".join(present) if present else "none"
        raise at.error(f"needs exactly one of {', '.join(names)} (got {got})")
    return present[0]
