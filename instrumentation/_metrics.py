"""RED metrics with the names, labels and buckets of `sloengine.conventions`.

One `RedMetrics` per CollectorRegistry: several instrumented apps in one process (tests,
the in-process demo) share the collectors and differ by their `service`/`variant` labels.
Label children are cached per (route, method, status), so a request costs two dict
lookups and three lock-protected increments, not a `labels()` call per metric.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sloengine import conventions as c

__all__ = ["RedMetrics", "RedRecorder", "red_metrics_for"]


class RedMetrics:
    """The three RED collectors registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = list(c.RED_LABELS)
        self.requests = Counter(
            c.HTTP_REQUESTS_TOTAL.removesuffix("_total"),
            "HTTP requests served, by route template and status code.",
            labels,
            registry=registry,
        )
        self.duration = Histogram(
            c.HTTP_REQUEST_DURATION_SECONDS,
            "HTTP request duration in seconds, from the first byte in to the last byte out.",
            labels,
            buckets=c.DEFAULT_LATENCY_BUCKETS_SECONDS,
            registry=registry,
        )
        self.in_flight = Gauge(
            c.HTTP_REQUESTS_IN_FLIGHT,
            "HTTP requests being served right now (saturation).",
            [c.LABEL_SERVICE, c.LABEL_VARIANT],
            registry=registry,
        )


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, RedMetrics] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def red_metrics_for(registry: CollectorRegistry) -> RedMetrics:
    """The RED collectors of `registry`, registering them on first use."""
    with _LOCK:
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = RedMetrics(registry)
            _BY_REGISTRY[registry] = metrics
        return metrics


class RedRecorder:
    """Records requests of one (service, variant) with cached label children."""

    __slots__ = ("_children", "_metrics", "_service", "_variant", "in_flight")

    # Route templates, methods and statuses are bounded, but a client inventing methods is
    # not: past this many children new combinations still count, via an uncached path.
    _MAX_CACHED = 2048

    def __init__(self, metrics: RedMetrics, service: str, variant: str) -> None:
        self._metrics = metrics
        self._service = service
        self._variant = variant
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.in_flight = metrics.in_flight.labels(service, variant)

    def record(self, route: str, method: str, status: int, duration_s: float) -> None:
        """Count one finished request and observe its duration."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children_for(key)
        children[0].inc()
        children[1].observe(duration_s)

    def _children_for(self, key: tuple[str, str, int]) -> tuple[Any, Any]:
        route, method, status = key
        values = (self._service, self._variant, route, method, str(status))
        children = (self._metrics.requests.labels(*values), self._metrics.duration.labels(*values))
        if len(self._children) < self._MAX_CACHED:
            self._children[key] = children
        return children
