"""W3C Trace Context Level 2 `tracestate` for the instrumentation's propagation.

The OTel API's `TraceState.from_header` follows the Level 1 key grammar and discards the
whole header on a duplicated key. Level 2 (https://www.w3.org/TR/trace-context-2/) takes
any key `( lcalpha / DIGIT ) 0*255 keychar` with `@` among the keychars, and the official
suite (w3c/trace-context test/test.py) expects a duplicated key to keep the list with one
of its values. So the traceparent is extracted by the OTel propagator and the tracestate
by the pure Level 2 parser the sidecar uses too (`sloengine.telemetry.tracecontext`, one
grammar and one truncation for both):
members kept in order, the left-most member of a duplicated key kept, an invalid member or
more than 32 members discarding the list, and a list past 512 characters truncated by
whole entries (those over 128 characters first, then from the end).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators import textmap
from opentelemetry.trace import TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sloengine.telemetry.tracecontext import parse_tracestate, truncate_tracestate

__all__ = ["Level2TraceState", "TraceContextPropagator", "tracestate_from_headers"]

_TRACESTATE = "tracestate"


class Level2TraceState(TraceState):
    """A TraceState holding members already validated by the Level 2 grammar.

    The base constructor re-checks every key with the Level 1 grammar and would drop
    Level 2 keys such as `t@` or `1a`; these members were checked by `parse_tracestate`.
    `to_header`, lookups and the immutable update methods of the base class work as is.
    """

    def __init__(self, entries: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._dict: OrderedDict[str, str] = OrderedDict(entries)


def tracestate_from_headers(values: Sequence[str]) -> TraceState | None:
    """The tracestate of these header values (in order), or None when it is invalid/empty."""
    members = parse_tracestate(values)
    if not members:
        return None
    return Level2TraceState(truncate_tracestate(members))


class _WithoutTracestate(textmap.Getter[textmap.CarrierT]):
    """The carrier as the base propagator sees it: traceparent only."""

    def __init__(self, getter: textmap.Getter[textmap.CarrierT]) -> None:
        self._getter = getter

    def get(self, carrier: textmap.CarrierT, key: str) -> list[str] | None:
        return None if key == _TRACESTATE else self._getter.get(carrier, key)

    def keys(self, carrier: textmap.CarrierT) -> list[str]:
        return self._getter.keys(carrier)


class TraceContextPropagator(TraceContextTextMapPropagator):
    """The OTel W3C propagator with Level 2 tracestate extraction (injection unchanged)."""

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        base = context if context is not None else Context()
        extracted = super().extract(carrier, base, _WithoutTracestate(getter))
        if extracted is base:
            return extracted  # no valid traceparent: nothing continues, tracestate neither
        headers = getter.get(carrier, _TRACESTATE)
        state = tracestate_from_headers(headers) if headers else None
        if state is None:
            return extracted
        parent = trace.get_current_span(extracted).get_span_context()
        continued = trace.SpanContext(
            trace_id=parent.trace_id,
            span_id=parent.span_id,
            is_remote=True,
            trace_flags=parent.trace_flags,
            trace_state=state,
        )
        return trace.set_span_in_context(trace.NonRecordingSpan(continued), base)
