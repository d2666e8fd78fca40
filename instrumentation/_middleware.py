"""The pure ASGI middleware: one server span, RED metrics and an access log per request.

No per-send/receive spans and no BaseHTTPMiddleware: the request costs one span, two
cached metric children, a gauge inc/dec and (when INFO is enabled) one log line. The route
template is read from `scope["route"]`, which Starlette's router sets when it matches, so
naming the span costs an attribute read after the app returns, not a second routing pass.
Every step is wrapped: if instrumentation fails, the request goes on uninstrumented.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import Token
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation._context import current_tracer
from instrumentation._logs import ACCESS_LOGGER, RequestLogContext, current_log_context
from instrumentation._tracestate import MAX_MEMBERS, MAX_TRACESTATE_CHARS, truncate_tracestate
from sloengine import conventions as c

if TYPE_CHECKING:
    from instrumentation._instrument import Instrumentation

__all__ = ["InstrumentationMiddleware"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
# Incoming request ids are echoed and logged: accept only short, inert ones.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_MAX_FLAGS_LEN = 256
_access_logger = logging.getLogger(ACCESS_LOGGER)


class _Request:
    """What `_start` hands to `_finish` for one request."""

    __slots__ = (
        "exception",
        "log_token",
        "method",
        "otel_token",
        "request_id",
        "span",
        "start",
        "status",
        "tracer_token",
    )

    method: str
    span: trace.Span
    request_id: str
    otel_token: object
    tracer_token: Token[Any]
    log_token: Token[Any]
    start: float

    def __init__(self) -> None:
        self.status = 0
        self.exception: BaseException | None = None


class InstrumentationMiddleware:
    """ASGI middleware installed by `instrument()`; all policy lives on `Instrumentation`."""

    def __init__(self, app: ASGIApp, instrumentation: Instrumentation) -> None:
        self.app = app
        self.instr = instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" or not self.instr.active:
            if kind == "lifespan" and self.instr.active:
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        instr = self.instr
        own = instr.endpoints.get(scope["path"])
        if own is not None:
            await own(scope, receive, send)
            return
        try:
            req = self._start(scope)
        except Exception as exc:
            instr.failsafe.report("request.start", exc)
            await self.app(scope, receive, send)
            return

        request_id_header = (instr.settings.request_id_header.encode(), req.request_id.encode())

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                req.status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append(request_id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            req.exception = exc
            raise
        finally:
            self._finish(scope, req)

    def _start(self, scope: Scope) -> _Request:
        instr = self.instr
        settings = instr.settings
        wanted = instr.wanted_headers
        found: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            if raw_name in wanted:
                name = raw_name.decode("latin-1")
                value = raw_value.decode("latin-1")
                # Repeated headers combine with "," (RFC 9110 5.3), e.g. split tracestate.
                found[name] = f"{found[name]},{value}" if name in found else value

        req = _Request()
        method = scope["method"]
        req.method = method if method in _KNOWN_METHODS else "_OTHER"
        if "traceparent" in found:
            tracestate = found.get("tracestate")
            if tracestate is not None and (
                len(tracestate) > MAX_TRACESTATE_CHARS or tracestate.count(",") >= MAX_MEMBERS
            ):
                found["tracestate"] = truncate_tracestate(tracestate)
            parent = instr.propagator.extract(found)
        else:
            parent = otel_context.Context()  # a new trace: never the ambient context
        span = instr.tracer.start_span(
            req.method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": req.method, "url.scheme": scope["scheme"]},
        )
        req.span = span
        request_id = found.get(settings.request_id_header)
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(16).hex()
        req.request_id = request_id
        log_context = self._log_context(scope, found, span, request_id)
        # Context changes last, so that a failure above leaves nothing to undo.
        req.otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        req.tracer_token = current_tracer.set(instr.tracer)
        req.log_token = current_log_context.set(log_context)
        if instr.request_hook is not None:
            try:
                instr.request_hook(span, scope)
            except Exception as exc:
                instr.failsafe.report("server_request_hook", exc)
        instr.in_flight.inc()
        req.start = time.perf_counter()
        return req

    def _log_context(
        self, scope: Scope, found: Mapping[str, str], span: trace.Span, request_id: str
    ) -> RequestLogContext:
        instr = self.instr
        settings = instr.settings
        user_hash: str | None = None
        raw_user = found.get(settings.user_id_header) if settings.user_id_header else None
        if raw_user and instr.hash_user_id is not None:
            user_hash = instr.hash_user_id(raw_user)
            if span.is_recording():
                span.set_attribute("user.hash", user_hash)
        flags: str | None = None
        try:
            if settings.feature_flag_state is not None:
                flags = settings.feature_flag_state(scope)
            elif settings.feature_flags_header:
                flags = found.get(settings.feature_flags_header)
        except Exception as exc:
            instr.failsafe.report("feature_flag_state", exc)
        if flags is not None and len(flags) > _MAX_FLAGS_LEN:
            flags = flags[:_MAX_FLAGS_LEN]
        return RequestLogContext(
            service=settings.service,
            variant=settings.variant,
            request_id=request_id,
            user_id=user_hash,
            feature_flag_state=flags,
            data_version=instr.data_version(),
        )

    def _finish(self, scope: Scope, req: _Request) -> None:
        instr = self.instr
        try:
            duration_s = time.perf_counter() - req.start
            instr.in_flight.dec()
            status = req.status
            if status == 0:
                # No response started: the app raised (500), or the client went away and
                # the task was cancelled (499, nginx's "client closed request": not an error).
                exc = req.exception
                status = 500 if exc is None or isinstance(exc, Exception) else 499
            route = _route_template(scope)
            span = req.span
            if span.is_recording():
                if route is not c.UNMATCHED_ROUTE:
                    span.update_name(f"{req.method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                if req.exception is not None:
                    span.record_exception(req.exception)
                    span.set_attribute("error.type", type(req.exception).__qualname__)
            if instr.response_hook is not None:
                try:
                    instr.response_hook(span, scope, status)
                except Exception as exc:
                    instr.failsafe.report("response_hook", exc)
            span.end()
            instr.recorder.record(route, req.method, status, duration_s)
            if instr.push is not None:
                instr.push.record(
                    instr.settings.service, instr.settings.variant, route, req.method, status,
                    duration_s,
                )  # fmt: skip
            if instr.settings.access_log and _access_logger.isEnabledFor(logging.INFO):
                _access_logger.info(
                    "%s %s %d",
                    req.method,
                    route,
                    status,
                    extra={
                        "method": req.method,
                        "route": route,
                        "status": status,
                        "duration_s": round(duration_s, 6),
                    },
                )
        except Exception as exc:
            instr.failsafe.report("request.finish", exc)
        finally:
            _reset(req)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        instr = self.instr

        async def receive_wrapper() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await instr.on_startup()
            return message

        async def send_wrapper(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await instr.on_shutdown()
            await send(message)

        await self.app(scope, receive_wrapper, send_wrapper)


def _reset(req: _Request) -> None:
    # Each reset on its own: a failure in one must not leak the others' context.
    for reset in (
        lambda: current_log_context.reset(req.log_token),
        lambda: current_tracer.reset(req.tracer_token),
        lambda: otel_context.detach(req.otel_token),  # type: ignore[arg-type]
    ):
        with contextlib.suppress(Exception):
            reset()


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/docs/{id}`), prefixed by any mount; else unmatched."""
    route = scope.get("route")
    if route is None:
        return c.UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return c.UNMATCHED_ROUTE
    root_path: str = scope.get("root_path", "")
    app_root: str = scope.get("app_root_path", root_path)
    if root_path != app_root and root_path.startswith(app_root):
        template = root_path[len(app_root) :] + template
    return str(template)
