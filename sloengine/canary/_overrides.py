"""Manual overrides by an operator: pause automatic rollback, force a verdict, clear both.

Each change needs a reason and is written to the audit log (who, what, why, when) before it
takes effect; the audit log is also where the overrides are restored from at start, so an
engine restart keeps them and the log stays the one record of who did what.

- `pause_rollback(service)`: the engine starts no rollback hook for the service (neither a
  FAIL verdict of a `rollback_on_fail` service nor a `rollback="true"` alert), and Flagger's
  `rollback` gate answers "no rollback". Verdicts stay honest: a FAIL is still a FAIL for
  Argo's analysis and Flagger's `rollout` gate (pause the controller itself to stop those).
- `force_verdict(service, revision, verdict)`: every verdict for that revision (gRPC, HTTP,
  Flagger gates) is the forced one, with the operator's reason; the judged one is kept in
  the reason text. `revision` may be "" for "any revision of the service".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sloengine.audit import AuditLog
from sloengine.canary._verdict import CanaryVerdict
from sloengine.canary.errors import CanaryRequestError
from sloengine.conventions import REVISION_PATTERN

__all__ = ["OVERRIDE_ACTIONS", "ForcedVerdict", "Overrides", "RollbackPause", "apply_forced"]

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
MAX_REASON_CHARS = 1000
ACTION_PAUSE = "override_rollback_paused"
ACTION_RESUME = "override_rollback_resumed"
ACTION_FORCE = "override_verdict_forced"
ACTION_CLEAR = "override_verdict_cleared"
ACTION_TRIGGER = "override_rollback_triggered"
OVERRIDE_ACTIONS = (ACTION_PAUSE, ACTION_RESUME, ACTION_FORCE, ACTION_CLEAR, ACTION_TRIGGER)


@dataclass(frozen=True)
class RollbackPause:
    service: str
    actor: str
    reason: str
    at_unix_s: float


@dataclass(frozen=True)
class ForcedVerdict:
    service: str
    revision: str
    verdict: str
    actor: str
    reason: str
    at_unix_s: float


def apply_forced(verdict: CanaryVerdict, forced: ForcedVerdict | None) -> CanaryVerdict:
    """The verdict with an operator's forced verdict applied (the judged one kept in reason)."""
    return verdict if forced is None else verdict.with_forced(forced)


