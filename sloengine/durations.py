"""Prometheus text for values: durations ("5m", "1h30m", "30d", "1w") to and from seconds,
and numbers as rules, alerts and the engine print them (`format_number`)."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"^((\d+)(ms|s|m|h|d|w|y))+$")
_PART_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration_seconds(text: str) -> float:
    """Parse a Prometheus duration; raise ValueError naming the text when it is not one."""
    text = str(text).strip()
    if not _DURATION_RE.match(text):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 5m, 1h, 30d)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART_RE.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """Shortest Prometheus duration for a whole number of seconds: 300 -> "5m", 86400 -> "1d"."""
    whole = round(seconds)
    if whole <= 0 or abs(whole - seconds) > 1e-9:
        raise ValueError(f"cannot format {seconds!r}s as a whole-second duration")
    # Days, not weeks: SLO periods are written 7d / 28d / 30d by Sloth, Pyrra and the Workbook.
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def format_number(value: float) -> str:
    """Stable, readable PromQL number: 12 significant digits, no trailing `.0`.

    Rounding to 12 digits hides float noise such as `1 - 0.999 = 0.0010000000000000009`
    while keeping every objective and factor a user can write exactly.
    """
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.12g}"
