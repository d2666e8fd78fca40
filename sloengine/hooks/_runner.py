"""Run rollback hooks: timeout, retries with exponential backoff, idempotency, cooldown.

Idempotency: per (service, revision), a rollback that succeeded, ran dry, or is running is
not run again; the second trigger is a no-op recorded as `rollback_duplicate`. A rollback
that failed every attempt may be triggered again. Triggers without a revision are only
deduplicated by the cooldown. Cooldown: after a rollback of a service ran, triggers for the
same service wait `cooldown` (recorded as `rollback_cooldown`), so a flapping alert cannot
roll back revision after revision. Every attempt and result goes to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from sloengine.audit import AuditLog, read_entries
from sloengine.errors import SloEngineError
from sloengine.hooks._config import CommandAction, HookConfig, WebhookAction
from sloengine.hooks._signing import delivery_headers, new_delivery_id

__all__ = ["RollbackHooks", "RollbackOutcome"]

# `not_leader`: a replica (engine.role: replica) answered, the leader runs the hooks.
Status = Literal["succeeded", "failed", "duplicate", "cooldown", "dry_run", "no_hook", "not_leader"]
_DONE_ACTIONS = ("rollback_succeeded", "rollback_dry_run")


@dataclass(frozen=True)
class RollbackOutcome:
    """What a trigger did: `status`, how many attempts ran, and the last error if any."""

    service: str
    revision: str
    status: Status
    attempts: int = 0
    error: str = ""


class _AttemptError(SloEngineError):
    """One delivery attempt failed (`permanent`: do not retry). Private control flow of the
    retry loop, which turns it into an audited outcome; it never leaves this module."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RollbackHooks:
    """The configured hooks of every service, and the memory that makes them idempotent."""

    def __init__(
        self,
        hooks: Mapping[str, HookConfig],
        audit: AuditLog | None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.hooks = dict(hooks)
        self._audit = audit
        self._clock = clock
        self._sleep = sleep
        self._done: set[tuple[str, str]] = set()
        self._running: set[tuple[str, str]] = set()
        self._last_run: dict[str, float] = {}
        if audit is not None:
            self._recover(audit)

    def _recover(self, audit: AuditLog) -> None:
        """Rebuild the done set from the audit log, so a restart does not roll back twice."""
        with contextlib.suppress(OSError, ValueError):
            for _line, entry in read_entries(audit.path):
                details = entry.get("details") or {}
                if entry.get("action") in _DONE_ACTIONS and details.get("revision"):
                    self._done.add((str(details.get("service")), str(details["revision"])))

    def _record(self, actor: str, action: str, reason: str, details: Mapping[str, Any]) -> None:
        if self._audit is not None:
            self._audit.append(actor, action, reason, details)

    async def trigger(
        self,
        service: str,
        revision: str,
        reason: str,
        *,
        source: str,
        details: Mapping[str, Any] | None = None,
    ) -> RollbackOutcome:
        """Roll the service back (once per revision); never raises for a failing hook."""
        key = (service, revision)
        info = {"service": service, "revision": revision, **(details or {})}
        hook = self.hooks.get(service)
        if hook is None:
            self._record(
                source, "rollback_no_hook", f"no hook configured for {service}: {reason}", info
            )
            return RollbackOutcome(service, revision, "no_hook")
        if revision and (key in self._done or key in self._running):
            why = f"rollback of {service} revision {revision} already done or running"
            self._record(source, "rollback_duplicate", why, info)
            return RollbackOutcome(service, revision, "duplicate")
        last = self._last_run.get(service)
        now = self._clock()
        if last is not None and now - last < hook.cooldown_seconds:
            why = f"{service} was rolled back {now - last:.0f}s ago (cooldown {hook.cooldown_seconds:.0f}s)"
            self._record(source, "rollback_cooldown", why, info)
            return RollbackOutcome(service, revision, "cooldown")
        self._running.add(key)
        self._last_run[service] = now
        try:
            outcome = await self._run(hook, service, revision, reason, source, info)
        finally:
            self._running.discard(key)
        if outcome.status in ("succeeded", "dry_run") and revision:
            self._done.add(key)
        if outcome.status == "failed":
            # A failed rollback must not lock out the next attempt by cooldown.
            self._last_run.pop(service, None)
        return outcome

    async def _run(
        self,
        hook: HookConfig,
        service: str,
        revision: str,
        reason: str,
        source: str,
        info: dict[str, Any],
    ) -> RollbackOutcome:
        # One delivery id for every attempt of this trigger: a webhook receiver that already
        # acted on it (and whose answer was lost) recognises the retry.
        delivery_id = new_delivery_id()
        target = _describe(hook.action, service, revision, reason, delivery_id)
        if hook.dry_run:
            self._record(
                source,
                "rollback_dry_run",
                f"dry run: would roll back {service}: {reason}",
                {**info, **target},
            )
            return RollbackOutcome(service, revision, "dry_run")
        error = ""
        attempts = 0
        for attempt in range(1, hook.retries + 2):
            attempts = attempt
            self._record(
                source,
                "rollback_attempt",
                f"attempt {attempt} for {service}: {reason}",
                {**info, **target, "attempt": attempt},
            )
            started = time.perf_counter()
            try:
                result = await asyncio.wait_for(
                    self._once(hook.action, service, revision, reason, source, delivery_id),
                    timeout=hook.timeout_seconds,
                )
            except TimeoutError:
                error, permanent = f"timed out after {hook.timeout_seconds:g}s", False
            except _AttemptError as exc:
                error, permanent = str(exc), exc.permanent
            else:
                took = time.perf_counter() - started
                self._record(
                    source,
                    "rollback_succeeded",
                    f"rolled back {service}: {result}",
                    {**info, "attempt": attempt, "duration_seconds": round(took, 3)},
                )
                return RollbackOutcome(service, revision, "succeeded", attempt)
            self._record(
                source,
                "rollback_attempt_failed",
                f"attempt {attempt} for {service} failed: {error}",
                {**info, "attempt": attempt, "error": error},
            )
            if permanent or attempt > hook.retries:
                break
            await self._sleep(
                min(hook.backoff_seconds * 2 ** (attempt - 1), hook.max_backoff_seconds)
            )
        self._record(
            source,
            "rollback_failed",
            f"rollback of {service} failed after {attempts} attempts: {error}",
            {**info, "attempts": attempts, "error": error},
        )
        return RollbackOutcome(service, revision, "failed", attempts, error)

    async def _once(
        self,
        action: CommandAction | WebhookAction,
        service: str,
        revision: str,
        reason: str,
        source: str,
        delivery_id: str,
    ) -> str:
        if isinstance(action, CommandAction):
            return await _run_command(
                _argv(action, service, revision, reason), service, revision, reason
            )
        now = self._clock()
        body = {
            "service": service,
            "revision": revision,
            "reason": reason,
            "source": source,
            "time": now,
            "delivery_id": delivery_id,
        }
        raw = json.dumps(body, sort_keys=True).encode()
        return await _post_webhook(action, raw, delivery_id, int(now))


_PLACEHOLDER = re.compile(r"\{(service|revision|reason)\}")


def _argv(action: CommandAction, service: str, revision: str, reason: str) -> list[str]:
    """argv with placeholders replaced in one pass (a value is never expanded again)."""
    values = {"service": service, "revision": revision, "reason": reason}
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in action.argv]


