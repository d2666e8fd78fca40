"""SLIs as PromQL: the error ratio and event-rate expressions of every SLI kind over a window.

    error_ratio_expr(sli, "5m")   # NaN-free error ratio: no sample when there is no traffic
    events_exprs(sli, "5m")       # (errors per second, events per second), or None for RawSLI

`NativeSLI`s render over this project's RED metrics (`sloengine.conventions`), summed over
every variant, route and status matched by the SLI's selector:

    availability  errors = sum(rate(http_requests_total{<sel>,status=~"5.."}[w]))
                  total  = sum(rate(http_requests_total{<sel>}[w]))
    latency       good   = sum(rate(http_request_duration_seconds_bucket{<sel>,le="0.5"}[w]))
                  total  = sum(rate(http_request_duration_seconds_count{<sel>}[w]))

Pure string building; the rule generator, the dashboards and the engine's pull mode share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sloengine import conventions as c
from sloengine.durations import format_number  # public here too (in __all__), defined at floor 0
from sloengine.model import SLI, EventsSLI, NativeSLI, RawSLI, render_window

__all__ = [
    "SLIQueries",
    "error_ratio_expr",
    "events_exprs",
    "format_number",
    "label_matchers",
    "le_matcher",
    "sli_queries",
]

@dataclass(frozen=True)
class SLIQueries:
    """The event-rate queries of an SLI over one window.

    Exactly one of `errors` and `good` is set: an SLI counts either its bad events or its
    good events, and the other is derived as `total - counted`.
    """

    total: str
    errors: str | None = None
    good: str | None = None

    def errors_expr(self) -> str:
        """Bad events per second; a good-events SLI becomes `total - good`.

        No good-event series at all (every request failed, so the good counter was never
        created) reads as 0 good events, not as "no data".
        """
        if self.errors is not None:
            return self.errors
        return f"({self.total}) - (({self.good}) or on() (0 * ({self.total})))"


def _quote(value: str) -> str:
    # JSON's double-quoted escapes are valid PromQL string escapes.
    return json.dumps(value)


def label_matchers(*matchers: tuple[str, str, str]) -> str:
    """`{a="x",b=~"y"}` from (label, operator, value) triples, in the given order."""
    return "{" + ",".join(f"{name}{op}{_quote(value)}" for name, op, value in matchers) + "}"


def le_matcher(threshold_seconds: float) -> tuple[str, str, str]:
    """Matcher for the `le` bucket at a threshold, whichever client wrote the bucket.

    Go clients write whole bounds as `le="1"`, Python's prometheus_client as `le="1.0"`, and
    Prometheus 2.x does not normalise them, so whole bounds match both spellings.
    """
    text = format_number(threshold_seconds)
    if float(threshold_seconds).is_integer():
        return ("le", "=~", f"{text}(\\.0)?")
    return ("le", "=", text)


def _selector(sli: NativeSLI, *extra: tuple[str, str, str]) -> str:
    return label_matchers(*((k, "=", v) for k, v in sli.selector), *extra)


def _native_queries(sli: NativeSLI, window: str) -> SLIQueries:
    if sli.kind == "availability":
        metric = c.HTTP_REQUESTS_TOTAL
        errors = _selector(sli, (c.LABEL_STATUS, "=~", sli.error_status_regex))
        return SLIQueries(
            total=f"sum(rate({metric}{_selector(sli)}[{window}]))",
            errors=f"sum(rate({metric}{errors}[{window}]))",
        )
    if sli.latency_threshold_seconds is None:
        raise ValueError("a latency NativeSLI needs latency_threshold_seconds")
    histogram = c.HTTP_REQUEST_DURATION_SECONDS
    bucket = _selector(sli, le_matcher(sli.latency_threshold_seconds))
    return SLIQueries(
        total=f"sum(rate({histogram}_count{_selector(sli)}[{window}]))",
        good=f"sum(rate({histogram}_bucket{bucket}[{window}]))",
    )


def sli_queries(sli: EventsSLI | NativeSLI, window: str) -> SLIQueries:
    """The event-rate queries of an events or native SLI over `window` (e.g. "5m")."""
    if isinstance(sli, NativeSLI):
        return _native_queries(sli, window)
    return SLIQueries(
        total=render_window(sli.total_query, window),
        errors=None
        if sli.error_query is None
        else render_window(sli.error_query, window),
        good=None if sli.good_query is None else render_window(sli.good_query, window),
    )


def events_exprs(sli: SLI, window: str) -> tuple[str, str] | None:
    """(errors, total) event-rate expressions over `window`; None for a RawSLI (ratio only)."""
    if isinstance(sli, RawSLI):
        return None
    queries = sli_queries(sli, window)
    return queries.errors_expr(), queries.total


def error_ratio_expr(sli: SLI, window: str) -> str:
    """The SLI error ratio over `window`, never NaN or Inf.

    With no traffic the ratio has no sample (the division keeps only `total > 0`), rather
    than the NaN of 0/0 that would poison every range function reading it later. A RawSLI's
    own ratio is filtered to finite, non-negative values for the same reason.
    """
    if isinstance(sli, RawSLI):
        return f"(({render_window(sli.error_ratio_query, window)}) >= 0) < +Inf"
    queries = sli_queries(sli, window)
    if queries.errors is not None:
        return f"({queries.errors})\n/\n({queries.total} > 0)"
    return f"1 - (\n  ({queries.good})\n  /\n  ({queries.total} > 0)\n)"
