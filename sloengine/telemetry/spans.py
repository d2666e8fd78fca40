"""Spans built cheaply on a hot path and exported over OTLP in batches off it, and the one
reading of the OTel environment that picks the span exporter (sidecar and instrumentation).

The sidecar appends one plain tuple per sampled exchange to a bounded deque (no SDK objects,
no locks). A daemon thread turns them into SDK `ReadableSpan`s every schedule delay (or as
soon as a batch is full) and hands them to the OTLP exporter, which does its own retries
with backoff. A full queue or a failed export drops spans and counts them: a slow or
absent collector never slows a request.

Why not the SDK's `BatchSpanProcessor` (which the instrumentation uses, its spans being SDK
spans already): it takes finished SDK spans, so a `ReadableSpan` (ids, contexts,
attributes, status) would be built on the event loop for every sampled exchange instead of
on the export thread; it does not report how many spans were exported or dropped (the
sidecar's `sidecar_spans_exported` / `sidecar_spans_dropped` / `sidecar_spans_queued`);
and on a full queue it logs a warning per dropped span. The batching rules and settings
are the same (OTEL_BSP_*), so the two behave alike.

Settings follow the OTel environment variables: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
enables export, OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL picks `http/protobuf` (default) or
`grpc`, OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true turn it off,
OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY (ms),
OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES for the resource.

Needs the OpenTelemetry SDK and OTLP exporters, which the `sidecar` and `instrumentation`
extras install (the core does not: nothing in `sloengine` imports this module).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

__all__ = ["SpanRecord", "SpanSink", "otlp_exporter_from_env"]

log = logging.getLogger(__name__)

# (kind, name, trace_id, span_id, parent_span_id | None, flags, start_ns, end_ns,
#  method, route_or_host, status, peer)
SpanRecord = tuple[SpanKind, str, str, str, str | None, int, int, int, str, str, int, str]


def otlp_exporter_from_env(env: Mapping[str, str]) -> SpanExporter | None:
    """The OTLP span exporter the environment asks for, or None when export is off.

    The endpoint is passed explicitly (so an injected `env` works); headers, timeout,
    compression and TLS settings are read from os.environ by the exporters themselves.
    Raises ValueError naming the variable for a protocol other than grpc / http/protobuf.
    """
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (traces_endpoint or base_endpoint):
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcOTLPSpanExporter,
        )

        return GrpcOTLPSpanExporter(endpoint=traces_endpoint or base_endpoint)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not traces_endpoint:
            # The spec: a base endpoint gets the signal path appended; a per-signal one is used as is.
            traces_endpoint = f"{(base_endpoint or '').rstrip('/')}/v1/traces"
        return OTLPSpanExporter(endpoint=traces_endpoint)
    raise ValueError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL: unsupported {protocol!r} (use grpc or http/protobuf)"
    )


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(env.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class SpanSink:
    """Bounded span queue plus the export thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        resource: Resource,
        *,
        scope: InstrumentationScope,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay_s: float = 5.0,
    ) -> None:
        self._exporter = exporter
        self._resource = resource
        self._scope = scope
        self._max_queue = max_queue_size
        self._max_batch = min(max_batch_size, max_queue_size)
        self._delay_s = schedule_delay_s
        self._queue: deque[SpanRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{scope.name}-span-export", daemon=True
        )
        self.dropped = 0
        self.exported = 0

    @classmethod
    def from_env(
        cls,
        exporter: SpanExporter,
        resource: Resource,
        env: Mapping[str, str],
        *,
        scope: InstrumentationScope,
    ) -> SpanSink:
        return cls(
            exporter,
            resource,
            scope=scope,
            max_queue_size=_int_env(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
            max_batch_size=_int_env(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
            schedule_delay_s=_int_env(env, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
        )

    def add(self, record: SpanRecord) -> None:
        """Queue one span; O(1), never blocks; drops (and counts) when the queue is full."""
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.dropped += 1
            return
        queue.append(record)
        if len(queue) == self._max_batch:
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Export what is queued (bounded by `timeout_s`), then stop the exporter."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self._exporter.shutdown()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._export_queued()
        self._export_queued()

    def _export_queued(self) -> None:
        while self._queue:
            batch: list[ReadableSpan] = []
            while self._queue and len(batch) < self._max_batch:
                batch.append(self._to_sdk(self._queue.popleft()))
            try:
                result = self._exporter.export(batch)
            except Exception:  # an exporter bug must not kill the thread
                log.exception("span export raised")
                result = SpanExportResult.FAILURE
            if result is SpanExportResult.SUCCESS:
                self.exported += len(batch)
            else:
                self.dropped += len(batch)
                return  # the exporter already retried with backoff; try again next round

    def _to_sdk(self, r: SpanRecord) -> ReadableSpan:
        kind, name, trace_id, span_id, parent_id, flags, start, end, method, where, status, peer = r
        tid = int(trace_id, 16)
        trace_flags = TraceFlags(flags & 0xFF)
        parent = (
            SpanContext(tid, int(parent_id, 16), is_remote=True, trace_flags=trace_flags)
            if parent_id
            else None
        )
        attributes: dict[str, str | int] = {"http.request.method": method}
        if kind is SpanKind.SERVER:
            attributes["http.route"] = where
            attributes["client.address"] = peer
        else:
            attributes["server.address"] = where
        if status:
            attributes["http.response.status_code"] = status
        # Server spans: only 5xx is an error; client spans: 4xx too (OTel HTTP conventions).
        failed = status >= 500 or (kind is SpanKind.CLIENT and status >= 400) or status == 0
        return ReadableSpan(
            name=name,
            context=SpanContext(tid, int(span_id, 16), is_remote=False, trace_flags=trace_flags),
            parent=parent,
            resource=self._resource,
            attributes=attributes,
            kind=kind,
            status=Status(StatusCode.ERROR) if failed else Status(StatusCode.UNSET),
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )
