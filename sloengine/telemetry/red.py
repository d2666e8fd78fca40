"""RED metrics, recorded once for the sidecar and the instrumentation.

One bucketing and one error rule for every consumer of a request's outcome: the
Prometheus exposition here (`http_requests_total`, `http_request_duration_seconds`,
`http_requests_in_flight`, the names and labels of `sloengine.conventions`), the engine
client (`sloengine.client.EngineClient.record`, fed by the recorder), and the
instrumentation's OTLP histogram.

A request costs one dict lookup, a bisect and three integer additions: the series of a
(route, method, status) is cached by its `RedRecorder`, and the collector turns the raw
counts into metric families only when scraped. (prometheus-client's stock
Counter/Histogram/Gauge cost about five times more per request: argument checks and one
lock per value.) The lock is optional: the sidecar records and is scraped on one event-loop
thread and goes without; an instrumented app may be scraped from another thread, and
several apps may share one registry, so its collector locks.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Final, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from sloengine import conventions as c

__all__ = [
    "LATENCY_BOUNDS",
    "EngineRecorder",
    "RedCollector",
    "RedRecorder",
    "bucket_index",
    "is_server_error",
    "red_collector_for",
]

# The latency bucket upper bounds (seconds); the bucket past the last one is +Inf.
LATENCY_BOUNDS: Final = tuple(float(b) for b in c.DEFAULT_LATENCY_BUCKETS_SECONDS)
_LE: Final = [floatToGoString(b) for b in LATENCY_BOUNDS]
_IN_FLIGHT_LABELS: Final = [c.LABEL_SERVICE, c.LABEL_VARIANT]

SeriesKey = tuple[str, str, str, str, str]  # service, variant, route, method, status


def bucket_index(duration_s: float) -> int:
    """The bucket of a duration: the first bound >= it (Prometheus `le`), or
    `len(LATENCY_BOUNDS)` for +Inf only."""
    return bisect_left(LATENCY_BOUNDS, duration_s)


def is_server_error(status: int) -> bool:
    """The error of RED and of every SLI: a 5xx answer (4xx is the caller's fault)."""
    return status >= 500


class EngineRecorder(Protocol):
    """Where a recorder sends each request besides /metrics: `EngineClient.record`."""

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
    """Raw counts of one label set: requests, duration sum, non-cumulative buckets."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(LATENCY_BOUNDS) + 1)  # the last one is +Inf


class RedCollector(Collector):
    """Every RED series of one registry, rendered at scrape time (sorted by labels).

    `thread_safe=False` is for a single event-loop thread that records and is scraped
    (no lock). `count_in_flight=False` leaves `http_requests_in_flight` to the owner
    (the sidecar counts its exchanges itself); otherwise each recorder's `started` and
    `record` keep the gauge.
    """

    def __init__(
        self,
        *,
        thread_safe: bool = True,
        count_in_flight: bool = True,
        requests_help: str = "HTTP requests served, by route template and status code.",
        duration_help: str = (
            "HTTP request duration in seconds, from the first byte in to the last byte out."
        ),
    ) -> None:
        self.lock: threading.Lock | None = threading.Lock() if thread_safe else None
        self.count_in_flight = count_in_flight
        self._help = (requests_help, duration_help)
        self._series: dict[SeriesKey, _Series] = {}
        self.in_flight: dict[tuple[str, str], int] = {}

    def series(self, key: SeriesKey) -> _Series:
        lock = self.lock
        if lock is None:
            return self._series.get(key) or self._series.setdefault(key, _Series())
        with lock:
            return self._series.get(key) or self._series.setdefault(key, _Series())

    def recorder(
        self, service: str, variant: str, revision: str = "", engine: EngineRecorder | None = None
    ) -> RedRecorder:
        """A recorder for one (service, variant, revision), sending to `engine` too."""
        return RedRecorder(self, service, variant, revision, engine)

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(c.HTTP_REQUESTS_TOTAL, "", labels=c.RED_LABELS)
        yield HistogramMetricFamily(c.HTTP_REQUEST_DURATION_SECONDS, "", labels=c.RED_LABELS)
        if self.count_in_flight:
            yield GaugeMetricFamily(c.HTTP_REQUESTS_IN_FLIGHT, "", labels=_IN_FLIGHT_LABELS)

    def collect(self) -> Iterator[Metric]:
        if self.lock is None:
            snapshot = [(k, s.count, s.sum, s.buckets) for k, s in sorted(self._series.items())]
            in_flight = sorted(self.in_flight.items())
        else:
            with self.lock:
                items = [(k, s.count, s.sum, list(s.buckets)) for k, s in self._series.items()]
                in_flight = sorted(self.in_flight.items())
            snapshot = sorted(items, key=lambda item: item[0])
        requests_help, duration_help = self._help
        requests = CounterMetricFamily(c.HTTP_REQUESTS_TOTAL, requests_help, labels=c.RED_LABELS)
        duration = HistogramMetricFamily(
            c.HTTP_REQUEST_DURATION_SECONDS, duration_help, labels=c.RED_LABELS
        )
        for key, count, total, buckets in snapshot:
            labels = list(key)
            requests.add_metric(labels, count)
            cumulative, running = [], 0
            for le, n in zip(_LE, buckets, strict=False):
                running += n
                cumulative.append((le, running))
            cumulative.append(("+Inf", count))
            duration.add_metric(labels, cumulative, total)
        yield requests
        yield duration
        if self.count_in_flight:
            gauge = GaugeMetricFamily(
                c.HTTP_REQUESTS_IN_FLIGHT,
                "HTTP requests being served right now (saturation).",
                labels=_IN_FLIGHT_LABELS,
            )
            for (service, variant), value in in_flight:
                gauge.add_metric([service, variant], value)
            yield gauge


class RedRecorder:
    """Records the requests of one (service, variant, revision): the collector's series
    (cached per route, method and status) and, when given, the engine client.

    `record(route, method, status, duration_s)` counts one finished request (no longer in
    flight), observes its duration and sends it to the engine. It is chosen once per
    recorder: without a lock or an in-flight count (the sidecar's collector) it skips both,
    which is most of its cost.
    """

    __slots__ = (
        "_cache",
        "_collector",
        "_engine",
        "_in_flight",
        "_in_flight_key",
        "_lock",
        "record",
        "revision",
        "service",
        "variant",
    )

    # Routes, methods and statuses are bounded; past this many cached series, new
    # combinations still count, through the collector's lookup.
    _MAX_CACHED = 4096

    def __init__(
        self,
        collector: RedCollector,
        service: str,
        variant: str,
        revision: str = "",
        engine: EngineRecorder | None = None,
    ) -> None:
        self.service = service
        self.variant = variant
        self.revision = revision
        self._collector = collector
        self._engine = engine
        self._cache: dict[tuple[str, str, int], _Series] = {}
        self._in_flight = collector.in_flight if collector.count_in_flight else None
        self._in_flight_key = (service, variant)
        guarded = collector.lock is not None or self._in_flight is not None
        self._lock: threading.Lock | contextlib.nullcontext[None] = (
            collector.lock or contextlib.nullcontext()
        )
        self.record: Callable[[str, str, int, float], None] = (
            self._record_guarded if guarded else self._record_plain
        )
        if self._in_flight is not None:
            with self._lock:
                self._in_flight.setdefault(self._in_flight_key, 0)

    def with_identity(self, variant: str, revision: str) -> RedRecorder:
        """This recorder if the pod's (variant, revision) is unchanged, else one for the new
        identity on the same collector and engine (a relabelled pod: promotion)."""
        if variant == self.variant and revision == self.revision:
            return self
        return RedRecorder(self._collector, self.service, variant, revision, self._engine)

    def started(self) -> None:
        """One more request in flight (when the collector counts them)."""
        if self._in_flight is not None:
            with self._lock:
                self._in_flight[self._in_flight_key] += 1

    def _series(self, key: tuple[str, str, int]) -> _Series:
        route, method, status = key
        series = self._collector.series((self.service, self.variant, route, method, str(status)))
        if len(self._cache) < self._MAX_CACHED:
            self._cache[key] = series
        return series

    def _record_plain(self, route: str, method: str, status: int, duration_s: float) -> None:
        key = (route, method, status)
        series = self._cache.get(key) or self._series(key)
        series.count += 1
        series.sum += duration_s
        series.buckets[bisect_left(LATENCY_BOUNDS, duration_s)] += 1  # bucket_index, inlined
        if self._engine is not None:
            self._engine.record(
                self.service, self.variant, route, method, status, duration_s, self.revision
            )

    def _record_guarded(self, route: str, method: str, status: int, duration_s: float) -> None:
        key = (route, method, status)
        series = self._cache.get(key) or self._series(key)
        index = bisect_left(LATENCY_BOUNDS, duration_s)  # bucket_index, inlined
        with self._lock:
            series.count += 1
            series.sum += duration_s
            series.buckets[index] += 1
            if self._in_flight is not None:
                self._in_flight[self._in_flight_key] -= 1
        if self._engine is not None:
            self._engine.record(
                self.service, self.variant, route, method, status, duration_s, self.revision
            )


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, RedCollector] = (
    weakref.WeakKeyDictionary()
)
_REGISTRY_LOCK = threading.Lock()


def red_collector_for(registry: CollectorRegistry) -> RedCollector:
    """The (thread-safe) RED collector of `registry`, registering it on first use: several
    instrumented apps in one process (tests, an in-process demo) share it and differ by
    their `service`/`variant` labels.

    Raises ValueError if the registry already has other metrics with these names.
    """
    with _REGISTRY_LOCK:
        collector = _BY_REGISTRY.get(registry)
        if collector is None:
            collector = RedCollector()
            registry.register(collector)
            _BY_REGISTRY[registry] = collector
        return collector