def check_text(field: str, value: object, *, required: bool = True, limit: int = 200) -> str:
    """A stripped one-line string; CanaryRequestError naming the field otherwise."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CanaryRequestError(field, "must be a string")
    text = value.strip()
    if required and not text:
        raise CanaryRequestError(field, "required")
    if len(text) > limit:
        raise CanaryRequestError(field, f"must be at most {limit} characters")
    if any(ord(c) < 32 for c in text):
        raise CanaryRequestError(field, "must be one line of printable text")
    return text


def check_revision(value: object) -> str:
    """ "" (every revision) or a safe revision name (it may reach a hook's argv)."""
    revision = check_text("revision", value, required=False)
    if revision and not re.fullmatch(REVISION_PATTERN, revision):
        raise CanaryRequestError(
            "revision", "must be 1-128 of [A-Za-z0-9_.:-], not starting with '-'"
        )
    return revision


def check_reason(value: object) -> str:
    return check_text("reason", value, limit=MAX_REASON_CHARS)


class Overrides:
    """The active overrides, changed only through audited calls."""

    def __init__(self, audit: AuditLog | None) -> None:
        self._audit = audit
        # Set on a replica (engine.role: replica): changes are refused with this message.
        self.read_only_reason: str | None = None
        self._lock = threading.Lock()
        self._pauses: dict[str, RollbackPause] = {}
        self._forced: dict[tuple[str, str], ForcedVerdict] = {}

    # --- queries -------------------------------------------------------------------------------
    def rollback_paused(self, service: str) -> RollbackPause | None:
        return self._pauses.get(service)

    def forced(self, service: str, revision: str) -> ForcedVerdict | None:
        """The forced verdict for this revision, else one for every revision, else None."""
        return self._forced.get((service, revision)) or self._forced.get((service, ""))

    def active(self, service: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """JSON-ready lists of the active pauses and forced verdicts (of one service)."""
        pauses = [asdict(p) for s, p in sorted(self._pauses.items()) if service in (None, s)]
        forced = [asdict(f) for k, f in sorted(self._forced.items()) if service in (None, k[0])]
        return {"rollback_pauses": pauses, "forced_verdicts": forced}

    # --- changes (each audited first) ----------------------------------------------------------
    def _record(self, actor: str, action: str, reason: str, details: Mapping[str, Any]) -> float:
        if self.read_only_reason is not None:
            raise CanaryRequestError("engine.role", self.read_only_reason)
        if self._audit is None:
            raise CanaryRequestError(
                "audit", "overrides need the audit log (set a data dir or audit.path)"
            )
        entry = self._audit.append(actor, action, reason, details)
        return float(entry["time"])

    def pause_rollback(self, service: object, *, actor: str, reason: object) -> RollbackPause:
        service = check_text("service", service)
        reason = check_reason(reason)
        with self._lock:
            at = self._record(actor, ACTION_PAUSE, reason, {"service": service})
            pause = RollbackPause(service, actor, reason, at)
            self._pauses[service] = pause
        return pause

    def resume_rollback(self, service: object, *, actor: str, reason: object) -> bool:
        """Lift a pause; False (and nothing audited) when the service was not paused."""
        service = check_text("service", service)
        reason = check_reason(reason)
        with self._lock:
            if service not in self._pauses:
                return False
            self._record(actor, ACTION_RESUME, reason, {"service": service})
            del self._pauses[service]
        return True

    def force_verdict(
        self, service: object, revision: object, verdict: object, *, actor: str, reason: object
    ) -> ForcedVerdict:
        service = check_text("service", service)
        revision = check_revision(revision)
        verdict = check_text("verdict", verdict).upper()
        if verdict not in VERDICTS:
            raise CanaryRequestError("verdict", f"must be one of {', '.join(VERDICTS)}")
        reason = check_reason(reason)
        details = {"service": service, "revision": revision, "verdict": verdict}
        with self._lock:
            at = self._record(actor, ACTION_FORCE, reason, details)
            forced = ForcedVerdict(service, revision, verdict, actor, reason, at)
            self._forced[(service, revision)] = forced
        return forced

    def clear_verdict(
        self, service: object, revision: object, *, actor: str, reason: object
    ) -> bool:
        """Drop a forced verdict; False (and nothing audited) when there was none."""
        service = check_text("service", service)
        revision = check_revision(revision)
        reason = check_reason(reason)
        with self._lock:
            if (service, revision) not in self._forced:
                return False
            self._record(actor, ACTION_CLEAR, reason, {"service": service, "revision": revision})
            del self._forced[(service, revision)]
        return True

    def record_trigger(
        self, service: object, revision: object, *, actor: str, reason: object
    ) -> None:
        """Audit a manual rollback before its hook runs (the hook audits its own outcome)."""
        service = check_text("service", service)
        revision = check_revision(revision)
        self._record(
            actor, ACTION_TRIGGER, check_reason(reason), {"service": service, "revision": revision}
        )

    # --- restore -------------------------------------------------------------------------------
    def restore(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Replay override entries of an audit log (oldest first) into the active set."""
        for entry in entries:
            action = entry.get("action")
            details = entry.get("details") or {}
            if action not in OVERRIDE_ACTIONS or not isinstance(details, Mapping):
                continue
            service = str(details.get("service", ""))
            revision = str(details.get("revision", ""))
            actor, reason = str(entry.get("actor", "")), str(entry.get("reason", ""))
            at = float(entry.get("time", 0.0))
            if action == ACTION_PAUSE:
                self._pauses[service] = RollbackPause(service, actor, reason, at)
            elif action == ACTION_RESUME:
                self._pauses.pop(service, None)
            elif action == ACTION_FORCE and details.get("verdict") in VERDICTS:
                verdict = str(details["verdict"])
                self._forced[(service, revision)] = ForcedVerdict(
                    service, revision, verdict, actor, reason, at
                )
            elif action == ACTION_CLEAR:
                self._forced.pop((service, revision), None)
