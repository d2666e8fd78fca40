"""The request being served, in one context variable, for logs and outbound spans.

Several instrumented apps can share a process (tests, an in-process demo): the global
httpx/sqlite3 hooks take the tracer of the request being served from here, so a gateway's
client span is reported by the gateway, and the JSON log formatter takes the request's
ids from here. Outside any request, the most recently instrumented app's tracer is used,
but only when user code has a span open.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry.trace import Span, Tracer, get_current_span

__all__ = [
    "RequestContext",
    "current_request",
    "outbound_tracer",
    "set_fallback_tracer",
]


class RequestContext:
    """Everything known about one request while it is served.

    `user_id` is always the keyed hash, never the raw id.
    """

    __slots__ = (
        "data_version",
        "exception",
        "feature_flag_state",
        "host",
        "method",
        "otel_token",
        "recorder",
        "request_id",
        "service",
        "span",
        "start",
        "status",
        "tracer",
        "user_agent",
        "user_id",
        "variant",
    )

    def __init__(
        self,
        *,
        tracer: Tracer,
        service: str,
        variant: str,
        method: str,
        span: Span,
        request_id: str,
        user_id: str | None = None,
        feature_flag_state: str | None = None,
        data_version: str | None = None,
    ) -> None:
        self.tracer = tracer
        self.service = service
        self.variant = variant
        self.method = method
        self.span = span
        self.request_id = request_id
        self.user_id = user_id
        self.feature_flag_state = feature_flag_state
        self.data_version = data_version
        self.status = 0
        self.exception: BaseException | None = None
        self.otel_token: Any = None
        self.start = 0.0
        self.recorder: Any = None  # the RedRecorder of the pod's identity at the start
        self.host: str | None = None  # the Host header, for server.address/server.port
        self.user_agent: str | None = None


current_request: ContextVar[RequestContext | None] = ContextVar(
    "instrumentation_request", default=None
)

_fallback: list[Tracer | None] = [None]


def set_fallback_tracer(tracer: Tracer | None) -> None:
    """Set (or clear, with None) the tracer used outside of any request."""
    _fallback[0] = tracer


def outbound_tracer() -> Tracer | None:
    """The tracer for an outbound (httpx, sqlite3) span, or None to leave the call untraced.

    Inside a request: that service's tracer. Outside: the fallback tracer, but only when
    user code has a span open (a background job it traces); otherwise no span at all, so
    startup work (fixtures, warm-up calls) does not produce a flood of orphan root spans.
    """
    request = current_request.get()
    if request is not None:
        return request.tracer
    if get_current_span().get_span_context().is_valid:
        return _fallback[0]
    return None
