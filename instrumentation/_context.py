"""Which service's tracer outbound spans (httpx, sqlite3) belong to.

Several instrumented apps can share a process (tests, an in-process demo): the global
httpx/sqlite3 hooks look up the tracer of the request being served in a context variable
the middleware sets, so a gateway's client span is reported by the gateway. Outside any
request, the most recently instrumented app's tracer is used if user code has a span open.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry.trace import Tracer, get_current_span

__all__ = ["current_tracer", "fallback_tracer", "outbound_tracer", "set_fallback_tracer"]

current_tracer: ContextVar[Tracer | None] = ContextVar("instrumentation_tracer", default=None)

_fallback: list[Tracer | None] = [None]


def set_fallback_tracer(tracer: Tracer | None) -> None:
    """Set (or clear, with None) the tracer used outside of any request."""
    _fallback[0] = tracer


def fallback_tracer() -> Tracer | None:
    """The tracer for the current request, else the fallback, else None."""
    return current_tracer.get() or _fallback[0]


def outbound_tracer() -> Tracer | None:
    """The tracer for an outbound (httpx, sqlite3) span, or None to leave the call untraced.

    Inside a request: that service's tracer. Outside: the fallback tracer, but only when
    user code has a span open (a background job it traces); otherwise no span at all, so
    startup work (fixtures, warm-up calls) does not produce a flood of orphan root spans.
    """
    tracer = current_tracer.get()
    if tracer is not None:
        return tracer
    if get_current_span().get_span_context().is_valid:
        return _fallback[0]
    return None
