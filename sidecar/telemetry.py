"""What the sidecar records per exchange: RED metrics, engine samples, spans, and its own
health counters, exposed to prometheus_client through collectors (no per-request locks:
everything runs on the event loop thread and is read at scrape time).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from opentelemetry.trace import SpanKind
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from sidecar.exchange import Exchange
from sidecar.spans import SpanSink
from sloengine.conventions import (
    DEFAULT_LATENCY_BUCKETS_SECONDS,
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS_IN_FLIGHT,
    HTTP_REQUESTS_TOTAL,
    LABEL_SERVICE,
    LABEL_VARIANT,
    RED_LABELS,
)

__all__ = ["EngineRecorder", "RedMetrics", "Telemetry"]

_BOUNDS = tuple(DEFAULT_LATENCY_BUCKETS_SECONDS)


class EngineRecorder(Protocol):
    """The part of `sloengine.client.EngineClient` the sidecar uses on the hot path."""

    def record(
        self,
        service: str,
        variant: str,
        route: str,
        method: str,
        status_code: int,
        duration_s: float,
        revision: str = "",
    ) -> None: ...


class _Series:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(_BOUNDS) + 1)  # last one is +Inf only


class RedMetrics(Collector):
    """`http_requests_total` and `http_request_duration_seconds` for one service.

    `variant` and `revision` are the pod's current ones (a relabelled pod changes them
    while running); series are kept per variant, so each label set's counters only grow.
    """

    def __init__(self, service: str, variant: str, revision: str = "") -> None:
        self.service = service
        self.variant = variant
        self.revision = revision
        self._series: dict[tuple[str, str, str, int], _Series] = {}

    def observe(self, route: str, method: str, status: int, duration_s: float) -> None:
        key = (self.variant, route, method, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        series.count += 1
        series.sum += duration_s
        series.buckets[bisect.bisect_left(_BOUNDS, duration_s)] += 1

    def collect(self) -> Iterator[Any]:
        total = CounterMetricFamily(
            HTTP_REQUESTS_TOTAL, "HTTP requests through the sidecar.", labels=RED_LABELS
        )
        hist = HistogramMetricFamily(
            HTTP_REQUEST_DURATION_SECONDS,
            "Time from the first request byte to the last response byte.",
            labels=RED_LABELS,
        )
        for (variant, route, method, status), s in sorted(self._series.items()):
            labels = [self.service, variant, route, method, str(status)]
            total.add_metric(labels, s.count)
            cumulative = 0
            buckets = []
            for bound, n in zip(_BOUNDS, s.buckets, strict=False):
                cumulative += n
                buckets.append((_le(bound), cumulative))
            buckets.append(("+Inf", s.count))
            hist.add_metric(labels, buckets, s.sum)
        yield total
        yield hist


def _le(bound: float) -> str:
    return repr(float(bound))


class Telemetry(Collector):
    """The proxy's ExchangeObserver: feeds RED metrics, the engine and the span sink."""

    def __init__(
        self,
        red: RedMetrics,
        *,
        engine: EngineRecorder | None,
        spans: SpanSink | None,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self.red = red
        self.engine = engine
        self.spans = spans
        self._in_flight = in_flight
        self._rejected: dict[tuple[str, int], int] = {}
        self._egress: dict[int, int] = {}

    def exchange_done(self, ex: Exchange) -> None:
        duration = ex.end - ex.start
        ingress = ex.conn.ingress
        if ingress:
            self.red.observe(ex.route, ex.method, ex.status, duration)
            if self.engine is not None:
                red = self.red
                self.engine.record(
                    red.service,
                    red.variant,
                    ex.route,
                    ex.method,
                    ex.status,
                    duration,
                    red.revision,
                )
        else:
            self._egress[ex.status] = self._egress.get(ex.status, 0) + 1
        hop = ex.hop
        if self.spans is not None and hop is not None and hop.flags & 1:
            start = ex.start_ns
            end = start + int(duration * 1e9)
            if ingress:
                kind, name, where = SpanKind.SERVER, f"{ex.method} {ex.route}", ex.route
            else:
                kind, name, where = SpanKind.CLIENT, ex.method, f"{ex.key[0]}:{ex.key[1]}"
            self.spans.add(
                (
                    kind,
                    name,
                    hop.trace_id,
                    hop.span_id,
                    hop.parent_span_id,
                    hop.flags,
                    start,
                    end,
                    ex.method,
                    where,
                    ex.status,
                    ex.conn.peer.decode(),
                )
            )

    def request_rejected(self, kind: str, status: int) -> None:
        key = (kind, status)
        self._rejected[key] = self._rejected.get(key, 0) + 1

    def collect(self) -> Iterator[Any]:
        rejected = CounterMetricFamily(
            "sidecar_rejected_requests",
            "Requests the sidecar answered itself before routing (400, 408, 431, 501).",
            labels=["listener", "status"],
        )
        for (kind, status), n in sorted(self._rejected.items()):
            rejected.add_metric([kind, str(status)], n)
        yield rejected
        egress = CounterMetricFamily(
            "sidecar_egress_requests",
            "Outbound calls through the egress listener.",
            labels=["status"],
        )
        for status, n in sorted(self._egress.items()):
            egress.add_metric([str(status)], n)
        yield egress
        in_flight = GaugeMetricFamily(
            HTTP_REQUESTS_IN_FLIGHT,
            "Ingress requests in progress.",
            labels=[LABEL_SERVICE, LABEL_VARIANT],
        )
        in_flight.add_metric([self.red.service, self.red.variant], self._in_flight())
        yield in_flight
        spans = self.spans
        yield CounterMetricFamily(
            "sidecar_spans_exported",
            "Spans the OTLP exporter accepted.",
            spans.exported if spans else 0,
        )
        yield CounterMetricFamily(
            "sidecar_spans_dropped",
            "Spans dropped because the queue was full or the export failed.",
            spans.dropped if spans else 0,
        )
        yield GaugeMetricFamily(
            "sidecar_spans_queued", "Spans waiting for export.", spans.queued if spans else 0
        )
