"""Endpoints of the receivers: remote_write (`POST /api/v1/write`), OTLP/HTTP
(`POST /v1/metrics`, protobuf or JSON, optionally gzip) and OTLP/gRPC
(`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`).

OTLP answers as the specification asks: 200 with an ExportMetricsServiceResponse whose
`partial_success` counts the data points that were dropped (not retried); 400 with a
google.rpc.Status for a malformed body; 503 / UNAVAILABLE (retried) when the data could not
be made durable.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms

from sloengine.engine import Readiness
from sloengine.http.auth import Scope, require_token
from sloengine.pipelines._receiver import REJECTED_OUTCOMES, PayloadError, PipelineReceiver
from sloengine.pipelines._remote_write import V1_MESSAGE, V2_MESSAGE
from sloengine.settings.credentials import Credentials

__all__ = [
    "OTLP_METRICS_PATH",
    "OTLP_METRICS_SERVICE",
    "REMOTE_WRITE_PATH",
    "add_routes",
    "otlp_grpc_handler",
]

log = logging.getLogger(__name__)

REMOTE_WRITE_PATH = "/api/v1/write"
OTLP_METRICS_PATH = "/v1/metrics"
OTLP_METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
PROTOCOL_REMOTE_WRITE = 1
PROTOCOL_OTLP = 2
MAX_BODY_BYTES = 32 * 1024 * 1024


def _media(content_type: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in content_type.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def add_routes(
    credentials: Credentials,
    readiness: Readiness,
    app: web.Application,
    receiver: PipelineReceiver,
) -> None:
    """remote_write and OTLP/HTTP on `app`: `credentials` check the caller's token, and
    nothing is taken before `readiness` says the engine is ready."""

    async def remote_write(request: web.Request) -> web.Response:
        response = await _remote_write(credentials, readiness, receiver, request)
        receiver.requests.labels("remote_write", str(response.status)).inc()
        return response

    async def otlp(request: web.Request) -> web.Response:
        response = await _otlp_http(credentials, readiness, receiver, request)
        receiver.requests.labels("otlp", str(response.status)).inc()
        return response

    app.router.add_post(REMOTE_WRITE_PATH, remote_write)
    app.router.add_post(OTLP_METRICS_PATH, otlp)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


async def _remote_write(
    credentials: Credentials,
    readiness: Readiness,
    receiver: PipelineReceiver,
    request: web.Request,
) -> web.Response:
    require_token(credentials, request, Scope.INGEST)  # remote_write is an ingest call
    if not readiness.ready:
        return _text(503, "not ready")
    media, params = _media(request.headers.get("Content-Type", "application/x-protobuf"))
    if media != "application/x-protobuf":
        return _text(415, f"Content-Type {media!r}: expected application/x-protobuf")
    message = params.get("proto", V1_MESSAGE)
    if message != V1_MESSAGE:
        hint = " (remote-write 2.0 is not supported here)" if message == V2_MESSAGE else ""
        return _text(415, f"proto={message!r}: only {V1_MESSAGE} is accepted{hint}")
    encoding = request.headers.get("Content-Encoding", "snappy").strip().lower()
    if encoding != "snappy":
        return _text(415, f"Content-Encoding {encoding!r}: only snappy is accepted")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _text(413, f"body: over {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _text(413, f"body: over {MAX_BODY_BYTES} bytes")
    try:
        result = await receiver.ingest(PROTOCOL_REMOTE_WRITE, body)
    except PayloadError as exc:
        return _text(400, str(exc))
    except Exception as exc:  # the journal or the store failed: retriable
        log.error("remote_write: not durable: %s", exc)
        return _text(503, f"not durable, retry later: {exc}")
    if result.rejected:
        dropped = ", ".join(
            f"{n} {o.replace('_', ' ')}"
            for o, n in sorted(result.outcomes.items())
            if o in REJECTED_OUTCOMES and n
        )
        return _text(400, f"samples dropped: {dropped}; the others were counted")
    return web.Response(status=204)


# --- OTLP ---------------------------------------------------------------------------------


def _otlp_response(result_rejected: int, message: str) -> ms.ExportMetricsServiceResponse:
    response = ms.ExportMetricsServiceResponse()
    if result_rejected:
        response.partial_success.rejected_data_points = result_rejected
        response.partial_success.error_message = message
    return response


def _rejection_message(outcomes: Any) -> str:
    return "dropped: " + ", ".join(
        f"{n} {o.replace('_', ' ')}"
        for o, n in sorted(outcomes.items())
        if o in REJECTED_OUTCOMES and n
    )


def _encode(message: Any, json: bool) -> tuple[bytes, str]:
    if json:
        return json_format.MessageToJson(message).encode(), "application/json"
    return message.SerializeToString(), "application/x-protobuf"


def _status(http: int, code: int, text: str, json: bool) -> web.Response:
    body, content_type = _encode(status_pb2.Status(code=code, message=text), json)
    return web.Response(status=http, body=body, content_type=content_type)


async def _otlp_http(
    credentials: Credentials,
    readiness: Readiness,
    receiver: PipelineReceiver,
    request: web.Request,
) -> web.Response:
    require_token(credentials, request)
    media, _ = _media(request.headers.get("Content-Type", ""))
    json = media == "application/json"
    if not json and media != "application/x-protobuf":
        return _text(
            415, f"Content-Type {media!r}: expected application/x-protobuf or application/json"
        )
    if not readiness.ready:
        return _status(503, code_pb2.UNAVAILABLE, "not ready", json)
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _status(413, code_pb2.RESOURCE_EXHAUSTED, f"body: over {MAX_BODY_BYTES} bytes", json)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    try:
        if encoding == "gzip":
            body = _gunzip(body)
        elif encoding != "identity":
            return _text(415, f"Content-Encoding {encoding!r}: only gzip or none")
        if json:
            try:
                message = json_format.Parse(
                    body, ms.ExportMetricsServiceRequest(), ignore_unknown_fields=True
                )
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                raise PayloadError(
                    f"body: not an OTLP JSON ExportMetricsServiceRequest ({exc})"
                ) from None
            body = message.SerializeToString()
        result = await receiver.ingest(PROTOCOL_OTLP, body)
    except PayloadError as exc:
        return _status(400, code_pb2.INVALID_ARGUMENT, str(exc), json)
    except Exception as exc:  # the journal or the store failed: retriable
        log.error("otlp: not durable: %s", exc)
        return _status(503, code_pb2.UNAVAILABLE, f"not durable, retry later: {exc}", json)
    response = _otlp_response(result.rejected, _rejection_message(result.outcomes))
    payload, content_type = _encode(response, json)
    return web.Response(status=200, body=payload, content_type=content_type)


def _gunzip(body: bytes) -> bytes:
    try:
        out = gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as exc:
        raise PayloadError(f"body: not gzip ({exc})") from None
    return out


def otlp_grpc_handler(readiness: Readiness, receiver: PipelineReceiver) -> grpc.GenericRpcHandler:
    """`MetricsService/Export`; requests reach the receiver as raw bytes (journalled as is)."""

    async def export(
        raw: bytes, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ms.ExportMetricsServiceResponse:
        if not readiness.ready:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not ready")
        try:
            result = await receiver.ingest(PROTOCOL_OTLP, raw)
        except PayloadError as exc:
            receiver.requests.labels("otlp_grpc", "INVALID_ARGUMENT").inc()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Exception as exc:
            log.error("otlp: not durable: %s", exc)
            receiver.requests.labels("otlp_grpc", "UNAVAILABLE").inc()
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"not durable, retry later: {exc}")
        receiver.requests.labels("otlp_grpc", "OK").inc()
        return _otlp_response(result.rejected, _rejection_message(result.outcomes))

    return grpc.method_handlers_generic_handler(
        OTLP_METRICS_SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export, response_serializer=ms.ExportMetricsServiceResponse.SerializeToString
            )
        },
    )
