"""Client spans for outbound httpx calls, with W3C traceparent/tracestate injected.

The hook wraps `Client._send_single_request` / `AsyncClient._send_single_request`, the one
place every hop goes through whatever the transport (network, ASGI, mock), so a redirect
is two client spans and each call gets a fresh span id: the downstream service's parent
is the client span, never the caller's server span.

Why a private method, not a public hook or the maintained library:
- httpx has no process-wide hook. Its public `event_hooks` are per client (every client the
  service creates would have to opt in), and the response hook is not called when the
  transport raises, so a failed call would never end its span.
- opentelemetry-instrumentation-httpx wraps the network transports only (`HTTPTransport`,
  `AsyncHTTPTransport`), so calls through ASGI, WSGI, mock or custom transports go
  untraced; it takes one tracer provider and the global propagator, where each request's
  own service must report its client span (several instrumented apps per process,
  `outbound_tracer`) and tracestate must follow Level 2 (`w3c_propagator`).
If httpx drops or renames the method, `patch_httpx` logs a warning and leaves httpx
untraced rather than failing `instrument()`; the instrumentation tests catch it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanKind, Status, StatusCode

from instrumentation import _semconv as sc
from instrumentation._context import outbound_tracer
from instrumentation._failsafe import Failsafe
from instrumentation._tracing import w3c_propagator

__all__ = ["patch_httpx", "unpatch_httpx"]

_PROPAGATOR: TextMapPropagator = w3c_propagator()
_FAILSAFE = Failsafe()
_lock = threading.Lock()
_refs = [0]
_originals: dict[str, Any] = {}
_HOOKED = "_send_single_request"  # private: see the module docstring for why


def _url_without_secrets(url: httpx.URL) -> str:
    # Query strings and userinfo routinely carry tokens and user ids: keep them out of spans.
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _start(request: httpx.Request) -> trace.Span | None:
    tracer = outbound_tracer()
    if tracer is None:
        return None
    url = request.url
    span = tracer.start_span(
        request.method,
        kind=SpanKind.CLIENT,
        attributes={
            sc.HTTP_REQUEST_METHOD: request.method,
            sc.URL_FULL: _url_without_secrets(url),
            sc.SERVER_ADDRESS: url.host,
            sc.SERVER_PORT: url.port or (443 if url.scheme == "https" else 80),
        },
    )
    _PROPAGATOR.inject(request.headers, context=trace.set_span_in_context(span))
    return span


def _end(span: trace.Span, response: httpx.Response | None, exc: BaseException | None) -> None:
    if response is not None:
        span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, response.status_code)
        if response.status_code >= 500:
            span.set_attribute(sc.ERROR_TYPE, str(response.status_code))
            span.set_status(Status(StatusCode.ERROR))
    if exc is not None:
        span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, str(exc)))
    span.end()


def _safe_start(request: httpx.Request) -> trace.Span | None:
    try:
        return _start(request)
    except Exception as exc:
        _FAILSAFE.report("httpx.start", exc)
        return None


def _safe_end(
    span: trace.Span | None, response: httpx.Response | None, exc: BaseException | None
) -> None:
    if span is None:
        return
    try:
        _end(span, response, exc)
    except Exception as err:
        _FAILSAFE.report("httpx.end", err)


def _wrap_sync(
    original: Callable[[httpx.Client, httpx.Request], httpx.Response],
) -> Callable[[httpx.Client, httpx.Request], httpx.Response]:
    def _send_single_request(self: httpx.Client, request: httpx.Request) -> httpx.Response:
        span = _safe_start(request)
        try:
            response = original(self, request)
        except BaseException as exc:
            _safe_end(span, None, exc)
            raise
        _safe_end(span, response, None)
        return response

    return _send_single_request


def _wrap_async(
    original: Callable[[httpx.AsyncClient, httpx.Request], Awaitable[httpx.Response]],
) -> Callable[[httpx.AsyncClient, httpx.Request], Awaitable[httpx.Response]]:
    async def _send_single_request(
        self: httpx.AsyncClient, request: httpx.Request
    ) -> httpx.Response:
        span = _safe_start(request)
        try:
            response = await original(self, request)
        except BaseException as exc:
            _safe_end(span, None, exc)
            raise
        _safe_end(span, response, None)
        return response

    return _send_single_request


def patch_httpx() -> None:
    """Install the hooks (reference counted: one per instrumented app)."""
    with _lock:
        _refs[0] += 1
        if _refs[0] > 1:
            return
        if not all(hasattr(c, _HOOKED) for c in (httpx.Client, httpx.AsyncClient)):
            _refs[0] = 0
            logging.getLogger("instrumentation").warning(
                "httpx %s has no %s: outbound httpx calls are not traced",
                httpx.__version__,
                _HOOKED,
            )
            return
        _originals["sync"] = httpx.Client._send_single_request
        _originals["async"] = httpx.AsyncClient._send_single_request
        setattr(httpx.Client, "_send_single_request", _wrap_sync(_originals["sync"]))  # noqa: B010
        setattr(httpx.AsyncClient, "_send_single_request", _wrap_async(_originals["async"]))  # noqa: B010


def unpatch_httpx() -> None:
    """Release one reference; the last one restores httpx."""
    with _lock:
        if _refs[0] == 0:
            return
        _refs[0] -= 1
        if _refs[0] > 0:
            return
        setattr(httpx.Client, "_send_single_request", _originals.pop("sync"))  # noqa: B010
        setattr(httpx.AsyncClient, "_send_single_request", _originals.pop("async"))  # noqa: B010
