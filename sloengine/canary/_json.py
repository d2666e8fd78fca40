"""A verdict as JSON: the one mapping, answered by the HTTP side door and shown by the UI.

The HTTP answer is a contract (Argo Rollouts' `web` metric reads `result.verdict`, Flagger
the gate bodies; DESIGN.md), and it has always been protobuf's JSON mapping of the
`CanaryVerdict` message (`json_format.MessageToDict`, proto field names, every field
printed) plus `eval_time_unix_s`, with window lengths as numbers. This module writes the
same bytes from the domain record, without protobuf:

- keys in field order, except that fields holding their default value (empty string,
  zero, false, no guards) come after the others, still in field order, as protobuf's
  printer appends them; `eval_time` is always set;
- non-finite doubles are the strings "NaN", "Infinity", "-Infinity";
- `eval_time` is RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protobuf's
  Timestamp writes it.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from sloengine.canary._verdict import CanaryVerdict, GuardOutcome

__all__ = ["rfc3339", "verdict_to_json"]

_NANOS = 1_000_000_000
_EPOCH = datetime.datetime(1970, 1, 1)


def rfc3339(nanos: int) -> str:
    """Unix nanoseconds as protobuf's Timestamp JSON ('2027-01-15T08:00:00.120Z')."""
    seconds, frac = divmod(nanos, _NANOS)
    days, rest = divmod(seconds, 86400)
    text = (_EPOCH + datetime.timedelta(days, rest)).isoformat()
    if frac == 0:
        return text + "Z"
    if frac % 1_000_000 == 0:
        return f"{text}.{frac // 1_000_000:03d}Z"
    if frac % 1_000 == 0:
        return f"{text}.{frac // 1_000:06d}Z"
    return f"{text}.{frac:09d}Z"


def _double(value: float) -> float | str:
    value = float(value)  # a double, as the wire schema has it: 3 is 3.0
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _is_set(value: Any) -> bool:
    """Whether protobuf counts a scalar as set: any bit non-zero (so -0.0 is set)."""
    if isinstance(value, float):
        return value != 0 or math.copysign(1.0, value) < 0 or math.isnan(value)
    return bool(value)


def _ordered(fields: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    """(name, raw value, JSON value) in field order -> set fields first, then default ones."""
    out = {name: js for name, raw, js in fields if _is_set(raw)}
    out.update((name, js) for name, raw, js in fields if not _is_set(raw))
    return out


def _guard_json(g: GuardOutcome) -> dict[str, Any]:
    absolute, relative = bool(g.absolute_breached), bool(g.relative_breached)
    short, long = round(g.short_window_seconds), round(g.long_window_seconds)
    return _ordered(
        [
            ("guard", g.guard, g.guard),
            ("verdict", g.verdict, g.verdict.value),
            ("threshold", g.threshold, _double(g.threshold)),
            ("absolute_breached", absolute, absolute),
            ("canary_value_short", g.canary_value_short, _double(g.canary_value_short)),
            ("canary_value_long", g.canary_value_long, _double(g.canary_value_long)),
            ("baseline_value_long", g.baseline_value_long, _double(g.baseline_value_long)),
            ("relative_breached", relative, relative),
            ("p_value", g.p_value, _double(g.p_value)),
            ("effect_size", g.effect_size, _double(g.effect_size)),
            ("test", g.test, g.test),
            ("canary_samples", g.canary_samples, _double(g.canary_samples)),
            ("baseline_samples", g.baseline_samples, _double(g.baseline_samples)),
            ("min_samples", g.min_samples, _double(g.min_samples)),
            # Whole seconds as numbers, not proto3 JSON's int64 strings: they read better.
            ("short_window_seconds", short, short),
            ("long_window_seconds", long, long),
            ("reason", g.reason, g.reason),
        ]
    )


def verdict_to_json(v: CanaryVerdict) -> dict[str, Any]:
    """The verdict as JSON for Argo Rollouts' `web` metric: `result.verdict` is the string."""
    body = _ordered(
        [
            ("service", v.service, v.service),
            ("canary_variant", v.canary_variant, v.canary_variant),
            ("baseline_variant", v.baseline_variant, v.baseline_variant),
            ("verdict", v.verdict, v.verdict.value),
            ("reason", v.reason, v.reason),
            ("guards", v.guards, [_guard_json(g) for g in v.guards]),
            ("eval_time", True, rfc3339(v.eval_time_ns)),  # a message: always present
            ("revision", v.revision, v.revision),
        ]
    )
    body["eval_time_unix_s"] = v.eval_time_unix_s
    return body
