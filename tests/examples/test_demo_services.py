"""The demo services in-process: key paths, trace trees across services, fault knobs."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from examples.services import docs_api
from examples.services._runtime import ServiceOptions
from examples.services.faults import FaultConfig, Faults
from instrumentation import get_instrumentation, uninstrument
from sloengine import conventions as c
from sloengine.traces import SpanRecord, linkage_report
from tests.examples.conftest import Demo, _asgi
from tests.instrumentation.conftest import client_for


def _records(demo: Demo) -> list[SpanRecord]:
    out = []
    for service, tracing in demo.tracing.items():
        for s in tracing.spans():
            attrs = s.attributes or {}
            out.append(
                SpanRecord(
                    trace_id=format(s.context.trace_id, "032x"),
                    span_id=format(s.context.span_id, "016x"),
                    parent_span_id=format(s.parent.span_id, "016x") if s.parent else None,
                    name=s.name,
                    kind=s.kind.name,
                    service=service,
                    db_system=attrs.get("db.system.name"),  # type: ignore[arg-type]
                    route=attrs.get("http.route"),  # type: ignore[arg-type]
                )
            )
    return out


async def test_key_paths_answer_through_the_gateway(demo: Demo) -> None:
    search = await demo.client.get("/search", params={"q": "latency", "limit": 3})
    assert search.status_code == 200
    assert 0 < len(search.json()["hits"]) <= 3
    doc = await demo.client.get("/docs/5")
    assert doc.status_code == 200 and doc.json()["id"] == 5
    assert (await demo.client.get("/docs/100000")).status_code == 404
    ingested = await demo.client.post("/ingest", json={"title": "t", "body": "b"})
    assert ingested.status_code == 201 and ingested.json() == {"id": 1}
    assert (await demo.client.post("/ingest", json={"title": ""})).status_code == 422
    for app in (demo.gateway, demo.docs, demo.ingest):
        assert get_instrumentation(app).failsafe.failures == {}  # type: ignore[union-attr]


async def test_trace_covers_gateway_service_and_db_with_correct_parents(demo: Demo) -> None:
    await demo.client.get("/search", params={"q": "canary"})
    by_name = {(svc, s.name): s for svc, t in demo.tracing.items() for s in t.spans()}
    root = by_name[("gateway", "GET /search")]
    client = by_name[("gateway", "GET")]
    server = by_name[("docs-api", "GET /search")]
    query = by_name[("docs-api", "SELECT docs")]
    assert root.parent is None
    assert client.parent is not None and client.parent.span_id == root.context.span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert query.parent is not None and query.parent.span_id == server.context.span_id
    assert len({s.context.trace_id for s in (root, client, server, query)}) == 1
    assert query.attributes is not None
    assert "canary" not in str(query.attributes["db.query.text"])  # bound, never inlined


async def test_linkage_of_an_in_process_run_is_complete(demo: Demo) -> None:
    await demo.client.post("/admin/faults", json={"error_ratio": 0.3})
    for i in range(1, 21):
        await demo.client.get(f"/docs/{i}")
        await demo.client.get("/search", params={"q": "burn"})
        await demo.client.post("/ingest", json={"title": f"t{i}", "body": "x"})
    report = linkage_report(_records(demo), routes=["/search", "/docs/{id}", "/ingest"])
    assert report.requests == 60
    assert report.parent_ratio == 1.0
    assert report.coverage_ratio == 1.0


async def test_request_id_is_shared_across_services(demo: Demo) -> None:
    response = await demo.client.get("/docs/2", headers={"x-request-id": "demo-req-1"})
    assert response.headers["x-request-id"] == "demo-req-1"
    docs_response = await demo.client.get("/docs/2")
    assert docs_response.headers["x-request-id"] != "demo-req-1"


async def test_fixtures_are_deterministic_per_seed(tmp_path: object) -> None:
    bodies = []
    for run in range(2):
        app = docs_api.create_app(
            ServiceOptions(service_name="docs-api", db_path=f"{tmp_path}/d{run}.sqlite"),
            registry=__import__("prometheus_client").CollectorRegistry(),
        )
        async with client_for(app) as client:
            bodies.append([(await client.get(f"/docs/{i}")).json() for i in (1, 77, 200)])
        uninstrument(app)
        app.state.db.close()
    assert bodies[0] == bodies[1]


async def test_seeded_error_ratio_is_within_tolerance(demo: Demo) -> None:
    set_faults = await demo.client.post("/admin/faults", json={"error_ratio": 0.2})
    assert set_faults.json()["error_ratio"] == 0.2
    statuses = [(await demo.client.get("/docs/3")).status_code for _ in range(400)]
    errors = statuses.count(500)
    assert set(statuses) == {200, 500}
    assert abs(errors / 400 - 0.2) < 0.06  # ~3 standard deviations of a binomial(400, 0.2)
    assert demo.registry.get_sample_value(
        c.HTTP_REQUESTS_TOTAL,
        {"service": "gateway", "variant": "canary", "route": "/docs/{id}", "method": "GET",
         "status": "500"},
    ) == errors  # fmt: skip
    assert (await demo.client.get("/admin/faults")).json()["injected_errors"] == errors


def test_same_seed_fails_the_same_requests() -> None:
    runs = []
    for _ in range(2):
        faults = Faults(FaultConfig(error_ratio=0.25), seed=11)
        runs.append([faults.should_fail() for _ in range(200)])
    assert runs[0] == runs[1]


async def test_added_latency_slows_every_key_path_request(demo: Demo) -> None:
    await demo.client.post("/admin/faults", json={"added_latency_s": 0.05})
    started = time.perf_counter()
    assert (await demo.client.get("/docs/1")).status_code == 200
    assert time.perf_counter() - started >= 0.05


async def test_downstream_errors_become_502_and_outages_503(demo: Demo) -> None:
    docs_faults = demo.docs.state.faults
    docs_faults.update(error_ratio=1.0)
    assert (await demo.client.get("/docs/1")).status_code == 502
    docs_faults.update(error_ratio=0.0)
    from examples.services import gateway

    lonely = gateway.create_app(
        ServiceOptions(service_name="gateway"),
        docs_url="http://127.0.0.1:9",  # discard port: nothing listens
        registry=demo.registry,
        tracer_provider=demo.tracing["gateway"].provider,
        timeout_s=2.0,
    )
    async with client_for(lonely) as client:
        assert (await client.get("/docs/1")).status_code == 503
    uninstrument(lonely)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error_ratio": 1.5}, "error_ratio: must be within [0, 1]"),
        ({"added_latency_s": -1}, "added_latency_s: must be within"),
        ({"error_ratio": "lots"}, "error_ratio: must be a number"),
        ({"eror_ratio": 0.1}, "eror_ratio: unknown field"),
        ([1, 2], "body: must be a JSON object"),
    ],
)
async def test_admin_rejects_bad_fault_settings_naming_the_field(
    demo: Demo, body: object, message: str
) -> None:
    response = await demo.client.post("/admin/faults", content=json.dumps(body))
    assert response.status_code == 400
    assert message in response.json()["detail"]


async def test_admin_needs_the_token_when_one_is_configured(tmp_path: object) -> None:
    from prometheus_client import CollectorRegistry

    app = docs_api.create_app(
        ServiceOptions(service_name="docs-api", admin_token="s3cret", db_path=f"{tmp_path}/a.db"),
        registry=CollectorRegistry(),
    )
    async with httpx.AsyncClient(transport=_asgi(app), base_url="http://d") as client:
        assert (await client.post("/admin/faults", json={"error_ratio": 0.1})).status_code == 401
        ok = await client.post(
            "/admin/faults", json={"error_ratio": 0.1}, headers={"authorization": "Bearer s3cret"}
        )
    assert ok.status_code == 200
    uninstrument(app)
    app.state.db.close()


async def test_admin_without_token_answers_loopback_only(demo: Demo) -> None:
    async with httpx.AsyncClient(
        transport=_asgi(demo.gateway, client_host="10.1.2.3"), base_url="http://gateway"
    ) as remote:
        assert (await remote.post("/admin/faults", json={"error_ratio": 1})).status_code == 403
    assert (await demo.client.get("/admin/faults")).json()["error_ratio"] == 0.0
