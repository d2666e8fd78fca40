"""RED metrics with the names, labels and buckets of `sloengine.conventions`.

A request costs one dict lookup, a bisect and three integer additions under an
uncontended lock: the series for a (route, method, status) is cached by the app's
recorder, and a custom prometheus-client collector turns the raw counts into
`http_requests_total`, `http_request_duration_seconds` and `http_requests_in_flight`
families only when scraped. (The stock Counter/Histogram/Gauge objects cost about five
times more per request: argument checks and one lock per value.)

One collector per CollectorRegistry: several instrumented apps in one process (tests, an
in-process demo) share it and differ by their `service`/`variant` labels.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Iterator

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

__all__ = ["RedCollector", "RedRecorder", "red_collector_for"]

_BOUNDS = tuple(float(b) for b in c.DEFAULT_LATENCY_BUCKETS_SECONDS)
_LE = [floatToGoString(b) for b in _BOUNDS]
_IN_FLIGHT_LABELS = [c.LABEL_SERVICE, c.LABEL_VARIANT]

SeriesKey = tuple[str, str, str, str, str]  # service, variant, route, method, status


class _Series:
    """Raw counts of one label set: requests, duration sum, non-cumulative buckets."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (len(_BOUNDS) + 1)  # the last one is +Inf


class RedCollector(Collector):
    """Holds every RED series of one registry and renders them at scrape time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._series: dict[SeriesKey, _Series] = {}
        self.in_flight: dict[tuple[str, str], int] = {}

    def series(self, key: SeriesKey) -> _Series:
        with self.lock:
            found = self._series.get(key)
            if found is None:
                found = self._series[key] = _Series()
            return found

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(c.HTTP_REQUESTS_TOTAL, "", labels=c.RED_LABELS)
        yield HistogramMetricFamily(c.HTTP_REQUEST_DURATION_SECONDS, "", labels=c.RED_LABELS)
        yield GaugeMetricFamily(c.HTTP_REQUESTS_IN_FLIGHT, "", labels=_IN_FLIGHT_LABELS)

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            snapshot = [(k, s.count, s.sum, list(s.buckets)) for k, s in self._series.items()]
            in_flight = list(self.in_flight.items())
        requests = CounterMetricFamily(
            c.HTTP_REQUESTS_TOTAL,
            "HTTP requests served, by route template and status code.",
            labels=c.RED_LABELS,
        )
        duration = HistogramMetricFamily(
            c.HTTP_REQUEST_DURATION_SECONDS,
            "HTTP request duration in seconds, from the first byte in to the last byte out.",
            labels=c.RED_LABELS,
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
        gauge = GaugeMetricFamily(
            c.HTTP_REQUESTS_IN_FLIGHT,
            "HTTP requests being served right now (saturation).",
            labels=_IN_FLIGHT_LABELS,
        )
        for (service, variant), value in in_flight:
            gauge.add_metric([service, variant], value)
        yield requests
        yield duration
        yield gauge


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, RedCollector] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def red_collector_for(registry: CollectorRegistry) -> RedCollector:
    """The RED collector of `registry`, registering it on first use.

    Raises ValueError if the registry already has other metrics with these names.
    """
    with _LOCK:
        collector = _BY_REGISTRY.get(registry)
        if collector is None:
            collector = RedCollector()
            registry.register(collector)
            _BY_REGISTRY[registry] = collector
        return collector


class RedRecorder:
    """Records the requests of one (service, variant), with series cached per
    (route, method, status)."""

    __slots__ = ("_cache", "_collector", "_in_flight_key", "_lock", "_service", "_variant")

    # Routes, methods and statuses are bounded; past this many cached series, new
    # combinations still count, through the collector's (locked) lookup.
    _MAX_CACHED = 4096

    def __init__(self, collector: RedCollector, service: str, variant: str) -> None:
        self._collector = collector
        self._lock = collector.lock
        self._service = service
        self._variant = variant
        self._cache: dict[tuple[str, str, int], _Series] = {}
        self._in_flight_key = (service, variant)
        with collector.lock:
            collector.in_flight.setdefault(self._in_flight_key, 0)

    def started(self) -> None:
        """One more request in flight."""
        with self._lock:
            self._collector.in_flight[self._in_flight_key] += 1

    def record(self, route: str, method: str, status: int, duration_s: float) -> None:
        """Count one finished request (no longer in flight) and observe its duration."""
        key = (route, method, status)
        series = self._cache.get(key)
        if series is None:
            series = self._collector.series(
                (self._service, self._variant, route, method, str(status))
            )
            if len(self._cache) < self._MAX_CACHED:
                self._cache[key] = series
        index = bisect.bisect_left(_BOUNDS, duration_s)  # le: first bound >= duration
        with self._lock:
            self._collector.in_flight[self._in_flight_key] -= 1
            series.count += 1
            series.sum += duration_s
            series.buckets[index] += 1
