"""Prometheus durations in and out."""

from __future__ import annotations

import pytest

from sloengine.durations import format_duration, parse_duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300),
        ("1h30m", 5400),
        ("30d", 2592000),
        ("1w", 604800),
        ("250ms", 0.25),
        ("1y", 31536000),
    ],
)
def test_parse_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "-5m", "5 m", "1.5h", "0s", "5M"])
def test_invalid_durations_name_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_seconds(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5m"), (3600, "1h"), (86400, "1d"), (604800, "7d"), (2592000, "30d"), (90, "90s")],
)
def test_format_uses_the_largest_whole_unit_but_never_weeks(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration_seconds(text) == seconds


def test_format_refuses_fractions_and_zero() -> None:
    for bad in (0, 1.5, -60):
        with pytest.raises(ValueError):
            format_duration(bad)
