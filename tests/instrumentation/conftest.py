"""Fresh registries, in-memory span exporters and apps that are uninstrumented afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from instrumentation import instrument, uninstrument

USER_ID_KEY = "test-key"


class Tracing:
    """A tracer provider whose finished spans are kept in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def names(self) -> list[str]:
        return [s.name for s in self.spans()]


@pytest.fixture
def tracing() -> Tracing:
    return Tracing()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def instrumented(tracing: Tracing, registry: CollectorRegistry) -> Iterator[Callable[..., FastAPI]]:
    """`instrumented(app, **kwargs)` instruments with the test's provider and registry."""
    apps: list[FastAPI] = []

    def _instrument(app: FastAPI, **kwargs: Any) -> FastAPI:
        kwargs.setdefault("service", "svc")
        kwargs.setdefault("tracer_provider", tracing.provider)
        kwargs.setdefault("registry", registry)
        kwargs.setdefault("user_id_key", USER_ID_KEY)
        instrument(app, **kwargs)
        apps.append(app)
        return app

    yield _instrument
    for app in apps:
        uninstrument(app)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An httpx client calling `app` in-process (its exceptions become 500s, like a server)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
