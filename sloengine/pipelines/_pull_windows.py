"""Window sums from a Prometheus-compatible query API, computed exactly as the store does.

The canary judge reads `window_sum(selector, window_seconds, at)` from a window source
(`sloengine.canary._observe.WindowSource`). The embedded store is one; this is the other:
it reads the raw cumulative samples of the RED histogram from any Prometheus-compatible
API (Prometheus, Thanos, Mimir, VictoriaMetrics) and turns them into increments with the
same converter remote_write uses (resets, joins, resends: `_convert`), on the same 10 s
grid as the store's finest ring. So the same samples give the same counts, to the request,
pushed or pulled, and the same verdicts; PromQL's `increase()` would instead extrapolate
to the window edges and give fractional, different counts.

Cost: one instant query per (selector, evaluation time) with a range-vector selector
(`name_bucket{service="x",variant="y"}[<longest window + lookback>]`), fetched by
`prefetch` (async, before the judge runs) and cached for that evaluation step; each
`window_sum` then costs no query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import SloEngineError
from sloengine.pipelines._convert import EngineRow, RedConverter, SourcePoint, series_id
from sloengine.pipelines._mapping import RedMapping
from sloengine.store import WindowSum

__all__ = ["PromWindowSource"]

_RESOLUTION_MS = 10_000  # the store's finest ring
# A series' last sample before a window is its baseline; a series with none within this
# lookback is new in the window, and its first value counts in full (as remote_write does).
DEFAULT_LOOKBACK_S = 300.0


class PromWindowSource:
    """Call `await prefetch(selector, longest_window_s, at)`, then `window_sum(...)`."""

    def __init__(
        self,
        base_url: str,
        *,
        mapping: RedMapping | None = None,
        client: httpx.AsyncClient | None = None,
        lookback_s: float = DEFAULT_LOOKBACK_S,
        store_bounds: Sequence[float] = DEFAULT_LATENCY_BUCKETS_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mapping = mapping or RedMapping()
        self._client = client or httpx.AsyncClient(timeout=10.0)
        self.lookback_s = lookback_s
        self.store_bounds = tuple(float(b) for b in store_bounds)
        # (selector, at) -> samples per source series: labels and [(ts_ms, value), ...]
        self._cache: dict[tuple[tuple[tuple[str, str], ...], float], list[Any]] = {}
        self.queries = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    def _query(self, selector: Mapping[str, str], range_s: float) -> str:
        names = dict(self.mapping.labels)
        # `label=""` matches series without the label, as the store's selectors do.
        matchers = ",".join(
            f'{names.get(k, k)}="{_escape(v)}"' for k, v in sorted(selector.items())
        )
        return f"{self.mapping.histogram_metric}_bucket{{{matchers}}}[{math.ceil(range_s)}s]"

    async def prefetch(
        self, selector: Mapping[str, str], longest_window_s: float, at_unix_s: float
    ) -> None:
        """Fetch the raw samples every window up to `longest_window_s` at `at` needs."""
        key = (tuple(sorted(selector.items())), float(at_unix_s))
        if key in self._cache:
            return
        hi_s = math.floor(at_unix_s * 1000 / _RESOLUTION_MS) * _RESOLUTION_MS / 1000
        range_s = longest_window_s + _RESOLUTION_MS / 1000 + self.lookback_s
        params = {"query": self._query(selector, range_s), "time": f"{hi_s:.3f}"}
        try:
            resp = await self._client.get(f"{self.base_url}/api/v1/query", params=params)
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SloEngineError(f"query API {self.base_url}: {exc}") from None
        if body.get("status") != "success" or body["data"]["resultType"] != "matrix":
            raise SloEngineError(f"query API {self.base_url}: {body.get('error', body)}")
        self.queries += 1
        self._cache[key] = [
            (series["metric"], [(round(float(t) * 1000), float(v)) for t, v in series["values"]])
            for series in body["data"]["result"]
        ]

    def forget(self) -> None:
        """Drop every prefetched range (call once per evaluation step)."""
        self._cache.clear()

    def window_sum(
        self, selector: Mapping[str, str], window_seconds: float, at_unix_s: float
    ) -> WindowSum:
        """Requests, errors and latency over `(at - window, at]` on the store's grid."""
        key = (tuple(sorted(selector.items())), float(at_unix_s))
        try:
            fetched = self._cache[key]
        except KeyError:
            raise SloEngineError(
                f"window_sum({dict(selector)}) at {at_unix_s}: not prefetched"
            ) from None
        hi_ms = math.floor(at_unix_s * 1000 / _RESOLUTION_MS) * _RESOLUTION_MS
        lo_ms = hi_ms - round(window_seconds * 1000 / _RESOLUTION_MS) * _RESOLUTION_MS
        points: list[SourcePoint] = []
        for metric, samples in fetched:
            labels = {**metric, "__name__": f"{self.mapping.histogram_metric}_bucket"}
            sid = series_id(labels)
            before = [s for s in samples if s[0] <= lo_ms]
            inside = [s for s in samples if lo_ms < s[0] <= hi_ms]
            # The baseline (counted, then discarded below) and the window's samples.
            for ts, value in ([before[-1]] if before else []) + inside:
                points.append(SourcePoint(labels, ts, value, series=sid))
        rows = RedConverter(self.mapping).convert(points, oldest_ms=0, newest_ms=hi_ms).rows
        return self._sum([r for r in rows if r.ts_ms > lo_ms], lo_ms, hi_ms)

    def _sum(self, rows: list[EngineRow], lo_ms: int, hi_ms: int) -> WindowSum:
        bounds = np.asarray(self.store_bounds)
        latency = np.zeros(len(bounds))
        requests = errors = without = 0.0
        for row in rows:
            requests += row.requests
            errors += row.errors
            if not row.latency_bounds_seconds:
                without += row.requests
                continue
            # A sender bucket counts at the first store bound at or above it (the store's
            # own conservative mapping); above the last one it is implied slow.
            target = np.searchsorted(bounds, np.asarray(row.latency_bounds_seconds), "left")
            for j, count in zip(target, row.latency_counts, strict=True):
                if j < len(bounds):
                    latency[j] += count
        return WindowSum(
            requests=requests,
            errors=errors,
            latency_bounds_seconds=self.store_bounds,
            latency_counts=tuple(float(x) for x in latency),
            start_unix_s=lo_ms / 1000,
            end_unix_s=hi_ms / 1000,
            series=len({r.key for r in rows}),
            requests_without_latency=without,
        )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
