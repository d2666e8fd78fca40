"""The engine's aiohttp application: `/metrics`, `/healthz`, `/readyz`.

Plugins (canary, UI) add their routes to the same application before it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sloengine import conventions
from sloengine.http.body import edge_errors

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["STATE_KEY", "create_http_app"]

STATE_KEY: web.AppKey[EngineState] = web.AppKey("sloengine_state")


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = generate_latest(state.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not state.ready:
        return web.Response(status=503, text="not ready\n")
    failure = state.durable.failure if state.durable is not None else None
    if failure is not None:  # every push would fail: say so, and why
        return web.Response(status=503, text=f"not ready: store: {failure}\n")
    for check in state.readiness_checks:
        if (problem := check()) is not None:
            return web.Response(status=503, text=f"not ready: {problem}\n")
    return web.Response(text="ready\n")


def create_http_app(state: EngineState) -> web.Application:
    """An application serving the engine's health and metrics; `app[STATE_KEY]` is the state."""
    app = web.Application(middlewares=[edge_errors])
    app[STATE_KEY] = state
    app.router.add_get(conventions.HTTP_METRICS_PATH, _metrics)
    app.router.add_get(conventions.HTTP_HEALTHZ_PATH, _healthz)
    app.router.add_get(conventions.HTTP_READYZ_PATH, _readyz)
    return app
