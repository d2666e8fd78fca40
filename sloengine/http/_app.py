"""The engine's aiohttp application: `/metrics`, `/healthz`, `/readyz`.

The canary's side door, the UI and the pipelines add their routes to the same application
before it starts.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sloengine import conventions
from sloengine.engine import Readiness
from sloengine.http.body import edge_errors

__all__ = ["STATE_KEY", "create_http_app"]

# The engine's readiness, as `/readyz` reads it.
STATE_KEY: web.AppKey[Readiness] = web.AppKey("sloengine_state", Readiness)
_REGISTRY_KEY: web.AppKey[CollectorRegistry] = web.AppKey("sloengine_registry", CollectorRegistry)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    problem = request.app[STATE_KEY].problem()
    if problem is not None:  # e.g. the store failed: every push would fail, say why
        return web.Response(status=503, text=f"{problem}\n")
    return web.Response(text="ready\n")


def create_http_app(readiness: Readiness, registry: CollectorRegistry) -> web.Application:
    """An application serving the engine's health and the metrics of `registry`;
    `app[STATE_KEY]` is `readiness`."""
    app = web.Application(middlewares=[edge_errors])
    app[STATE_KEY] = readiness
    app[_REGISTRY_KEY] = registry
    app.router.add_get(conventions.HTTP_METRICS_PATH, _metrics)
    app.router.add_get(conventions.HTTP_HEALTHZ_PATH, _healthz)
    app.router.add_get(conventions.HTTP_READYZ_PATH, _readyz)
    return app
