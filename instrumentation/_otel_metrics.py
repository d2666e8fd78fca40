"""Optional OTLP export of `http.server.request.duration` (OTel HTTP semantic conventions).

Beside the Prometheus RED metrics (which stay the source of `/metrics` and of engine push),
`instrument(..., otlp_metrics_endpoint=...)` records each request in an OTel SDK histogram
and exports it over OTLP, so the engine's OTLP receiver, or any OTel backend, gets the
service's latency and status without scraping. The histogram is in seconds with explicit
bucket boundaries equal to `sloengine.conventions.DEFAULT_LATENCY_BUCKETS_SECONDS`, so a
latency threshold on one of our buckets means the same thing on both paths.

The resource names the service (`service.name`), the variant (`sloengine.variant`, the
engine's default `pipelines.otlp.variant_attribute`) and the revision (`service.version`,
its default `revision_attribute`; the `version` when no revision is given). The resource
is fixed at start-up: a pod relabelled through the pod-labels file keeps exporting under
its start-up variant (the Prometheus path follows the relabelling).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from instrumentation import _semconv as sc
from sloengine import conventions as c
from sloengine.telemetry.red import LATENCY_BOUNDS, is_server_error

__all__ = ["VARIANT_ATTRIBUTE", "RequestDurationExport", "otlp_metric_exporter"]

VARIANT_ATTRIBUTE = "sloengine.variant"
BOUNDARIES_SECONDS = list(LATENCY_BOUNDS)  # the same buckets as /metrics and the engine

_logger = logging.getLogger("instrumentation")


def otlp_metric_exporter(endpoint: str) -> MetricExporter:
    """OTLP/HTTP for an `http(s)://...` endpoint (the full `/v1/metrics` URL), else gRPC
    (`host:port`, plaintext)."""
    if endpoint.startswith(("http://", "https://")):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpExporter,
        )

        return HttpExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
        OTLPMetricExporter as GrpcExporter,
    )

    return GrpcExporter(endpoint=endpoint, insecure=True)


def build_meter_provider(
    exporter: MetricExporter,
    *,
    service: str,
    variant: str,
    revision: str | None,
    interval_s: float,
) -> SdkMeterProvider:
    """A meter provider exporting every `interval_s` seconds under the service's resource."""
    attributes: dict[str, str] = {sc.SERVICE_NAME: service, VARIANT_ATTRIBUTE: variant}
    if revision:
        attributes[sc.SERVICE_VERSION] = revision
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=interval_s * 1000)
    return SdkMeterProvider(resource=Resource.create(attributes), metric_readers=[reader])


class RequestDurationExport:
    """The `http.server.request.duration` histogram of one instrumented app."""

    def __init__(self, meter_provider: MeterProvider, *, owns_provider: bool) -> None:
        self.meter_provider = meter_provider
        self.owns_provider = owns_provider
        meter = meter_provider.get_meter("instrumentation")
        self.histogram = meter.create_histogram(
            sc.HTTP_SERVER_REQUEST_DURATION,
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=BOUNDARIES_SECONDS,
        )
        self._attributes: dict[tuple[str, str, int, str], dict[str, Any]] = {}

    def record(self, route: str, method: str, status: int, scheme: str, duration_s: float) -> None:
        key = (route, method, status, scheme)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = {
                sc.HTTP_REQUEST_METHOD: method,
                sc.HTTP_RESPONSE_STATUS_CODE: status,
                sc.URL_SCHEME: scheme,
            }
            if route != c.UNMATCHED_ROUTE:  # semconv: no http.route when none matched
                attributes[sc.HTTP_ROUTE] = route
            if is_server_error(status):
                attributes[sc.ERROR_TYPE] = str(status)
            if len(self._attributes) < 4096:  # bounded: routes are templates, but be safe
                self._attributes[key] = attributes
        self.histogram.record(duration_s, attributes)

    def shutdown(self) -> None:
        """Flush and stop a provider built by `instrument()` (an injected one is left alone)."""
        if self.owns_provider and isinstance(self.meter_provider, SdkMeterProvider):
            try:
                self.meter_provider.shutdown(timeout_millis=5000)
            except Exception as exc:  # an unreachable collector must not fail the shutdown
                _logger.warning("OTLP metrics shutdown failed: %s", exc)
