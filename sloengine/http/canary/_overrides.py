"""The manual override API (admin scope to change, read scope to list).

    GET  /api/v1/overrides?service=           active pauses and forced verdicts
    POST /api/v1/overrides/pause-rollback     {service, reason, actor}
    POST /api/v1/overrides/resume-rollback    {service, reason, actor}
    POST /api/v1/overrides/force-verdict      {service, revision, verdict, reason, actor}
    POST /api/v1/overrides/clear-verdict      {service, revision, reason, actor}
    POST /api/v1/overrides/rollback           {service, revision, reason, actor}

`reason` and `actor` (who, e.g. `alice@laptop`) are required: each change is audited as
`admin:<actor>` with the reason, and the audit entry is written before the change applies.
A manual rollback runs the service's hook even while automatic rollback is paused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sloengine.canary import CanaryCore, check_revision, check_text
from sloengine.canary.errors import CanaryRequestError
from sloengine.errors import RequestError
from sloengine.http.body import json_object
from sloengine.settings.credentials import Scope

__all__ = ["OVERRIDES_PATH", "add_override_routes"]

OVERRIDES_PATH = "/api/v1/overrides"

TokenCheck = Callable[[web.Request, Scope], None]
Action = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


async def _body(request: web.Request) -> dict[str, Any]:
    try:  # bounded depth, UTF-8, finite numbers (request.json() recursed into a 500)
        return await json_object(request)
    except RequestError as exc:
        raise CanaryRequestError(exc.field, exc.reason) from None


def add_override_routes(app: web.Application, core: CanaryCore, check_token: TokenCheck) -> None:
    """Add the override routes to the engine's aiohttp application."""
    overrides = core.overrides

    async def pause(body: dict[str, Any], actor: str) -> dict[str, Any]:
        p = overrides.pause_rollback(body.get("service"), actor=actor, reason=body.get("reason"))
        return {"paused": p.service}

    async def resume(body: dict[str, Any], actor: str) -> dict[str, Any]:
        lifted = overrides.resume_rollback(
            body.get("service"),
            actor=actor,
            reason=body.get("reason"),
        )
        return {"resumed": lifted}

    async def force(body: dict[str, Any], actor: str) -> dict[str, Any]:
        f = overrides.force_verdict(
            body.get("service"),
            body.get("revision") or "",
            body.get("verdict"),
            actor=actor,
            reason=body.get("reason"),
        )
        return {"forced": {"service": f.service, "revision": f.revision, "verdict": f.verdict}}

    async def clear(body: dict[str, Any], actor: str) -> dict[str, Any]:
        cleared = overrides.clear_verdict(
            body.get("service"),
            body.get("revision") or "",
            actor=actor,
            reason=body.get("reason"),
        )
        return {"cleared": cleared}

    async def rollback(body: dict[str, Any], actor: str) -> dict[str, Any]:
        service = check_text("service", body.get("service"))
        revision = check_revision(body.get("revision"))
        reason = str(body.get("reason") or "")
        overrides.record_trigger(service, revision, actor=actor, reason=reason)
        task = core.start_rollback(
            service,
            revision,
            reason.strip(),
            source=actor,
            details={"trigger": "manual override"},
        )
        outcome = await task
        return {"service": service, "revision": revision, "rollback": outcome.status}

    actions: dict[str, Action] = {
        "pause-rollback": pause,
        "resume-rollback": resume,
        "force-verdict": force,
        "clear-verdict": clear,
        "rollback": rollback,
    }

    async def change(request: web.Request) -> web.StreamResponse:
        check_token(request, Scope.ADMIN)
        action = actions.get(request.match_info["action"])
        if action is None:
            known = ", ".join(actions)
            return web.json_response({"error": f"action: unknown; known: {known}"}, status=404)
        try:
            body = await _body(request)
            actor = "admin:" + check_text("actor", body.get("actor"), limit=100)
            result = await action(body, actor)
        except CanaryRequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True, **result, "overrides": overrides.active()})

    async def listing(request: web.Request) -> web.StreamResponse:
        check_token(request, Scope.READ)
        service = request.query.get("service") or None
        return web.json_response(overrides.active(service))

    app.router.add_get(OVERRIDES_PATH, listing)
    app.router.add_post(OVERRIDES_PATH + "/{action}", change)
