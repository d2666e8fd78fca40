"""What a bad event is for an SLI computed from pushed series: one definition, used by the
engine's status path, and the same one the generated rules render (`sli_promql`).

    availability  bad = requests whose status matches `error_status_regex`
    latency       bad = requests slower than the threshold, among requests with latency data

Producers (sidecar, instrumentation, `sloengine.client`) push one error count per sample:
the requests with status >= 500, i.e. `status=~"5.."` over HTTP codes. An availability SLI
with another status regex (e.g. `5..|429`) cannot be computed from those counts, so the
engine refuses it for push (`push_refusal`) rather than computing the 5xx ratio instead.
A series that never pushed latency buckets has no latency data: a latency SLI leaves its
requests out (`WindowSum.latency_requests`) instead of counting them all as slow.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from sloengine import conventions
from sloengine.model import SLO, NativeSLI

__all__ = ["PUSHED_ERROR_STATUS_REGEX", "WindowSumLike", "bad_and_total", "push_refusal"]

# What the pushed error counts mean (status >= 500 over HTTP status codes).
PUSHED_ERROR_STATUS_REGEX = conventions.ERROR_STATUS_REGEX
_HTTP_STATUS_CODES = tuple(str(code) for code in range(100, 600))


class WindowSumLike(Protocol):
    @property
    def requests(self) -> float: ...
    @property
    def errors(self) -> float: ...
    @property
    def latency_requests(self) -> float: ...
    def count_at_or_below(self, threshold_s: float) -> float: ...


@lru_cache(maxsize=256)
def _matched_codes(regex: str) -> frozenset[str]:
    # PromQL regex matchers are fully anchored.
    compiled = re.compile(regex)
    return frozenset(code for code in _HTTP_STATUS_CODES if compiled.fullmatch(code))


def push_refusal(slo: SLO) -> str | None:
    """Why the engine cannot compute `slo` from pushed series, or None when it can."""
    sli = slo.sli
    if not isinstance(sli, NativeSLI) or sli.kind != "availability":
        return None
    regex = sli.error_status_regex
    if _matched_codes(regex) == _matched_codes(PUSHED_ERROR_STATUS_REGEX):
        return None
    return (
        f"SLO {slo.id}: error status {regex!r} cannot be computed from pushed series, whose "
        f"error counts are status=~{PUSHED_ERROR_STATUS_REGEX!r} (5xx); the generated "
        "Prometheus rules compute it"
    )


def bad_and_total(sli: NativeSLI, ws: WindowSumLike) -> tuple[float, float]:
    """(bad events, events) of a window for a pushed-data SLI (see module docstring).

    Call only for SLOs `push_refusal` accepts.
    """
    if sli.kind == "latency":
        if sli.latency_threshold_seconds is None:
            raise ValueError("a latency SLI needs latency_threshold_seconds")
        total = ws.latency_requests
        return max(0.0, total - ws.count_at_or_below(sli.latency_threshold_seconds)), total
    return ws.errors, ws.requests
