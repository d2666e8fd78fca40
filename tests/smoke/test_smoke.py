"""`sloengine smoke`: every check passes on a healthy service and each failure is named."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from sloengine.cli.smoke_checks import run_smoke
from tests.support.http_app import serve_in_thread

METRICS = (
    "# TYPE http_requests_total counter\n"
    'http_requests_total{service="gw",variant="stable",route="/search",method="GET",status="200"} 3\n'
    "# TYPE http_request_duration_seconds histogram\n"
    'http_request_duration_seconds_bucket{service="gw",le="0.1"} 3\n'
)


@contextmanager
def service(
    *, ready: bool = True, continue_trace: bool = True, metrics: str = METRICS
) -> Iterator[str]:
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ready_h(_: web.Request) -> web.Response:
        return web.Response(text="ready" if ready else "db down", status=200 if ready else 503)

    async def metrics_h(_: web.Request) -> web.Response:
        return web.Response(text=metrics)

    async def search(request: web.Request) -> web.Response:
        headers = {}
        tp = request.headers.get("traceparent")
        if tp and continue_trace:
            _, trace_id, _, flags = tp.split("-")
            headers["traceresponse"] = f"00-{trace_id}-{'ab' * 8}-{flags}"
        return web.json_response({"hits": []}, headers=headers)

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready_h)
    app.router.add_get("/metrics", metrics_h)
    app.router.add_get("/search", search)
    with serve_in_thread(app) as url:
        yield url


def failed(results: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {r.name: r.detail for r in results if not r.ok}


def test_healthy_service_passes_every_check() -> None:
    with service() as url:
        assert failed(run_smoke(url)) == {}


def test_unready_service_fails_only_the_ready_check() -> None:
    with service(ready=False) as url:
        assert list(failed(run_smoke(url))) == ["ready"]


def test_missing_red_metrics_are_named() -> None:
    with service(metrics="up 1\n") as url:
        assert failed(run_smoke(url))["metrics"].endswith(
            "lacks http_requests_total, http_request_duration_seconds_bucket"
        )


def test_trace_not_continued_is_a_failure() -> None:
    with service(continue_trace=False) as url:
        assert failed(run_smoke(url))["trace"].endswith("no traceresponse header in the answer")


def test_dead_service_fails_every_check_without_a_traceback() -> None:
    with service() as url:
        pass  # stopped: nothing listens there any more
    result = subprocess.run(
        [sys.executable, "-m", "sloengine", "smoke", url, "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "smoke: 5 check(s) failed: health, ready, metrics, user-path, trace" in result.stdout


@pytest.mark.parametrize("path", ["/search?q=x"])
def test_cli_exit_zero_when_all_pass(path: str) -> None:
    with service() as url:
        result = subprocess.run(
            [sys.executable, "-m", "sloengine", "smoke", url, "--path", path],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("smoke: all 5 checks passed")
