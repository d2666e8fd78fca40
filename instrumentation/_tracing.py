"""Tracer provider, propagator and exporters, configured like any OTel SDK user expects.

Exporters are chosen from the standard environment, and only when something is asked for:
- `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` -> OTLP, with
  `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` `http/protobuf` (the spec's default) or `grpc`;
  `OTEL_TRACES_EXPORTER=none` (or `OTEL_SDK_DISABLED=true`) turns OTLP off even if an
  endpoint is set. The sidecar reads the same variables the same way
  (`sloengine.telemetry.spans.otlp_exporter_from_env`).
- `SLOENGINE_SPAN_FILE` -> JSON lines (`JsonLinesSpanExporter`), for collector-less demos.
Without either, spans are still created (logs carry trace and span ids, and traceparent is
propagated downstream) but nothing is exported.

Spans go through the SDK's `BatchSpanProcessor`: they are SDK spans already, and the
library's processor serves (the sidecar batches its plain span records itself, for the
reasons in `sloengine.telemetry.spans`).

Sampling: parent-based ratio; the ratio is the argument, else `OTEL_TRACES_SAMPLER_ARG`,
else 1.0.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

from instrumentation._spanfile import SPAN_FILE_ENV, JsonLinesSpanExporter
from instrumentation._tracestate import TraceContextPropagator
from sloengine.telemetry.spans import otlp_exporter_from_env

__all__ = ["build_tracer_provider", "w3c_propagator"]


def w3c_propagator() -> CompositePropagator:
    """W3C Trace Context (Level 2 tracestate) and Baggage, in that order."""
    return CompositePropagator([TraceContextPropagator(), W3CBaggagePropagator()])


def _sample_ratio(ratio: float | None, env: Mapping[str, str]) -> float:
    if ratio is None:
        raw = env.get("OTEL_TRACES_SAMPLER_ARG")
        try:
            ratio = float(raw) if raw else 1.0
        except ValueError:
            raise ValueError(f"OTEL_TRACES_SAMPLER_ARG: not a number: {raw!r}") from None
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"sample_ratio: must be within [0, 1], got {ratio}")
    return ratio


def build_tracer_provider(
    *,
    service: str,
    variant: str,
    version: str | None,
    environment: str | None,
    sample_ratio: float | None = None,
    env: Mapping[str, str] | None = None,
) -> TracerProvider:
    """A tracer provider for one service, with exporters chosen from `env` (os.environ)."""
    env = os.environ if env is None else env
    attributes: dict[str, str] = {"service.name": service, "variant": variant}
    if version:
        attributes["service.version"] = version
    if environment:
        attributes["deployment.environment"] = environment
    ratio = _sample_ratio(sample_ratio, env)
    # The same decisions as TraceIdRatioBased at the ends of the range, without its maths.
    root = ALWAYS_ON if ratio == 1.0 else ALWAYS_OFF if ratio == 0.0 else TraceIdRatioBased(ratio)
    provider = TracerProvider(resource=Resource.create(attributes), sampler=ParentBased(root))
    otlp = otlp_exporter_from_env(env)
    if otlp is not None:
        provider.add_span_processor(BatchSpanProcessor(otlp))
    span_file = env.get(SPAN_FILE_ENV)
    if span_file:
        provider.add_span_processor(BatchSpanProcessor(JsonLinesSpanExporter(span_file)))
    return provider
