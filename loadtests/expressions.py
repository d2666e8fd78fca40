"""k6 threshold expressions for per-endpoint limits (pure: strings and mappings in, Limits out).

The form k6 users know (https://grafana.com/docs/k6/latest/using-k6/thresholds/):

    http_req_duration: ["p(95)<1500", "avg<400"]          # every endpoint, values in ms
    http_req_failed: ["rate<0.02"]                         # every endpoint, ratio 0..1
    "http_req_duration{name:GET /search}":                 # one endpoint (locust's name)
      - {threshold: "p(95)<800", abortOnFail: true, delayAbortEval: "10s"}

An expression is `<aggregation> <operator> <value>`: aggregations `p(N)`, `avg`, `med`, `min`,
`max` on http_req_duration and `rate` on http_req_failed; operators `<`, `<=`, `>`, `>=`,
`==`, `===`, `!=`. What differs from k6 is WHEN it is evaluated: on the trend (see
thresholds.py), i.e. the median of the per-interval aggregate over the last N intervals, and
the error rate pooled over them, so one slow interval cannot fail a run.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DURATION_METRIC = "http_req_duration"
FAILED_METRIC = "http_req_failed"
_TREND_AGGREGATIONS = ("avg", "med", "min", "max")

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "===": operator.eq,
    "!=": operator.ne,
}
_EXPRESSION = re.compile(
    r"^\s*(?P<agg>p\(\s*(?P<q>[0-9]+(?:\.[0-9]+)?)\s*\)|[a-z][a-z0-9_]*)\s*"
    r"(?P<op>===|==|!=|<=|>=|<|>)\s*"
    r"(?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*$"
)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_THRESHOLD_KEYS = {"threshold", "abortOnFail", "delayAbortEval"}


class ThresholdError(ValueError):
    """A threshold expression or mapping that cannot be used; the message names what and where."""


@dataclass(frozen=True)
class Limit:
    """One pass criterion for an endpoint: `aggregation operator value` holds, or it breaches."""

    metric: str  # DURATION_METRIC (value in ms) or FAILED_METRIC (value a ratio)
    aggregation: str  # "p(95)", "avg", "med", "min", "max" or "rate"
    operator: str
    value: float
    abort_on_fail: bool = False
    delay_abort_eval_seconds: float = 0.0

    @property
    def quantile(self) -> float | None:
        """0.95 for p(95); None for the other aggregations."""
        if not self.aggregation.startswith("p("):
            return None
        return float(self.aggregation[2:-1]) / 100.0

    @property
    def expression(self) -> str:
        return f"{self.aggregation}{self.operator}{_format_number(self.value)}"

    def holds(self, observed: float) -> bool:
        return _OPERATORS[self.operator](observed, self.value)


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def parse_duration_seconds(text: str | float | int, what: str) -> float:
    """'10s', '1m30s', '500ms', '2.5' (seconds) -> seconds; k6's and locust's duration forms."""
    if isinstance(text, bool):
        raise ThresholdError(f"{what}: expected a duration like '10s', got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = text.strip()
        try:
            seconds = float(raw)
        except ValueError:
            parts = _DURATION_PART.findall(raw)
            if not parts or "".join(n + u for n, u in parts) != raw:
                raise ThresholdError(
                    f"{what}: expected a duration like '10s', '1m30s' or '500ms', got {text!r}"
                ) from None
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds < 0:
        raise ThresholdError(f"{what}: a duration must be finite and >= 0, got {text!r}")
    return seconds


def parse_expression(
    text: str,
    metric: str,
    abort_on_fail: bool = False,
    delay_abort_eval_seconds: float = 0.0,
) -> Limit:
    """Parse one k6 expression such as 'p(95)<1500' or 'rate<0.02' for `metric`."""
    if not isinstance(text, str):
        raise ThresholdError(
            f"{metric}: a threshold must be a string like 'p(95)<1500', got {text!r}"
        )
    m = _EXPRESSION.match(text)
    if not m:
        raise ThresholdError(
            f"{metric}: cannot parse threshold {text!r}: expected "
            "'<aggregation><operator><number>', e.g. 'p(95)<1500' or 'rate<0.02'"
        )
    agg, op, value = m.group("agg"), m.group("op"), float(m.group("value"))
    if m.group("q") is not None:
        q = float(m.group("q"))
        if not 0 < q <= 100:
            raise ThresholdError(f"{metric}: percentile in {text!r} must be in (0, 100]")
        agg = f"p({_format_number(q)})"
        allowed = metric == DURATION_METRIC
    elif agg in _TREND_AGGREGATIONS:
        allowed = metric == DURATION_METRIC
    elif agg == "rate":
        allowed = metric == FAILED_METRIC
    else:
        raise ThresholdError(
            f"{metric}: unknown aggregation {agg!r} in {text!r}: use p(N), avg, med, min, max "
            f"(on {DURATION_METRIC}) or rate (on {FAILED_METRIC})"
        )
    if not allowed:
        hint = "rate" if metric == FAILED_METRIC else "p(N), avg, med, min or max"
        raise ThresholdError(f"{metric}: {agg!r} does not apply here ({text!r}); use {hint}")
    if not math.isfinite(value):
        raise ThresholdError(f"{metric}: the value in {text!r} must be a finite number")
    return Limit(metric, agg, op, value, abort_on_fail, delay_abort_eval_seconds)


def parse_metric_key(key: str) -> tuple[str, str | None]:
    """'http_req_duration' -> (metric, None); 'http_req_failed{name:GET /docs/{id}}' -> (metric, name).

    The tag value runs to the LAST closing brace, so locust names with braces survive.
    """
    if not isinstance(key, str):
        raise ThresholdError(f"threshold keys must be metric names, got {key!r}")
    brace = key.find("{")
    metric = (key if brace < 0 else key[:brace]).strip()
    if metric not in (DURATION_METRIC, FAILED_METRIC):
        raise ThresholdError(
            f"unknown metric {metric!r} in {key!r}: use {DURATION_METRIC} or {FAILED_METRIC}"
        )
    if brace < 0:
        return metric, None
    if not key.rstrip().endswith("}"):
        raise ThresholdError(f"{key!r}: a sub-metric is written metric{{name:<endpoint>}}")
    tag = key[brace + 1 : key.rstrip().rfind("}")]
    tag_name, sep, tag_value = tag.partition(":")
    if not sep or tag_name.strip() != "name":
        raise ThresholdError(f"{key!r}: only the 'name' tag (locust's request name) is supported")
    name = tag_value.strip().strip("'\"")
    if not name:
        raise ThresholdError(f"{key!r}: the endpoint name is empty")
    return metric, name


def _parse_entry(metric: str, key: str, entry: Any) -> Limit:
    if isinstance(entry, str):
        return parse_expression(entry, metric)
    if isinstance(entry, Mapping):
        unknown = set(entry) - _THRESHOLD_KEYS
        if unknown:
            raise ThresholdError(
                f"{key}: unknown field(s) {sorted(map(str, unknown))}; "
                "use threshold, abortOnFail, delayAbortEval"
            )
        if "threshold" not in entry:
            raise ThresholdError(f"{key}: an object threshold needs a 'threshold' field")
        abort = entry.get("abortOnFail", False)
        if not isinstance(abort, bool):
            raise ThresholdError(f"{key}: abortOnFail must be true or false, got {abort!r}")
        delay = parse_duration_seconds(entry.get("delayAbortEval", 0), f"{key}: delayAbortEval")
        return parse_expression(entry["threshold"], metric, abort, delay)
    raise ThresholdError(f"{key}: a threshold is a string or an object, got {entry!r}")


@dataclass(frozen=True)
class ThresholdSet:
    """Limits for every endpoint, and limits for named endpoints (which win per aggregation)."""

    every_endpoint: tuple[Limit, ...] = ()
    by_endpoint: tuple[tuple[str, tuple[Limit, ...]], ...] = ()

    def named_endpoints(self) -> list[str]:
        return [name for name, _ in self.by_endpoint]

    def limits_for(self, endpoint: str) -> tuple[Limit, ...]:
        specific = next((limits for name, limits in self.by_endpoint if name == endpoint), ())
        covered = {(lim.metric, lim.aggregation) for lim in specific}
        general = tuple(
            lim for lim in self.every_endpoint if (lim.metric, lim.aggregation) not in covered
        )
        return specific + general

    def overlay(self, other: ThresholdSet) -> ThresholdSet:
        """`other` on top of this set: its limits replace ours of the same metric+aggregation."""
        replaced = {(lim.metric, lim.aggregation) for lim in other.every_endpoint}
        every = tuple(
            lim for lim in self.every_endpoint if (lim.metric, lim.aggregation) not in replaced
        )
        merged = dict(self.by_endpoint)
        for name, limits in other.by_endpoint:
            merged[name] = limits
        return ThresholdSet(every + other.every_endpoint, tuple(merged.items()))


def parse_thresholds(mapping: Any) -> ThresholdSet:
    """A k6 `thresholds` mapping -> ThresholdSet; ThresholdError names the offending key."""
    if not isinstance(mapping, Mapping):
        raise ThresholdError(
            f"thresholds must be a mapping of metric to expressions, got {type(mapping).__name__}"
        )
    every: list[Limit] = []
    named: dict[str, list[Limit]] = {}
    for key, entries in mapping.items():
        metric, name = parse_metric_key(key)
        items = [entries] if isinstance(entries, str | Mapping) else entries
        if not isinstance(items, list) or not items:
            raise ThresholdError(f"{key}: expected a list of thresholds, got {entries!r}")
        limits = [_parse_entry(metric, key, entry) for entry in items]
        if name is None:
            every.extend(limits)
        else:
            named.setdefault(name, []).extend(limits)
    return ThresholdSet(tuple(every), tuple((n, tuple(ls)) for n, ls in named.items()))
