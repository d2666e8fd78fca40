"""`/metrics`, `/health` and `/ready`, answered by the middleware before the app's router.

They are served outside the RED metrics and traces on purpose: probes and scrapes are not
user traffic, and counting them would dilute availability and latency SLIs (a service
failing every user request but answering probes would look 90% available).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = [
    "ReadinessCheck",
    "metrics_endpoint",
    "readiness_endpoint",
    "run_readiness_checks",
    "simple_endpoint",
]

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]

# A readiness check returns (or resolves to) True when ready; False or raising is not ready.
ReadinessCheck = Callable[[], bool | Awaitable[bool]]

_ALLOWED = ("GET", "HEAD")


async def _respond(send: Send, scope: Scope, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


async def _method_not_allowed(send: Send, scope: Scope) -> bool:
    if scope["method"] in _ALLOWED:
        return False
    await _respond(send, scope, 405, b'{"detail":"method not allowed"}', "application/json")
    return True


def metrics_endpoint(registry: CollectorRegistry) -> Endpoint:
    """Prometheus exposition of `registry` (OpenMetrics when the scraper asks for it)."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if await _method_not_allowed(send, scope):
            return
        accept = ""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        await _respond(send, scope, 200, encoder(registry), content_type)

    return endpoint


def simple_endpoint(payload: Mapping[str, object]) -> Endpoint:
    """A fixed JSON 200 answer (liveness: the event loop is serving requests)."""
    body = json.dumps(payload).encode()

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if await _method_not_allowed(send, scope):
            return
        await _respond(send, scope, 200, body, "application/json")

    return endpoint


async def _run_check(check: ReadinessCheck, timeout_s: float) -> bool:
    result = check()
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, timeout_s)
    return bool(result)


async def run_readiness_checks(
    checks: Mapping[str, ReadinessCheck], timeout_s: float
) -> tuple[list[str], dict[str, str]]:
    """Run every check concurrently; return (failing names, name -> "ok" or reason)."""
    names = list(checks)
    results = await asyncio.gather(
        *(_run_check(checks[n], timeout_s) for n in names), return_exceptions=True
    )
    failing: list[str] = []
    detail: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if result is True:
            detail[name] = "ok"
            continue
        failing.append(name)
        if isinstance(result, BaseException):
            detail[name] = f"{type(result).__name__}: {result}"[:200]
        else:
            detail[name] = "not ready"
    return failing, detail


def readiness_endpoint(checks: Mapping[str, ReadinessCheck], timeout_s: float) -> Endpoint:
    """200 when every check passes, else 503 listing the failing checks by name."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if await _method_not_allowed(send, scope):
            return
        failing, detail = await run_readiness_checks(checks, timeout_s)
        status = 503 if failing else 200
        payload = {"status": "not ready" if failing else "ready", "failing": failing}
        payload["checks"] = detail  # type: ignore[assignment]
        await _respond(send, scope, status, json.dumps(payload).encode(), "application/json")

    return endpoint
