"""The HTTP side door for controllers that only speak HTTP (DESIGN.md paths, a contract).

- `GET|POST /api/v1/verdict?service=&canary=&baseline=&revision=&eval_time=&short_window=&long_window=`
  -> 200 with the verdict JSON (`verdict` is PASS | FAIL | INCONCLUSIVE) for Argo Rollouts;
  open unless `canary.verdict_requires_token` (a live verdict writes the audit log).
- `POST /api/v1/flagger/{gate}` (bearer token) with Flagger's webhook payload. Go gates
  answer 200 only for PASS (412 for FAIL, 425 "too early" for INCONCLUSIVE); the
  `rollback` gate answers 200 only when the canary must roll back (FAIL), else 412;
  `post-rollout` and `event` are recorded in the audit log and answered 200.
- `POST /api/v1/alertmanager` (bearer token), Alertmanager webhook v4: each firing alert
  labelled rollback="true" starts the rollback hook of its `service` label; resolved
  ones are recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from sloengine import conventions, inputs
from sloengine.canary._convert import verdict_to_json
from sloengine.canary._core import CanaryCore, VerdictRequest
from sloengine.canary._payloads import alertmanager_alerts
from sloengine.canary.errors import CanaryRequestError
from sloengine.durations import parse_duration_seconds
from sloengine.errors import RequestError, SloEngineError
from sloengine.http.body import json_object, request_params
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = ["GO_GATES", "NOTIFY_GATES", "add_routes"]

GO_GATES = (
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
)
NOTIFY_GATES = ("post-rollout", "event")
ROLLBACK_GATE = "rollback"

TokenCheck = Callable[[web.Request], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _window(params: Mapping[str, Any], key: str) -> float:
    text = inputs.text(params.get(key), key).strip()
    if not text:
        return 0.0
    try:
        return float(text) if text.replace(".", "", 1).isdigit() else parse_duration_seconds(text)
    except ValueError as exc:
        raise CanaryRequestError(key, str(exc)) from None


def _eval_time(params: Mapping[str, Any]) -> float | None:
    return inputs.unix_seconds_text(params.get("eval_time"), "eval_time")


def _request_from(params: Mapping[str, Any]) -> VerdictRequest:
    return VerdictRequest(
        service=inputs.text(params.get("service"), "service"),
        canary=inputs.text(params.get("canary"), "canary"),
        baseline=inputs.text(params.get("baseline"), "baseline"),
        at_unix_s=_eval_time(params),
        short_window_seconds=_window(params, "short_window"),
        long_window_seconds=_window(params, "long_window"),
        revision=inputs.text(params.get("revision"), "revision"),
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    return await json_object(request)  # bounded depth, UTF-8, finite numbers


def _guarded(handler: Handler) -> Handler:
    """Bad input -> 400 with the field path; engine errors -> 503; never a traceback."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            return _error(400, str(exc))
        except SloEngineError as exc:
            return _error(503, str(exc))

    return wrapped


def add_routes(app: web.Application, core: CanaryCore, check_token: TokenCheck) -> None:
    """Add the three side-door routes to the engine's aiohttp application."""

    @_guarded
    async def verdict(request: web.Request) -> web.StreamResponse:
        if core.config.verdict_requires_token:
            check_token(request)
        params = await request_params(request)
        msg = core.evaluate(_request_from(params), actor="http")
        return web.json_response(verdict_to_json(msg))

    @_guarded
    async def flagger(request: web.Request) -> web.StreamResponse:
        check_token(request)
        gate = request.match_info["gate"]
        known = (*GO_GATES, ROLLBACK_GATE, *NOTIFY_GATES)
        if gate not in known:
            return _error(
                404, f"gate: unknown Flagger webhook type {gate!r}; known: {', '.join(known)}"
            )
        body = await _json_object(request)
        metadata = inputs.optional_string_map(body.get("metadata"), "metadata")
        name = inputs.text(body.get("name"), "name")
        details = {
            "gate": gate,
            "name": name,
            "namespace": inputs.text(body.get("namespace"), "namespace"),
            "phase": inputs.text(body.get("phase"), "phase"),
            "checksum": inputs.text(body.get("checksum"), "checksum"),
        }
        if gate in NOTIFY_GATES:
            if core.audit is not None:
                why = f"Flagger {gate}: {details['namespace']}/{name} {details['phase']}"
                core.audit.append(
                    f"flagger:{gate}", "flagger_event", why, {**details, "metadata": metadata}
                )
            return web.json_response({"recorded": True, **details})
        # The service is metadata.service, else the Canary's name; the revision is
        # metadata.revision, else Flagger's checksum of the canary's pod template.
        params = {
            "service": metadata.get("service") or name,
            "canary": metadata.get("canary"),
            "baseline": metadata.get("baseline"),
            "revision": metadata.get("revision") or details["checksum"],
            "short_window": metadata.get("short_window"),
            "long_window": metadata.get("long_window"),
        }
        msg = core.evaluate(_request_from(params), actor=f"flagger:{gate}")
        body_out = {"gate": gate, **verdict_to_json(msg)}
        if gate == ROLLBACK_GATE:
            status = 200 if msg.verdict == pb.FAIL else 412
        else:
            status = {pb.PASS: 200, pb.FAIL: 412}.get(msg.verdict, 425)
        return web.json_response(body_out, status=status)

    @_guarded
    async def alertmanager(request: web.Request) -> web.StreamResponse:
        check_token(request)
        body = await _json_object(request)
        alerts = alertmanager_alerts(body)  # every field typed, or a 400 naming it
        triggered, resolved, ignored = [], [], 0
        for alert in alerts:
            labels = alert.labels
            if labels.get(conventions.LABEL_ROLLBACK) != conventions.ROLLBACK_LABEL_VALUE:
                ignored += 1
                continue
            name = labels.get("alertname", "alert")
            service = labels.get(conventions.LABEL_SERVICE, "")
            info = {
                "alertname": name,
                "fingerprint": alert.fingerprint,
                "starts_at": alert.starts_at,
                "labels": labels,
            }
            if alert.status == "resolved":
                resolved.append(name)
                if core.audit is not None:
                    why = f"{name} resolved for {service or 'unknown service'}"
                    core.audit.append("alertmanager", "alert_resolved", why, info)
                continue
            if not service:
                if core.audit is not None:
                    why = f'{name} is firing with rollback="true" but has no service label'
                    core.audit.append("alertmanager", "alert_ignored", why, info)
                ignored += 1
                continue
            annotations = alert.annotations
            summary = annotations.get("summary") or annotations.get("description") or ""
            reason = f"alert {name} firing" + (f": {summary}" if summary else "")
            core.start_rollback(
                service, labels.get("revision", ""), reason, source="alertmanager", details=info
            )
            triggered.append({"service": service, "alertname": name})
        return web.json_response({"triggered": triggered, "resolved": resolved, "ignored": ignored})

    app.router.add_route("GET", conventions.HTTP_VERDICT_PATH, verdict)
    app.router.add_route("POST", conventions.HTTP_VERDICT_PATH, verdict)
    app.router.add_route("POST", conventions.HTTP_FLAGGER_PATH, flagger)
    app.router.add_route("POST", conventions.HTTP_ALERTMANAGER_PATH, alertmanager)
