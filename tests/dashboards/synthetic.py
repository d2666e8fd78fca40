"""A tiny scrape target on loopback serving RED metrics for canary and baseline variants.

Counters grow by a fixed amount on every scrape, so rates, error ratios and quantiles are
known and non-zero after two scrapes, with no clock or randomness involved.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sloengine import conventions as c

BUCKETS = c.DEFAULT_LATENCY_BUCKETS_SECONDS


@dataclass(frozen=True)
class Traffic:
    """Per scrape: requests, 5xx answers, and requests per latency bucket (non-cumulative)."""

    requests: int
    errors: int
    latency_counts: tuple[int, ...]  # one per BUCKETS bound; the rest are slower than all

    def cumulative(self, scrapes: int) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip(BUCKETS, self.latency_counts, strict=False):
            running += count
            out.append((repr(float(bound)), float(running * scrapes)))
        out.append(("+Inf", float(self.requests * scrapes)))
        return out


# The canary is slower and fails 10% of requests; the baseline never fails, so its 5xx series
# does not exist at all (the dashboards must still show 0, not "no data").
CANARY = Traffic(requests=20, errors=2, latency_counts=(0, 0, 0, 2, 8, 4, 2, 1, 1, 1, 1))
BASELINE = Traffic(requests=20, errors=0, latency_counts=(0, 2, 4, 6, 6, 2))


@dataclass(frozen=True)
class Endpoint:
    service: str
    route: str
    method: str


class SyntheticRed(Collector):
    """RED metrics for each endpoint, both variants, one step of traffic per scrape."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self._endpoints = endpoints
        self._scrapes = 0
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            self._scrapes += 1
            n = self._scrapes
        labels = [c.LABEL_SERVICE, c.LABEL_VARIANT, c.LABEL_ROUTE, c.LABEL_METHOD, c.LABEL_STATUS]
        requests = CounterMetricFamily(c.HTTP_REQUESTS_TOTAL, "Requests.", labels=labels)
        duration = HistogramMetricFamily(c.HTTP_REQUEST_DURATION_SECONDS, "Latency.", labels=labels)
        in_flight = GaugeMetricFamily(
            c.HTTP_REQUESTS_IN_FLIGHT, "In flight.", labels=[c.LABEL_SERVICE, c.LABEL_VARIANT]
        )
        for service in sorted({e.service for e in self._endpoints}):
            for variant in (c.VARIANT_CANARY, c.VARIANT_BASELINE):
                in_flight.add_metric([service, variant], 3.0)
        for e, variant, traffic in self._series():
            ok = [e.service, variant, e.route, e.method, "200"]
            requests.add_metric(ok, float((traffic.requests - traffic.errors) * n))
            # One histogram series per endpoint: latency SLIs sum over statuses anyway.
            duration.add_metric(ok, traffic.cumulative(n), sum_value=0.3 * traffic.requests * n)
            if traffic.errors:
                failed = [e.service, variant, e.route, e.method, "500"]
                requests.add_metric(failed, float(traffic.errors * n))
        yield from (requests, duration, in_flight)

    def _series(self) -> Iterator[tuple[Endpoint, str, Traffic]]:
        for endpoint in self._endpoints:
            yield endpoint, c.VARIANT_CANARY, CANARY
            yield endpoint, c.VARIANT_BASELINE, BASELINE


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class ScrapeTarget:
    """Serves a fresh registry with `SyntheticRed` at http://127.0.0.1:<port>/metrics."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        registry = CollectorRegistry()
        registry.register(SyntheticRed(endpoints))
        self._server: WSGIServer = make_server(
            "127.0.0.1", 0, make_wsgi_app(registry), handler_class=_QuietHandler
        )
        self.address = f"127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScrapeTarget:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
