"""The UI's HTTP routes on the engine's aiohttp application.

    GET /ui/                      the single page (hash routes: #/slos, #/slo/..., #/canaries, #/audit)
    GET /ui/static/...            JS, CSS (shipped in the package; no CDN)
    GET /ui/api/slos              SLO list
    GET /ui/api/slo?service=&name=&range=1h|6h|1d|7d|30d
    GET /ui/api/canaries          canary list
    GET /ui/api/canary?service=&canary=&baseline=&range=
    GET /ui/api/audit?limit=200

Read-only: no route changes anything. The JSON API needs the read token
(`Authorization: Bearer`) when the engine has its own read token (`engine.tokens.read`);
the page asks for it once and keeps it for the browser tab. Bad parameters answer 400
`{"error": "param: reason"}`; unknown SLOs 404.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from sloengine.ui._backend import UIBackend, UIRequestError

__all__ = ["UI_PATH", "add_routes"]

UI_PATH = "/ui/"
API_PREFIX = "/ui/api"
STATIC_PREFIX = "/ui/static"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def static_dir() -> Path:
    """The packaged static assets (index.html, JS, CSS)."""
    return Path(str(resources.files("sloengine.ui").joinpath("static")))


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def _json(body: dict[str, Any]) -> web.Response:
    response = web.Response(
        body=_compact(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
    response.enable_compression()
    return response


def _guarded(handler: Callable[[web.Request], Awaitable[dict[str, Any]]]) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return _json(await handler(request))
        except UIRequestError as exc:
            status = 404 if exc.not_found else 400
            return web.json_response({"error": str(exc)}, status=status)

    return wrapped


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "200")
    try:
        return int(text)
    except ValueError:
        raise UIRequestError("limit", f"must be an integer, got {text!r}") from None


def _read_guard(backend: UIBackend) -> Callable[[Handler], Handler]:
    """The API's read-scope check, applied when the engine has a read token of its own."""
    from sloengine.http.auth import require_token
    from sloengine.settings.credentials import Scope

    def guard(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if backend.credentials.read_is_scoped:
                require_token(backend.credentials, request, Scope.READ)
            return await handler(request)

        return wrapped

    return guard


def add_routes(app: web.Application, backend: UIBackend) -> None:
    """Add the page, its assets and its JSON API to `app`."""
    read = _read_guard(backend)
    root = static_dir()
    index = (root / "index.html").read_bytes()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=index, content_type="text/html", charset="utf-8")

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(UI_PATH)

    @_guarded
    async def slos(request: web.Request) -> dict[str, Any]:
        return await backend.slo_list()

    @_guarded
    async def slo(request: web.Request) -> dict[str, Any]:
        q = request.query
        return await backend.slo_detail(
            q.get("service", ""), q.get("name", ""), q.get("range", "1d")
        )

    @_guarded
    async def canaries(request: web.Request) -> dict[str, Any]:
        return backend.canary_list()

    @_guarded
    async def canary(request: web.Request) -> dict[str, Any]:
        q = request.query
        return backend.canary_detail(
            q.get("service", ""), q.get("canary", ""), q.get("baseline", ""), q.get("range", "1h")
        )

    @_guarded
    async def audit(request: web.Request) -> dict[str, Any]:
        return backend.audit_log(_limit(request))

    app.router.add_get("/ui", redirect)
    app.router.add_get(UI_PATH, page)
    app.router.add_get(f"{API_PREFIX}/slos", read(slos))
    app.router.add_get(f"{API_PREFIX}/slo", read(slo))
    app.router.add_get(f"{API_PREFIX}/canaries", read(canaries))
    app.router.add_get(f"{API_PREFIX}/canary", read(canary))
    app.router.add_get(f"{API_PREFIX}/audit", read(audit))
    app.router.add_static(STATIC_PREFIX, root, append_version=False)
