"""`instrument(app, ...)` and `uninstrument(app)`: wiring, idempotency, reversal."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.middleware import Middleware

from instrumentation import _httpx, _sqlite
from instrumentation._context import set_fallback_tracer
from instrumentation._endpoints import (
    Endpoint,
    ReadinessCheck,
    metrics_endpoint,
    readiness_endpoint,
    simple_endpoint,
)
from instrumentation._failsafe import Failsafe
from instrumentation._hashing import UserIdHasher
from instrumentation._middleware import InstrumentationMiddleware
from instrumentation._otel_metrics import (
    RequestDurationExport,
    build_meter_provider,
    otlp_metric_exporter,
)
from instrumentation._push import EnginePush, engine_push_from
from instrumentation._server_span import ServerSpanFactory
from instrumentation._settings import Scope, Settings
from instrumentation._tracing import build_tracer_provider, w3c_propagator
from sloengine import conventions as c
from sloengine.client.podlabels import PodIdentity, PodLabels
from sloengine.telemetry.red import RedRecorder, red_collector_for

POD_LABELS_FILE_ENV = "SLOENGINE_POD_LABELS_FILE"

__all__ = ["Instrumentation", "get_instrumentation", "instrument", "uninstrument"]

_ATTR = "_sloengine_instrumentation"
# FastAPI >= 0.16x ships native OpenTelemetry spans and metrics on the *global* providers.
# This package owns the server span and the RED metrics, so those are switched off for an
# instrumented app (one span per request, not two), and switched back on by uninstrument.
_NATIVE_TELEMETRY_KEYS = ("tracing", "operation_spans", "metrics")

RequestHook = Callable[[trace.Span, Scope], None]
ResponseHook = Callable[[trace.Span, Scope, int], None]


class Instrumentation:
    """Everything one instrumented app uses at request time; see `instrument()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry,
        tracer_provider: trace.TracerProvider,
        owns_provider: bool,
        user_id_key: str | bytes | None,
        readiness_checks: Mapping[str, ReadinessCheck],
        request_hook: RequestHook | None,
        response_hook: ResponseHook | None,
        push: EnginePush | None,
        trace_httpx: bool,
        trace_sqlite3: bool,
        otlp_metrics: RequestDurationExport | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.tracer_provider = tracer_provider
        self.owns_provider = owns_provider
        self.tracer = tracer_provider.get_tracer("instrumentation")
        self.start_server_span = _server_span_starter(self.tracer)
        self.propagator = w3c_propagator()
        self.failsafe = Failsafe()
        self.hash_user_id = UserIdHasher(user_id_key) if settings.user_id_header else None
        self.readiness_checks: dict[str, ReadinessCheck] = dict(readiness_checks)
        self.request_hook = request_hook
        self.response_hook = response_hook
        self.push = push
        self.trace_httpx = trace_httpx
        self.trace_sqlite3 = trace_sqlite3
        self.otlp_metrics = otlp_metrics
        # Each request is recorded once: /metrics, and the engine when pushing.
        self.recorder = red_collector_for(registry).recorder(
            settings.service, settings.variant, settings.revision or "", push
        )
        # Variant and revision from the pod's labels file (set by instrument()), re-read at
        # most once a second: a relabelled pod reports its new variant without a restart.
        self.pod_labels: PodLabels | None = None
        self._identity = PodIdentity(settings.variant, settings.revision or "")
        self._identity_checked = 0.0
        self._recorders = {(self._identity.variant, self._identity.revision): self.recorder}
        self._last = (self._identity, self.recorder)
        self.request_id_header = settings.request_id_header.encode()
        self.empty_context = otel_context.Context()
        self.wanted_headers = frozenset(
            name.encode()
            for name in (
                "traceparent",
                "tracestate",
                "baggage",
                "host",
                "user-agent",
                settings.request_id_header,
                settings.user_id_header,
                settings.feature_flags_header,
            )
            if name
        )
        self.endpoints: dict[str, Endpoint] = {}
        if settings.metrics_path:
            self.endpoints[settings.metrics_path] = metrics_endpoint(registry)
        if settings.health_path:
            self.endpoints[settings.health_path] = simple_endpoint({"status": "ok"})
        if settings.ready_path:
            self.endpoints[settings.ready_path] = readiness_endpoint(
                self.readiness_checks, settings.readiness_timeout_s
            )
        self.native_telemetry: dict[str, bool] = {}
        self.active = True

    def identity(self) -> PodIdentity:
        """The pod's current variant and revision (the configured ones without a labels file)."""
        pod = self.pod_labels
        if pod is not None:
            now = time.monotonic()
            if now - self._identity_checked >= 1.0:
                self._identity_checked = now
                self._identity = pod.current()
        return self._identity

    def recorder_for(self, identity: PodIdentity) -> RedRecorder:
        """The RED recorder of one (variant, revision) (each variant keeps its own
        in-flight count)."""
        last_identity, last_recorder = self._last  # one tuple: never half updated
        if identity is last_identity:  # the same object until the labels change
            return last_recorder
        key = (identity.variant, identity.revision)
        recorder = self._recorders.get(key)
        if recorder is None:
            recorder = self.recorder.with_identity(identity.variant, identity.revision)
            self._recorders[key] = recorder
        self._last = (identity, recorder)
        return recorder

    def data_version(self) -> str | None:
        """The configured data version (calling the callback, failsafe)."""
        source = self.settings.data_version
        if source is None or isinstance(source, str):
            return source
        try:
            return source()
        except Exception as exc:
            self.failsafe.report("data_version", exc)
            return None

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Add (or replace) a named check answered on the readiness path."""
        self.readiness_checks[name] = check

    async def on_startup(self) -> None:
        if self.push is not None:
            try:
                await self.push.start()
            except Exception as exc:
                self.failsafe.report("lifespan.startup", exc)

    async def on_shutdown(self) -> None:
        try:
            if self.push is not None:
                await self.push.stop()
            if isinstance(self.tracer_provider, TracerProvider):
                self.tracer_provider.force_flush(timeout_millis=5000)
            if self.otlp_metrics is not None:
                flush = getattr(self.otlp_metrics.meter_provider, "force_flush", None)
                if flush is not None:
                    flush(timeout_millis=5000)
        except Exception as exc:
            self.failsafe.report("lifespan.shutdown", exc)


def _server_span_starter(tracer: trace.Tracer) -> Callable[[str, Any, trace.SpanKind], trace.Span]:
    """The lean ServerSpan path for SDK tracers; the standard API for any other tracer."""
    if isinstance(tracer, SdkTracer):
        return ServerSpanFactory(tracer, "instrumentation", None).start_span

    def start_span(name: str, context: Any, kind: trace.SpanKind) -> trace.Span:
        return tracer.start_span(name, context=context, kind=kind)

    return start_span


def instrument(
    app: Any,
    *,
    service: str,
    variant: str = c.VARIANT_STABLE,
    version: str | None = None,
    revision: str | None = None,
    environment: str | None = None,
    registry: CollectorRegistry | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    sample_ratio: float | None = None,
    user_id_key: str | bytes | None = None,
    user_id_header: str | None = "x-user-id",
    request_id_header: str = "x-request-id",
    feature_flags_header: str | None = "x-feature-flags",
    feature_flag_state: Callable[[Scope], str | None] | None = None,
    data_version: str | Callable[[], str | None] | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    ready_path: str | None = "/ready",
    access_log: bool = True,
    server_request_hook: RequestHook | None = None,
    response_hook: ResponseHook | None = None,
    engine_target: str | None = None,
    engine_token: str | None = None,
    trace_httpx: bool = True,
    trace_sqlite3: bool = True,
    pod_labels_file: str | Path | None = None,
    variant_label: str = "variant",
    revision_label: str = "",
    meter_provider: metrics.MeterProvider | None = None,
    otlp_metrics_endpoint: str | None = None,
    otlp_metrics_interval_s: float = 10.0,
) -> Instrumentation:
    """Give a FastAPI/Starlette `app` traces, RED metrics, health endpoints and JSON logs.

    Returns the app's `Instrumentation`; calling it again on the same app returns the first
    one unchanged (a no-op). Invalid arguments raise ValueError naming the argument.

    - `registry`: where the RED metrics live and what `/metrics` serves (default: the
      global prometheus_client REGISTRY, so the app's own metrics appear too).
    - `tracer_provider`: inject one (tests: an InMemorySpanExporter); by default one is
      built for this service from the OTEL_* environment (see `_tracing`) and, if no
      global provider was set yet, installed as the global one.
    - `user_id_header`: where the user id comes from; only its HMAC (key: `user_id_key`,
      else `SLOENGINE_USER_ID_KEY`) is logged and set as the `user.hash` span attribute.
    - `feature_flag_state` (callback on the ASGI scope, else the `feature_flags_header`)
      and `data_version` (string or callback) are logged with every line.
    - `readiness_checks`: name -> callable returning bool (or awaitable bool); `/ready`
      answers 503 listing the failing names.
    - `engine_target` (else `SLOENGINE_ENGINE`): push RED counters to the engine, each
      series labelled `revision` when one is given (the canary judge then analyses that
      revision alone).
    - `pod_labels_file` (else `SLOENGINE_POD_LABELS_FILE`): the pod's labels as the
      Kubernetes downward API writes them; the variant is read from `variant_label` and the
      revision from `revision_label` (e.g. `rollouts-pod-template-hash`), re-read when the
      file changes, so a pod relabelled on promotion reports its new variant at once.
    - `otlp_metrics_endpoint` (gRPC `host:port`, or the full OTLP/HTTP `.../v1/metrics`
      URL): also export the OTel `http.server.request.duration` histogram (seconds, our
      latency buckets) every `otlp_metrics_interval_s`, e.g. to the engine's OTLP receiver;
      or inject a `meter_provider` to record it there instead.
    """
    existing: Instrumentation | None = getattr(app, _ATTR, None)
    if existing is not None:
        return existing
    settings = Settings(
        service=service,
        variant=variant,
        version=version,
        revision=revision,
        environment=environment,
        request_id_header=request_id_header,
        user_id_header=user_id_header,
        feature_flags_header=feature_flags_header,
        feature_flag_state=feature_flag_state,
        data_version=data_version,
        metrics_path=metrics_path,
        health_path=health_path,
        ready_path=ready_path,
        access_log=access_log,
    )
    if otlp_metrics_interval_s <= 0:
        raise ValueError("otlp_metrics_interval_s: must be > 0")
    if otlp_metrics_endpoint is not None and meter_provider is not None:
        raise ValueError("otlp_metrics_endpoint: give it or meter_provider, not both")
    otlp_metrics: RequestDurationExport | None = None
    if meter_provider is not None:
        otlp_metrics = RequestDurationExport(meter_provider, owns_provider=False)
    elif otlp_metrics_endpoint:
        built = build_meter_provider(
            otlp_metric_exporter(otlp_metrics_endpoint),
            service=service,
            variant=variant,
            revision=revision or version,
            interval_s=otlp_metrics_interval_s,
        )
        otlp_metrics = RequestDurationExport(built, owns_provider=True)
    owns_provider = tracer_provider is None
    if tracer_provider is None:
        tracer_provider = build_tracer_provider(
            service=service,
            variant=variant,
            version=version,
            environment=environment,
            sample_ratio=sample_ratio,
        )
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(tracer_provider)
    instr = Instrumentation(
        settings,
        registry=registry if registry is not None else REGISTRY,
        tracer_provider=tracer_provider,
        owns_provider=owns_provider,
        user_id_key=user_id_key,
        readiness_checks=readiness_checks or {},
        request_hook=server_request_hook,
        response_hook=response_hook,
        push=engine_push_from(engine_target, engine_token, service, variant, revision),
        trace_httpx=trace_httpx,
        trace_sqlite3=trace_sqlite3,
        otlp_metrics=otlp_metrics,
    )
    labels_file = pod_labels_file or os.environ.get(POD_LABELS_FILE_ENV) or None
    if labels_file:
        instr.pod_labels = PodLabels(
            Path(labels_file),
            default_variant=variant,
            default_revision=revision or "",
            variant_label=variant_label,
            revision_label=revision_label,
            allowed_variants=c.VARIANTS,
        )
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        instr.native_telemetry = {k: native[k] for k in _NATIVE_TELEMETRY_KEYS if k in native}
        native.update(dict.fromkeys(instr.native_telemetry, False))
    app.user_middleware.insert(0, Middleware(InstrumentationMiddleware, instr))
    app.middleware_stack = None  # rebuilt on the next call, with the middleware
    if trace_httpx:
        _httpx.patch_httpx()
    if trace_sqlite3:
        _sqlite.patch_sqlite3()
    set_fallback_tracer(instr.tracer)
    setattr(app, _ATTR, instr)
    return instr


def get_instrumentation(app: Any) -> Instrumentation | None:
    """The app's Instrumentation, or None if it is not instrumented."""
    return getattr(app, _ATTR, None)


def uninstrument(app: Any) -> None:
    """Undo `instrument(app)`: remove the middleware and release the httpx/sqlite3 hooks.

    A no-op on an app that is not instrumented. The RED collectors stay registered (other
    apps may share them); a tracer provider built by `instrument` is shut down (flushed).
    """
    instr: Instrumentation | None = getattr(app, _ATTR, None)
    if instr is None:
        return
    instr.active = False  # a middleware stack built before now passes requests through
    app.user_middleware[:] = [
        m
        for m in app.user_middleware
        if not (m.cls is InstrumentationMiddleware and instr in m.args)
    ]
    app.middleware_stack = None
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        native.update(instr.native_telemetry)
    if instr.trace_httpx:
        _httpx.unpatch_httpx()
    if instr.trace_sqlite3:
        _sqlite.unpatch_sqlite3()
    set_fallback_tracer(None)
    if instr.owns_provider and isinstance(instr.tracer_provider, TracerProvider):
        instr.tracer_provider.shutdown()
    if instr.otlp_metrics is not None:
        instr.otlp_metrics.shutdown()
    delattr(app, _ATTR)
