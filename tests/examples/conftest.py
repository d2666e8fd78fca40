"""The three demo services wired in-process: gateway -> docs-api / ingest over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client import CollectorRegistry

from examples.services import docs_api, gateway, ingest
from examples.services._runtime import ServiceOptions
from instrumentation import uninstrument
from tests.instrumentation.conftest import Tracing


@dataclass
class Demo:
    gateway: FastAPI
    docs: FastAPI
    ingest: FastAPI
    tracing: dict[str, Tracing]
    registry: CollectorRegistry
    client: httpx.AsyncClient

    def spans(self) -> list[ReadableSpan]:
        return [s for t in self.tracing.values() for s in t.spans()]


def _asgi(app: FastAPI, client_host: str = "127.0.0.1") -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(client_host, 40000))


@pytest.fixture
async def demo(tmp_path: object) -> AsyncIterator[Demo]:
    registry = CollectorRegistry()
    tracing = {name: Tracing() for name in ("gateway", "docs-api", "ingest")}

    def kwargs(name: str) -> dict[str, Any]:
        return {"registry": registry, "tracer_provider": tracing[name].provider,
                "user_id_key": "demo-key"}  # fmt: skip

    docs = docs_api.create_app(
        ServiceOptions(service_name="docs-api", db_path=f"{tmp_path}/docs.sqlite"),
        **kwargs("docs-api"),
    )
    ing = ingest.create_app(
        ServiceOptions(service_name="ingest", db_path=f"{tmp_path}/ingest.sqlite"),
        **kwargs("ingest"),
    )
    gw = gateway.create_app(
        ServiceOptions(service_name="gateway", variant="canary", fault_seed=7),
        docs_url="http://docs-api",
        ingest_url="http://ingest",
        docs_transport=_asgi(docs),
        ingest_transport=_asgi(ing),
        **kwargs("gateway"),
    )
    async with httpx.AsyncClient(transport=_asgi(gw), base_url="http://gateway") as client:
        yield Demo(gw, docs, ing, tracing, registry, client)
    for app in (gw, docs, ing):
        uninstrument(app)
        db = getattr(app.state, "db", None)
        if db is not None:
            db.close()
