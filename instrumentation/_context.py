"""Which service's tracer outbound spans (httpx, sqlite3) belong to.

Several instrumented apps can share a process (tests, an in-process demo): the global
httpx/sqlite3 hooks look up the tracer of the request being served in a context variable
the middleware sets, so a gateway's client span is reported by the gateway. Outside any
request (startup, background jobs) the most recently instrumented app's tracer is used.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry.trace import Tracer

__all__ = ["current_tracer", "fallback_tracer", "set_fallback_tracer"]

current_tracer: ContextVar[Tracer | None] = ContextVar("instrumentation_tracer", default=None)

_fallback: list[Tracer | None] = [None]


def set_fallback_tracer(tracer: Tracer | None) -> None:
    """Set (or clear, with None) the tracer used outside of any request."""
    _fallback[0] = tracer


def fallback_tracer() -> Tracer | None:
    """The tracer for the current request, else the fallback, else None."""
    return current_tracer.get() or _fallback[0]
