"""The HTTP side door for controllers that only speak HTTP (DESIGN.md paths, a contract).

Scopes (sloengine.settings.credentials): verdicts and Flagger gates are reads; the Alertmanager
receiver is admin.

- `GET|POST /api/v1/verdict?service=&canary=&baseline=&revision=&eval_time=&short_window=&long_window=`
  -> 200 with the verdict JSON (`verdict` is PASS | FAIL | INCONCLUSIVE) for Argo Rollouts'
  web metric provider, whatever the verdict (Argo maps a non-2xx answer to Error, not to a
  verdict). Needs the read token when `tokens.read` is set (or `canary.verdict_requires_token`).
  404 for an unknown service or variant (nothing is recorded for it).
- `POST /api/v1/flagger/{gate}` with Flagger's webhook payload (name, namespace, phase,
  checksum, metadata). Flagger counts a status <= 202 as success, anything else as failure,
  and cannot send headers, so a read token may come as `metadata.token` (visible to anyone
  who can read the Canary object: read scope only). Status codes per gate, to fit how
  Flagger's scheduler treats each hook (see docs/canary.md):
  - `rollout` (each analysis interval; failures count towards `threshold`, then roll back):
    200 PASS, 202 INCONCLUSIVE, 412 FAIL.
  - `pre-rollout` (at weight 0, before any canary traffic; failures count like `rollout`)
    and `confirm-rollout` (before the canary is scaled up; non-2xx only waits): no canary
    data for the new revision exists yet, so they do not judge data: 200, unless the
    revision has a forced FAIL (manual override), then 412.
  - `confirm-traffic-increase` and `confirm-promotion` (non-2xx waits, never fails):
    200 only on PASS, 425 INCONCLUSIVE, 412 FAIL. Exception: `confirm-traffic-increase`
    answers 200 while the canary has served no request at all in the window (weight 0:
    the first step is what produces evidence); promotion always needs PASS.
  - `rollback` (polled while progressing or waiting; 2xx rolls back): 200 only on FAIL,
    412 otherwise, and 412 while an operator paused automatic rollback for the service.
  - `post-rollout`, `event`: recorded in the audit log (metadata.token removed), 200.
- `POST /api/v1/alertmanager` (admin token), Alertmanager webhook v4: each firing alert
  labelled rollback="true" starts the rollback hook of its `service` label (unless an
  operator paused automatic rollback for it); resolved ones are recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from sloengine import conventions
from sloengine.canary import (
    CanaryCore,
    CanaryVerdict,
    Verdict,
    VerdictRequest,
    validate_revision,
    verdict_to_json,
)
from sloengine.canary.errors import CanaryNotFoundError, CanaryRequestError
from sloengine.durations import parse_duration_seconds
from sloengine.errors import RequestError, SloEngineError
from sloengine.http.auth import bearer_token, refuse
from sloengine.http.body import json_object, request_params
from sloengine.http.canary._payloads import alertmanager_alerts
from sloengine.settings import inputs
from sloengine.settings.credentials import Credentials, Scope

__all__ = ["GO_GATES", "NOTIFY_GATES", "ROLLBACK_GATE", "TokenCheck", "add_routes", "gate_status"]

GO_GATES = (
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
)
NOTIFY_GATES = ("post-rollout", "event")
ROLLBACK_GATE = "rollback"

TokenCheck = Callable[[web.Request, Scope], None]
# Gates that run before the new revision has served any traffic: they do not judge data.
BEFORE_TRAFFIC_GATES = ("pre-rollout", "confirm-rollout")
CONFIRM_GATES = ("confirm-traffic-increase", "confirm-promotion")
METADATA_TOKEN_KEY = "token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


ROLE_HEADER = "X-Sloengine-Role"


def role_headers(core: CanaryCore) -> dict[str, str]:
    """On a replica, the header saying so: the verdict is the same, nothing was acted on."""
    return {} if core.acts else {ROLE_HEADER: "replica; not acted on (hooks and audit: leader)"}


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


def gate_status(
    gate: str, v: CanaryVerdict, *, rollback_paused: bool = False, forced: bool = False
) -> int:
    """The HTTP status a Flagger gate answers for this verdict (Flagger: <= 202 is success).

    `forced`: the verdict is an operator's override (the only verdict the gates that run
    before any canary traffic act on).
    """
    verdict = v.verdict
    if gate == ROLLBACK_GATE:
        return 200 if verdict == Verdict.FAIL and not rollback_paused else 412
    if gate in BEFORE_TRAFFIC_GATES:
        return 412 if verdict == Verdict.FAIL and forced else 200
    if gate == "rollout":
        return {Verdict.PASS: 200, Verdict.FAIL: 412}.get(verdict, 202)
    if gate == "confirm-traffic-increase" and verdict != Verdict.FAIL and v.canary_served_nothing:
        return 200
    return {Verdict.PASS: 200, Verdict.FAIL: 412}.get(verdict, 425)


def _guarded(handler: Handler) -> Handler:
    """Bad input -> 400 with the field path; engine errors -> 503; never a traceback."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestError as exc:
            return _error(400, str(exc))
        except CanaryNotFoundError as exc:
            return _error(404, str(exc))
        except SloEngineError as exc:
            return _error(503, str(exc))

    return wrapped


