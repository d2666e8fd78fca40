"""HTTP endpoints of the receivers: remote_write (`/api/v1/write`) and OTLP/HTTP (`/v1/metrics`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from sloengine.http.auth import Scope, require_token
from sloengine.pipelines._receiver import REJECTED_OUTCOMES, PayloadError, PipelineReceiver
from sloengine.pipelines._remote_write import V1_MESSAGE, V2_MESSAGE

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["REMOTE_WRITE_PATH", "add_routes"]

log = logging.getLogger(__name__)

REMOTE_WRITE_PATH = "/api/v1/write"
PROTOCOL_REMOTE_WRITE = 1
MAX_BODY_BYTES = 32 * 1024 * 1024


def _media(content_type: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in content_type.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return parts[0].lower(), params


def add_routes(state: EngineState, app: web.Application, receiver: PipelineReceiver) -> None:
    async def remote_write(request: web.Request) -> web.Response:
        response = await _remote_write(state, receiver, request)
        receiver.requests.labels("remote_write", str(response.status)).inc()
        return response

    app.router.add_post(REMOTE_WRITE_PATH, remote_write)


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n")


async def _remote_write(
    state: EngineState, receiver: PipelineReceiver, request: web.Request
) -> web.Response:
    require_token(state, request, Scope.INGEST)  # remote_write is an ingest call
    if not state.ready:
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
