"""RED metrics: names, labels and buckets exactly as sloengine.conventions defines them."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from sloengine import conventions as c
from tests.instrumentation.conftest import client_for, sample


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/docs/{id}")
    async def get_doc(id: int) -> dict[str, int]:
        return {"id": id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


def _families(registry: CollectorRegistry) -> dict[str, object]:
    return {m.name: m for m in registry.collect()}


async def test_metric_names_labels_and_buckets_follow_conventions(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app(), service="docs-api", variant="canary")
    async with client_for(app) as client:
        assert (await client.get("/docs/7")).status_code == 200

    labels = {"service": "docs-api", "variant": "canary", "route": "/docs/{id}", "method": "GET",
              "status": "200"}  # fmt: skip
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, **labels) == 1
    assert sample(registry, f"{c.HTTP_REQUEST_DURATION_SECONDS}_count", **labels) == 1
    for bound in c.DEFAULT_LATENCY_BUCKETS_SECONDS:
        assert (
            registry.get_sample_value(
                f"{c.HTTP_REQUEST_DURATION_SECONDS}_bucket", {**labels, "le": str(float(bound))}
            )
            is not None
        ), bound
    counter = next(m for m in registry.collect() if m.name == "http_requests")
    request_labels = {k for s in counter.samples for k in s.labels}
    assert request_labels == set(c.RED_LABELS)
    histogram = next(m for m in registry.collect() if m.name == c.HTTP_REQUEST_DURATION_SECONDS)
    bucket_bounds = sorted(
        float(s.labels["le"]) for s in histogram.samples if s.name.endswith("_bucket")
    )
    assert bucket_bounds == [*c.DEFAULT_LATENCY_BUCKETS_SECONDS, float("inf")]
    assert sample(registry, c.HTTP_REQUESTS_IN_FLIGHT, service="docs-api", variant="canary") == 0


async def test_unmatched_paths_share_one_route_value(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        for path in ("/nope", "/wp-admin.php", "/docs/1/extra"):
            assert (await client.get(path)).status_code == 404
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route=c.UNMATCHED_ROUTE, method="GET", status="404") == 3  # fmt: skip


async def test_unhandled_exception_counts_as_500_on_its_route(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/boom")).status_code == 500
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/boom", method="GET", status="500") == 1  # fmt: skip


async def test_invented_methods_are_folded_into_other(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        await client.request("FROBNICATE", "/docs/1")
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/docs/{id}", method="_OTHER", status="405") == 1  # fmt: skip


async def test_probe_and_scrape_endpoints_are_not_counted(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/ready")).status_code == 200
        await client.get("/metrics")
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "http_requests_total{" not in metrics.text  # no request was counted
    assert 'http_requests_in_flight{service="svc",variant="stable"} 0.0' in metrics.text


async def test_ready_answers_503_naming_the_failing_checks(
    instrumented: Callable[..., FastAPI],
) -> None:
    async def db_ok() -> bool:
        return True

    def cache_down() -> bool:
        return False

    def broker_raises() -> bool:
        raise ConnectionError("broker unreachable")

    app = instrumented(
        _app(), readiness_checks={"db": db_ok, "cache": cache_down, "broker": broker_raises}
    )
    async with client_for(app) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert sorted(body["failing"]) == ["broker", "cache"]
    assert body["checks"]["db"] == "ok"
    assert "broker unreachable" in body["checks"]["broker"]


async def test_health_endpoints_answer_only_get_and_head(
    instrumented: Callable[..., FastAPI],
) -> None:
    app = instrumented(_app())
    async with client_for(app) as client:
        assert (await client.post("/health")).status_code == 405
        head = await client.head("/metrics")
    assert head.status_code == 200 and head.content == b""


async def test_two_services_share_one_registry_by_label(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    first = instrumented(_app(), service="gateway")
    second = instrumented(_app(), service="docs-api", variant="baseline")
    async with client_for(first) as a, client_for(second) as b:
        await a.get("/docs/1")
        await b.get("/docs/1")
    for service, variant in (("gateway", "stable"), ("docs-api", "baseline")):
        assert sample(registry, c.HTTP_REQUESTS_TOTAL, service=service, variant=variant,
                      route="/docs/{id}", method="GET", status="200") == 1  # fmt: skip


async def test_mounted_routes_carry_the_mount_prefix_and_nothing_fails_silently(
    instrumented: Callable[..., FastAPI], registry: CollectorRegistry
) -> None:
    from instrumentation import get_instrumentation

    app, api = FastAPI(), FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.mount("/v1", api)
    instrumented(app)
    async with client_for(app) as client:
        for n in range(3):
            assert (await client.get(f"/v1/items/{n}")).status_code == 200
    assert sample(registry, c.HTTP_REQUESTS_TOTAL, service="svc", variant="stable",
                  route="/v1/items/{item_id}", method="GET", status="200") == 3  # fmt: skip
    assert get_instrumentation(app).failsafe.failures == {}  # type: ignore[union-attr]
