"""What the sidecar records per exchange: RED metrics (with the engine samples, through
the shared `sloengine.telemetry.red` recorder), spans, and its own health counters, exposed
to prometheus_client through collectors (no per-request locks: everything runs on the event
loop thread and is read at scrape time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar.exchange import Exchange
from sloengine.conventions import HTTP_REQUESTS_IN_FLIGHT, LABEL_SERVICE, LABEL_VARIANT
from sloengine.telemetry.red import RedCollector, RedRecorder
from sloengine.telemetry.spans import SpanSink

__all__ = ["Telemetry", "red_collector"]


def red_collector() -> RedCollector:
    """The sidecar's RED series: one event-loop thread records and is scraped (no lock);
    `http_requests_in_flight` is the sidecar's own count of open exchanges (`Telemetry`)."""
    return RedCollector(
        thread_safe=False,
        count_in_flight=False,
        requests_help="HTTP requests through the sidecar.",
        duration_help="Time from the first request byte to the last response byte.",
    )


class Telemetry(Collector):
    """The proxy's ExchangeObserver: feeds the RED recorder (metrics and engine) and the
    span sink."""

    def __init__(
        self,
        red: RedRecorder,
        *,
        spans: SpanSink | None,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        # The pod's current (variant, revision): a relabelled pod swaps in another recorder
        # (`RedRecorder.with_identity`), so each label set's counters only grow.
        self.red = red
        self.spans = spans
        self._in_flight = in_flight
        self._rejected: dict[tuple[str, int], int] = {}
        self._egress: dict[int, int] = {}

    def exchange_done(self, ex: Exchange) -> None:
        duration = ex.end - ex.start
        ingress = ex.conn.ingress
        if ingress:
            self.red.record(ex.route, ex.method, ex.status, duration)
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