def _metadata_token_check(
    credentials: Credentials, check_token: TokenCheck, request: web.Request, metadata: Any
) -> None:
    """Flagger's way in: a header token (read or admin), else a read token in metadata."""
    if credentials.is_open(Scope.READ) or bearer_token(request) is not None:
        check_token(request, Scope.READ)
        return
    token = metadata.get(METADATA_TOKEN_KEY) if isinstance(metadata, dict) else None
    if not isinstance(token, str) or not token:
        raise refuse(
            Scope.READ, False, "; Flagger: put a read token in the webhook's metadata.token"
        )
    if not credentials.read_is_scoped:
        raise refuse(
            Scope.READ,
            True,
            "; metadata is visible in the Canary object, so it takes only a token of its own: "
            "set engine.tokens.read",
        )
    if not credentials.accepts(Scope.READ, token, admin_ok=False):
        raise refuse(Scope.READ, True, " (metadata.token takes the read token only)")


def add_routes(
    app: web.Application,
    core: CanaryCore,
    check_token: TokenCheck,
    credentials: Credentials | None = None,
) -> None:
    """Add the three side-door routes to the engine's aiohttp application."""
    credentials = credentials if credentials is not None else Credentials()

    @_guarded
    async def verdict(request: web.Request) -> web.StreamResponse:
        if core.config.verdict_requires_token or credentials.read_is_scoped:
            check_token(request, Scope.READ)
        params = await request_params(request)
        req = _request_from(params)
        await core.prepare(req)
        verdict = core.evaluate(req, actor="http")
        return web.json_response(verdict_to_json(verdict), headers=role_headers(core))

    @_guarded
    async def flagger(request: web.Request) -> web.StreamResponse:
        gate = request.match_info["gate"]
        known = (*GO_GATES, ROLLBACK_GATE, *NOTIFY_GATES)
        if gate not in known:
            return _error(
                404, f"gate: unknown Flagger webhook type {gate!r}; known: {', '.join(known)}"
            )
        try:
            body = await _json_object(request)
        except RequestError:
            check_token(request, Scope.READ)  # an unauthenticated caller learns nothing more
            raise
        _metadata_token_check(credentials, check_token, request, body.get("metadata") or {})
        metadata = inputs.optional_string_map(body.get("metadata"), "metadata")
        # The token authenticated this call; it must not reach the audit log or a response.
        metadata = {k: v for k, v in metadata.items() if k != METADATA_TOKEN_KEY}
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
        req = _request_from(params)
        await core.prepare(req)
        verdict = core.evaluate(req, actor=f"flagger:{gate}")
        paused = core.overrides.rollback_paused(verdict.service) is not None
        forced = verdict.forced is not None
        status = gate_status(gate, verdict, rollback_paused=paused, forced=forced)
        body_out = {"gate": gate, "go": status <= 202, **verdict_to_json(verdict)}
        if gate == ROLLBACK_GATE and paused and verdict.verdict == Verdict.FAIL:
            body_out["reason"] = f"automatic rollback paused by an operator; {verdict.reason}"
        return web.json_response(body_out, status=status)

    @_guarded
    async def alertmanager(request: web.Request) -> web.StreamResponse:
        check_token(request, Scope.ADMIN)
        body = await _json_object(request)
        alerts = alertmanager_alerts(body)  # every field typed, or a 400 naming it
        triggered, resolved, ignored = [], [], 0
        not_acted: list[dict[str, str]] = []
        for i, alert in enumerate(alerts):
            labels = alert.labels
            if labels.get(conventions.LABEL_ROLLBACK) != conventions.ROLLBACK_LABEL_VALUE:
                ignored += 1
                continue
            name = labels.get("alertname", "alert")
            # Canary guards label `service`; an SLO burn alert names it `slo_service`.
            service = labels.get(conventions.LABEL_SERVICE) or labels.get(
                conventions.LABEL_SLO_SERVICE, ""
            )
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
            if (pause := core.overrides.rollback_paused(service)) is not None:
                if core.audit is not None:
                    why = f"{name} is firing but automatic rollback is paused: {pause.reason}"
                    core.audit.append("alertmanager", "alert_ignored", why, info)
                ignored += 1
                continue
            annotations = alert.annotations
            summary = annotations.get("summary") or annotations.get("description") or ""
            reason = f"alert {name} firing" + (f": {summary}" if summary else "")
            try:  # the revision reaches the hook's argv: never an option or odd characters
                revision = validate_revision(
                    labels.get(conventions.LABEL_REVISION, ""), f"alerts[{i}].labels.revision"
                )
            except CanaryRequestError as exc:
                if core.audit is not None:
                    core.audit.append("alertmanager", "alert_ignored", str(exc), info)
                ignored += 1
                continue
            if not core.acts:  # a replica: the leader (same alerts) runs the hook
                not_acted.append({"service": service, "alertname": name})
                continue
            core.start_rollback(service, revision, reason, source="alertmanager", details=info)
            triggered.append({"service": service, "alertname": name})
        out: dict[str, Any] = {"triggered": triggered, "resolved": resolved, "ignored": ignored}
        if not core.acts:
            out.update(role="replica", acted=False, not_acted=not_acted)
        return web.json_response(out)

    app.router.add_route("GET", conventions.HTTP_VERDICT_PATH, verdict)
    app.router.add_route("POST", conventions.HTTP_VERDICT_PATH, verdict)
    app.router.add_route("POST", conventions.HTTP_FLAGGER_PATH, flagger)
    app.router.add_route("POST", conventions.HTTP_ALERTMANAGER_PATH, alertmanager)
