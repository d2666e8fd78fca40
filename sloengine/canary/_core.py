"""The canary plugin's core, shared by the gRPC servicer and the HTTP routes.

A live evaluation (no explicit eval time) updates `state.verdicts`, writes verdict changes
to the audit log and, for a FAIL of a service with `rollback_on_fail`, starts its rollback
hook in the background. An evaluation at an explicit time is a replay or a what-if: it
changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from sloengine import conventions, inputs
from sloengine.audit import AuditLog
from sloengine.canary._config import CanaryConfig
from sloengine.canary._convert import verdict_to_pb
from sloengine.canary._observe import WindowSource, build_checks
from sloengine.canary._overrides import Overrides, apply_forced
from sloengine.canary.errors import CanaryRequestError
from sloengine.errors import RequestError
from sloengine.hooks import RollbackHooks, RollbackOutcome
from sloengine.judge import judge
from sloengine.model import SLO
from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = ["CanaryCore", "VerdictRequest"]

log = logging.getLogger(__name__)

MAX_WINDOW_SECONDS = 30 * 86400


class EngineStateLike(Protocol):
    """The parts of `sloengine.app.EngineState` the canary plugin reads."""

    verdicts: dict[tuple[str, str, str], Any]

    @property
    def store(self) -> Any: ...
    def now(self) -> float: ...


@dataclass(frozen=True)
class VerdictRequest:
    """What to judge; zero windows mean the configured defaults, `at` None means now."""

    service: str
    canary: str = ""
    baseline: str = ""
    at_unix_s: float | None = None
    short_window_seconds: float = 0
    long_window_seconds: float = 0
    revision: str = ""


class CanaryCore:
    """Judges canaries from the store and acts on verdicts."""

    def __init__(
        self,
        state: EngineStateLike,
        config: CanaryConfig,
        hooks: RollbackHooks,
        audit: AuditLog | None,
        slos: Callable[[str], Sequence[SLO]],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.state = state
        self.config = config
        self.hooks = hooks
        self.audit = audit
        self._slos = slos
        self.overrides = Overrides(audit)
        self._tasks: set[asyncio.Task[RollbackOutcome]] = set()
        self._verdicts = Counter(
            "sloengine_canary_verdicts",
            "Live canary verdicts computed, by verdict.",
            ["verdict"],
            registry=registry,
        )
        self._rollbacks = Counter(
            "sloengine_rollbacks",
            "Rollback hook triggers, by outcome status.",
            ["status"],
            registry=registry,
        )

    # --- evaluation ----------------------------------------------------------------------------
    def _validated(self, req: VerdictRequest) -> VerdictRequest:
        if not req.service:
            raise CanaryRequestError("service", "required")
        short = req.short_window_seconds or self.config.short_window_seconds
        long = req.long_window_seconds or self.config.long_window_seconds
        for field, value in (("short_window_seconds", short), ("long_window_seconds", long)):
            if not math.isfinite(value) or not 0 < value <= MAX_WINDOW_SECONDS:
                raise CanaryRequestError(
                    field, f"must be in (0, {MAX_WINDOW_SECONDS}], got {value:g}"
                )
        if short > long:
            raise CanaryRequestError("short_window_seconds", "must not exceed long_window_seconds")
        canary = req.canary or conventions.VARIANT_CANARY
        baseline = req.baseline or conventions.VARIANT_BASELINE
        if canary == baseline:
            raise CanaryRequestError(
                "baseline_variant", f"must differ from the canary ({canary!r})"
            )
        if req.at_unix_s is not None:
            try:  # finite, and a time a protobuf Timestamp can carry back in the answer
                inputs.unix_seconds(req.at_unix_s, "eval_time")
            except RequestError as exc:
                raise CanaryRequestError(exc.field, exc.reason) from None
        return VerdictRequest(
            req.service, canary, baseline, req.at_unix_s, short, long, req.revision
        )

    def evaluate(self, request: VerdictRequest, *, actor: str) -> pb.CanaryVerdict:
        """The verdict for one request; CanaryRequestError naming a bad field."""
        req = self._validated(request)
        live = req.at_unix_s is None
        at = self.state.now() if req.at_unix_s is None else req.at_unix_s
        service_cfg = self.config.for_service(req.service)
        source: WindowSource = self.state.store
        checks = build_checks(
            source, req.service, req.canary, req.baseline, service_cfg, self._slos(req.service),
            req.short_window_seconds, req.long_window_seconds, at,
        )  # fmt: skip
        judgement = judge(checks, self.config.alpha)
        msg = verdict_to_pb(
            judgement, service=req.service, canary=req.canary, baseline=req.baseline,
            at_unix_s=at, revision=req.revision,
        )  # fmt: skip
        msg = apply_forced(msg, self.overrides.forced(req.service, req.revision))
        if live:
            self._record(msg, actor, rollback=service_cfg.rollback_on_fail)
        return msg

    def _record(self, msg: pb.CanaryVerdict, actor: str, *, rollback: bool) -> None:
        key = (msg.service, msg.canary_variant, msg.baseline_variant)
        previous = self.state.verdicts.get(key)
        self.state.verdicts[key] = msg
        verdict = pb.Verdict.Name(msg.verdict)
        self._verdicts.labels(verdict).inc()
        changed = (
            previous is None or previous.verdict != msg.verdict or previous.revision != msg.revision
        )
        if changed and self.audit is not None:
            before = "none" if previous is None else pb.Verdict.Name(previous.verdict)
            self.audit.append(
                actor,
                "verdict_changed",
                msg.reason,
                {
                    "service": msg.service,
                    "canary": msg.canary_variant,
                    "baseline": msg.baseline_variant,
                    "revision": msg.revision,
                    "from": before,
                    "to": verdict,
                    "eval_time": msg.eval_time.ToNanoseconds() / 1e9,
                    "guards": {g.guard: pb.Verdict.Name(g.verdict) for g in msg.guards},
                },
            )
        if rollback and msg.verdict == pb.FAIL and not self.overrides.rollback_paused(msg.service):
            self.start_rollback(
                msg.service, msg.revision, msg.reason, source=actor, details={"trigger": "verdict"}
            )

    # --- rollbacks -----------------------------------------------------------------------------
    def start_rollback(
        self, service: str, revision: str, reason: str, *, source: str, details: dict[str, Any]
    ) -> asyncio.Task[RollbackOutcome]:
        """Run the service's rollback hook in the background (awaited by `aclose`)."""

        async def run() -> RollbackOutcome:
            outcome = await self.hooks.trigger(
                service, revision, reason, source=source, details=details
            )
            self._rollbacks.labels(outcome.status).inc()
            return outcome

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Wait for running rollback hooks (they are bounded by their own timeouts)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- watching ------------------------------------------------------------------------------
    async def watch(
        self, request: VerdictRequest, interval_seconds: float, *, actor: str
    ) -> AsyncIterator[pb.CanaryVerdict]:
        """The current verdict, then each change of verdict, polling every interval."""
        interval = interval_seconds if interval_seconds > 0 else self.config.watch_interval_seconds
        interval = max(interval, 0.05)
        last: int | None = None
        while True:
            msg = self.evaluate(request, actor=actor)
            if msg.verdict != last:
                last = msg.verdict
                yield msg
            await asyncio.sleep(interval)
