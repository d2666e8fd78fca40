"""A lean `opentelemetry.trace.Span` for the one server span of each request.

The SDK's general-purpose span takes a lock and validates through `BoundedAttributes` on
every call, snapshots itself into a `ReadableSpan` on `end()`, and with the tracer's
bookkeeping costs about 30 us per request on a busy 2-core machine, more than everything
else this package does. This span follows the same rules with less machinery: the SDK
tracer's own sampler, id generator, resource and span processors decide and receive
everything (`on_start` with this span, `on_end` with a public `ReadableSpan`), so
exporters, samplers and processors see exactly what the SDK would have produced. It is
used only with an SDK tracer; any other tracer gets the standard `start_span`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util import types

__all__ = ["ServerSpanFactory"]

_RANDOM_FLAG = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))  # W3C Level 2, newer APIs only
_FLAGS = {
    (sampled, random_id): TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT) | (_RANDOM_FLAG if random_id else 0)
    )
    for sampled in (False, True)
    for random_id in (False, True)
}
_PRIMITIVES = (str, bool, int, float)
_UNSET = Status(StatusCode.UNSET)


def _clean(value: object) -> Any:
    """An attribute value as OTel allows it (primitive or sequence of them), else None."""
    if isinstance(value, _PRIMITIVES):
        return value
    if (
        isinstance(value, Sequence)
        and not isinstance(value, bytes | bytearray)
        and all(isinstance(v, _PRIMITIVES) or v is None for v in value)
    ):
        return tuple(value)
    return None


class ServerSpan(trace.Span, ReadableSpan):
    """A recording span that is its own `ReadableSpan`: nothing is copied on `end()`.

    The SDK snapshots a span at `end()` so that later mutation cannot reach exporters;
    here every mutator is a no-op once ended, which gives the same guarantee for free.
    """

    def __init__(
        self,
        factory: ServerSpanFactory,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
    ) -> None:
        # Typed handles on the very objects ReadableSpan exposes (read-only) to exporters.
        self._mutable_attributes = attributes
        self._event_list: list[Event] = []
        self._link_list: list[Link] = []
        ReadableSpan.__init__(
            self,
            name=name,
            context=context,
            parent=parent,
            resource=factory.resource,
            attributes=attributes,
            events=self._event_list,
            links=self._link_list,
            kind=kind,
            status=_UNSET,
            start_time=time.time_ns(),
            instrumentation_scope=factory.scope,
        )
        self._factory = factory

    # -- opentelemetry.trace.Span --------------------------------------------------------------
    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]

    def is_recording(self) -> bool:
        return self._end_time is None

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if self._end_time is not None:
            return
        limit = self._factory.limits.max_span_attributes
        for key, value in attributes.items():
            cleaned = _clean(value)
            if cleaned is None or not key:
                continue
            attrs = self._mutable_attributes
            if key in attrs or limit is None or len(attrs) < limit:
                attrs[key] = cleaned

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        self.set_attributes({key: value})

    def set_valid_attributes(self, attributes: dict[str, str | int]) -> None:
        """The middleware's own attributes: primitives by construction, so not re-checked
        (the count limit still holds)."""
        limit = self._factory.limits.max_span_attributes
        attrs = self._mutable_attributes
        if self._end_time is None and (limit is None or len(attrs) + len(attributes) <= limit):
            attrs.update(attributes)
        else:
            self.set_attributes(attributes)

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        limit = self._factory.limits.max_events
        if self._end_time is None and (limit is None or len(self._event_list) < limit):
            cleaned = {k: c for k, v in (attributes or {}).items() if (c := _clean(v)) is not None}
            self._event_list.append(Event(name, cleaned, timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        limit = self._factory.limits.max_links
        if (
            self._end_time is None
            and context.is_valid
            and (limit is None or len(self._link_list) < limit)
        ):
            self._link_list.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # As the SDK: OK is final; a description belongs to ERROR only.
        if self._end_time is not None or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description if status is StatusCode.ERROR else None)
        self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        stacktrace = "".join(
            traceback.format_exception(type(exception), exception, exception.__traceback__)
        )
        event_attributes: dict[str, Any] = {
            "exception.type": type(exception).__name__,
            "exception.message": str(exception),
            "exception.stacktrace": stacktrace,
            "exception.escaped": str(escaped),
        }
        event_attributes.update(attributes or {})
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            return
        self._end_time = end_time or time.time_ns()
        self._factory.processor.on_end(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.end()


class ServerSpanFactory:
    """Starts `ServerSpan`s with an SDK tracer's sampler, ids, resource and processors."""

    def __init__(self, tracer: SdkTracer, scope_name: str, scope_version: str | None) -> None:
        self.sampler = tracer.sampler
        self.id_generator = tracer.id_generator
        self.resource = tracer.resource
        self.processor = tracer.span_processor
        self.scope = InstrumentationScope(scope_name, scope_version)
        self.limits = SpanLimits()

    def start_span(self, name: str, context: Context, kind: SpanKind) -> trace.Span:
        """A recording server span, or a non-recording one when the sampler drops it."""
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = self.id_generator.generate_trace_id()
            random_id = self.id_generator.is_trace_id_random()
        else:
            trace_id = parent.trace_id
            random_id = bool(getattr(parent.trace_flags, "random_trace_id", False))
        result = self.sampler.should_sample(context, trace_id, name, kind, None, ())
        sampled = result.decision.is_sampled()
        span_context = SpanContext(
            trace_id,
            self.id_generator.generate_span_id(),
            is_remote=False,
            trace_flags=_FLAGS[sampled, random_id],
            trace_state=result.trace_state,
        )
        if not result.decision.is_recording():
            return trace.NonRecordingSpan(span_context)
        span = ServerSpan(self, name, span_context, parent, kind, dict(result.attributes or {}))
        self.processor.on_start(span, parent_context=context)  # type: ignore[arg-type]
        return span
