"""A loopback OTLP/HTTP receiver (`POST /v1/traces`, protobuf, optionally gzip) for
collecting a run's spans without a collector."""

from __future__ import annotations

import gzip
import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from sloengine.traces.linkage import SpanRecord

__all__ = ["OtlpReceiver", "spans_from_otlp"]

_MAX_BODY_BYTES = 16 * 1024 * 1024
_KIND_NAMES = {
    trace_pb2.Span.SPAN_KIND_INTERNAL: "INTERNAL",
    trace_pb2.Span.SPAN_KIND_SERVER: "SERVER",
    trace_pb2.Span.SPAN_KIND_CLIENT: "CLIENT",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "PRODUCER",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "CONSUMER",
}


def _string(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    return "" if kind is None else str(getattr(value, kind))


def spans_from_otlp(body: bytes) -> list[SpanRecord]:
    """Decode an ExportTraceServiceRequest (protobuf) into span records."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.ParseFromString(body)
    records: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        service = "unknown"
        for attr in resource_spans.resource.attributes:
            if attr.key == "service.name":
                service = _string(attr.value)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                db_system = route = None
                for attr in span.attributes:
                    if attr.key in ("db.system", "db.system.name"):
                        db_system = _string(attr.value)
                    elif attr.key == "http.route":
                        route = _string(attr.value)
                records.append(
                    SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=_KIND_NAMES.get(span.kind, "INTERNAL"),
                        service=service,
                        db_system=db_system,
                        route=route,
                    )
                )
    return records


class OtlpReceiver:
    """Collects spans POSTed to `http://HOST:PORT/v1/traces`; loopback addresses only."""

    def __init__(self, host: str = "127.0.0.1", port: int = 4318) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ValueError(f"--otlp-listen: {host} is not a loopback address")
        self.spans: list[SpanRecord] = []
        self.rejected = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/traces":
                    self._answer(404, b"")
                    return
                if "protobuf" not in self.headers.get("Content-Type", ""):
                    self._answer(415, b"")  # OTLP/JSON is not supported: use http/protobuf
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY_BYTES:
                    self._answer(413, b"")
                    return
                body = self.rfile.read(length)
                try:
                    if self.headers.get("Content-Encoding", "") == "gzip":
                        body = gzip.decompress(body)
                    spans = spans_from_otlp(body)
                except Exception:
                    with receiver._lock:
                        receiver.rejected += 1
                    self._answer(400, b"")
                    return
                with receiver._lock:
                    receiver.spans.extend(spans)
                response = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self._answer(200, response)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # one line per export batch would drown the report

        family_host = host if host != "localhost" else "127.0.0.1"
        self._server = ThreadingHTTPServer((family_host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> list[SpanRecord]:
        """Stop serving; return every span received."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            return list(self.spans)