def _describe(
    action: CommandAction | WebhookAction,
    service: str,
    revision: str,
    reason: str,
    delivery_id: str,
) -> dict[str, Any]:
    if isinstance(action, CommandAction):
        return {"command": _argv(action, service, revision, reason)}
    return {"webhook": action.url, "delivery_id": delivery_id}


async def _run_command(argv: list[str], service: str, revision: str, reason: str) -> str:
    env = {
        **os.environ,
        "SLOENGINE_SERVICE": service,
        "SLOENGINE_REVISION": revision,
        "SLOENGINE_REASON": reason,
    }
    try:
        # Its own session, so its process group holds the command and everything it starts
        # (helm's and kubectl's children, a shell script's pipeline): killed as one below.
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise _AttemptError(f"cannot run {argv[0]}: {exc.strerror}", permanent=True) from None
    try:
        out, err = await proc.communicate()
    except asyncio.CancelledError:
        # Timeout (wait_for cancels us): never leave the command or its children running.
        _kill_group(proc.pid)
        await proc.wait()
        raise
    finally:
        # A child the command left behind (`cmd &`) would outlive the hook: end it too.
        _kill_group(proc.pid)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip()[-300:]
        raise _AttemptError(f"{argv[0]} exited {proc.returncode}: {tail}")
    return f"{argv[0]} exited 0 {out.decode(errors='replace').strip()[-200:]}".strip()


def _kill_group(pgid: int) -> None:
    """SIGKILL a hook's process group (its leader's pid); nothing left is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _post_webhook(
    action: WebhookAction, body: bytes, delivery_id: str, timestamp: int
) -> str:
    headers = {"Content-Type": "application/json", **dict(action.headers)}
    headers.update(
        delivery_headers(body, action.secret, timestamp=timestamp, delivery_id=delivery_id)
    )
    try:
        async with httpx.AsyncClient(timeout=None) as client:  # the hook timeout bounds it
            resp = await client.post(action.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise _AttemptError(f"POST {action.url}: {type(exc).__name__}: {exc}") from None
    if resp.is_success:
        return f"POST {action.url} -> {resp.status_code}"
    # 4xx (except 408/429) means the request itself is wrong: retrying cannot help.
    permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
    raise _AttemptError(
        f"POST {action.url} -> HTTP {resp.status_code}: {resp.text[:200]}", permanent=permanent
    )
