"""The pure ASGI middleware: one server span, RED metrics and an access log per request.

No per-send/receive spans and no BaseHTTPMiddleware: a request costs one SDK span, one
cached metric series update, two context-variable sets and (when INFO is enabled) one log
line. The route template is read from `scope["route"]`, which Starlette's router sets when
it matches, so naming the span costs an attribute read after the app returns, not a
second routing pass. Every step is guarded: if instrumentation fails, the request is
served uninstrumented, and the failure is logged (rate-limited) by `Failsafe`.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from instrumentation import _semconv as sc
from instrumentation._context import RequestContext, current_request
from instrumentation._http_attributes import error_type, request_attributes
from instrumentation._logs import ACCESS_LOGGER
from instrumentation._server_span import ServerSpan
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
_ERROR = Status(StatusCode.ERROR)
_access_logger = logging.getLogger(ACCESS_LOGGER)
# Request ids need uniqueness, not secrecy: like the OTel SDK's id generator, use the
# module PRNG (reseeded after fork by CPython), not a getrandom(2) call per request.
_random_bits = random.getrandbits


_TRACERESPONSE = b"traceresponse"


def _traceresponse(ctx: SpanContext) -> bytes:
    return b"00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, ctx.trace_flags)


class InstrumentationMiddleware:
    """ASGI middleware installed by `instrument()`; all policy lives on `Instrumentation`."""

    def __init__(self, app: ASGIApp, instrumentation: Instrumentation) -> None:
        self.app = app
        self.instr = instrumentation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instr = self.instr
        if scope["type"] != "http" or not instr.active:
            if scope["type"] == "lifespan" and instr.active:
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
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
        token = current_request.set(req)
        response_headers = [(instr.request_id_header, req.request_id.encode())]
        span_context = req.span.get_span_context()
        if span_context.is_valid:
            # W3C Trace Context Level 2: tell the caller which span answered it, so a client
            # (or `sloengine smoke`) can check that its trace was continued.
            response_headers.append((_TRACERESPONSE, _traceresponse(span_context)))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                req.status = message["status"]
                message["headers"] = [*message.get("headers", ()), *response_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            req.exception = exc
            raise
        finally:
            self._finish(scope, req)
            current_request.reset(token)

    def _start(self, scope: Scope) -> RequestContext:
        instr = self.instr
        settings = instr.settings
        wanted = instr.wanted_headers
        found: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            if raw_name in wanted:
                name = raw_name.decode("latin-1")
                value = raw_value.decode("latin-1")
                # Repeated headers combine with "," (RFC 9110 5.3), e.g. a split tracestate.
                found[name] = f"{found[name]},{value}" if name in found else value

        method = scope["method"]
        if method not in _KNOWN_METHODS:
            method = "_OTHER"
        # Without a traceparent, a new trace: never the ambient context.
        has_parent = "traceparent" in found
        parent = instr.propagator.extract(found) if has_parent else instr.empty_context
        span = instr.start_server_span(method, parent, SpanKind.SERVER)

        request_id = found.get(settings.request_id_header)
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = f"{_random_bits(128):032x}"
        identity = instr.identity()
        req = RequestContext(
            tracer=instr.tracer,
            service=settings.service,
            variant=identity.variant,
            method=method,
            span=span,
            request_id=request_id,
            data_version=instr.data_version(),
        )
        if instr.hash_user_id is not None:
            raw_user = found.get(settings.user_id_header)  # type: ignore[arg-type]
            if raw_user:
                req.user_id = instr.hash_user_id(raw_user)
        self._feature_flags(scope, found, req)
        # The only context change, last: a failure above leaves nothing to undo.
        req.otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        if instr.request_hook is not None:
            try:
                instr.request_hook(span, scope)
            except Exception as exc:
                instr.failsafe.report("server_request_hook", exc)
        req.host = found.get("host")
        req.user_agent = found.get("user-agent")
        req.recorder = instr.recorder_for(identity)
        req.recorder.started()
        req.start = time.perf_counter()
        return req

    def _feature_flags(self, scope: Scope, found: Mapping[str, str], req: RequestContext) -> None:
        settings = self.instr.settings
        flags: str | None = None
        try:
            if settings.feature_flag_state is not None:
                flags = settings.feature_flag_state(scope)
            elif settings.feature_flags_header:
                flags = found.get(settings.feature_flags_header)
        except Exception as exc:
            self.instr.failsafe.report("feature_flag_state", exc)
        if flags is not None and len(flags) > _MAX_FLAGS_LEN:
            flags = flags[:_MAX_FLAGS_LEN]
        req.feature_flag_state = flags

    def _finish(self, scope: Scope, req: RequestContext) -> None:
        instr = self.instr
        try:
            duration_s = time.perf_counter() - req.start
            status = req.status
            if status == 0:
                # No response started: the app raised (500), or the client went away and
                # the task was cancelled (499, nginx's "client closed request": not an error).
                exc = req.exception
                status = 500 if exc is None or isinstance(exc, Exception) else 499
            route = _route_template(scope)
            # Metrics first: they feed SLOs and verdicts, so they must not depend on tracing.
            # The recorder counts the request for /metrics and for the engine (when pushing).
            (req.recorder or instr.recorder).record(route, req.method, status, duration_s)
            if instr.otlp_metrics is not None:
                instr.otlp_metrics.record(
                    route, req.method, status, scope.get("scheme") or "http", duration_s
                )
            span = req.span
            if span.is_recording():
                attributes: dict[str, Any] = request_attributes(scope, req.host, req.user_agent)
                attributes[sc.HTTP_REQUEST_METHOD] = req.method
                attributes[sc.HTTP_RESPONSE_STATUS_CODE] = status
                if route is not c.UNMATCHED_ROUTE:
                    span.update_name(f"{req.method} {route}")
                    attributes[sc.HTTP_ROUTE] = route
                if req.user_id is not None:
                    attributes["user.hash"] = req.user_id
                if req.exception is not None:
                    span.record_exception(req.exception)
                error = error_type(status, req.exception)
                if error is not None:
                    attributes[sc.ERROR_TYPE] = error
                if isinstance(span, ServerSpan):
                    span.set_valid_attributes(attributes)
                else:
                    span.set_attributes(attributes)
                if status >= 500:
                    span.set_status(_ERROR)
            if instr.response_hook is not None:
                try:
                    instr.response_hook(span, scope, status)
                except Exception as exc:
                    instr.failsafe.report("response_hook", exc)
            span.end()
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
            try:
                otel_context.detach(req.otel_token)
            except Exception as exc:
                instr.failsafe.report("request.detach", exc)

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


# Starlette routes define __eq__ and so are unhashable: key by id(), and keep the route in
# the value, which keeps it alive, so that its id cannot be reused by another object.
_templates: dict[tuple[int, str, str], tuple[object, str]] = {}


def _route_template(scope: Scope) -> str:
    """The matched route's template (`/docs/{id}`), prefixed by any mount; else unmatched."""
    route = scope.get("route")
    if route is None:
        return c.UNMATCHED_ROUTE
    root_path: str = scope.get("root_path", "")
    app_root: str = scope.get("app_root_path", "") if root_path else ""
    key = (id(route), root_path, app_root)
    cached = _templates.get(key)
    if cached is not None and cached[0] is route:
        return cached[1]
    template = _resolve_template(route, root_path, app_root)
    if len(_templates) < 4096:  # routes are few; raw mount prefixes might not be
        _templates[key] = (route, template)
    return template


def _resolve_template(route: object, root_path: str, app_root: str) -> str:
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return c.UNMATCHED_ROUTE
    if root_path and root_path != app_root and root_path.startswith(app_root):
        template = root_path[len(app_root) :] + template
    return str(template)
