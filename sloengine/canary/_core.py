"""The canary service's core, served by the gRPC and HTTP transports (and read by the UI).

`evaluate` returns a `CanaryVerdict` (the domain record, `_verdict.py`). A live evaluation (no explicit eval time) updates `latest`, writes verdict changes
to the audit log and, for a FAIL of a service with `rollback_on_fail`, starts its rollback
hook in the background. An evaluation at an explicit time is a replay or a what-if: it
changes nothing.

Requests are checked before anything is read or recorded: an unknown service (no data, SLO
or canary config) or variant (not a conventional or configured name, and no data) is
CanaryNotFoundError, so a typo or a flood of invented names leaves no audit entry and no
verdict in memory; a revision must match `REVISION_PATTERN` (it reaches rollback hooks as
an argv element). When the canary's data carries revision labels, a FAIL needs data of the
judged revision, so a rollback hook only sees revisions that sent data (its per-revision
dedupe cannot be bypassed by inventing revisions); unlabelled data leaves the revision a
tag, and the hooks' per-service cooldown bounds how often other revisions roll back.

A tag revision that differs from the one asked about before for the service starts a fresh
analysis: the canary's data is read from when that tag was first seen (Flagger's checksum
of a new revision after a rolled-back one must not be judged on the old one's errors). The
first tag seen for a service keeps the whole windows. Only the newest tag's verdicts are
recorded (older tags asked in turn are answered only: no flip-flop). The map is in memory only (bounded:
`MAX_TAGS_PER_SERVICE` per known service, `MAX_LIVE_VERDICTS` services): a restart resets
it, and the next tag is then judged on the whole windows again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from sloengine import conventions
from sloengine.audit import AuditLog
from sloengine.canary._config import CanaryConfig
from sloengine.canary._observe import Subject, build_checks
from sloengine.canary._overrides import Overrides, apply_forced
from sloengine.canary._verdict import CanaryVerdict, VerdictKey, from_judgement
from sloengine.canary.errors import CanaryNotFoundError, CanaryRequestError
from sloengine.engine import WindowSource
from sloengine.errors import RequestError
from sloengine.hooks import RollbackHooks, RollbackOutcome
from sloengine.maths.judge import Verdict, judge
from sloengine.model import SLO
from sloengine.settings import inputs

__all__ = ["REVISION_PATTERN", "CanaryCore", "VerdictRequest", "validate_revision"]

log = logging.getLogger(__name__)

MAX_WINDOW_SECONDS = 30 * 86400
MAX_LIVE_VERDICTS = 4096  # latest live verdicts kept (UI, WatchVerdicts); oldest evicted
MAX_TAGS_PER_SERVICE = 8  # tag revisions remembered per service (first seen), LRU
REVISION_PATTERN = re.compile(conventions.REVISION_PATTERN)  # see conventions
BASELINE_CANDIDATES = (
    conventions.VARIANT_BASELINE,
    conventions.VARIANT_STABLE,
    conventions.VARIANT_PRIMARY,
)


def validate_revision(revision: str, field: str = "revision") -> str:
    """`revision` if empty or safe (REVISION_PATTERN); CanaryRequestError otherwise."""
    if revision and not REVISION_PATTERN.fullmatch(revision):
        raise CanaryRequestError(
            field,
            "must be 1-128 characters of [A-Za-z0-9_.:-], not starting with '-',"
            f" got {revision[:40]!r}",
        )
    return revision


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
    """Judges canaries from a window source and acts on verdicts.

    `windows` is the embedded store or, in pull mode, the query API (chosen by the wiring);
    `now` the engine's clock; `latest` keeps the latest live verdict per key (the wiring
    shares it with the UI), oldest evicted past MAX_LIVE_VERDICTS.
    """

    def __init__(
        self,
        windows: WindowSource,
        now: Callable[[], float],
        config: CanaryConfig,
        hooks: RollbackHooks,
        audit: AuditLog | None,
        slos: Callable[[str], Sequence[SLO]],
        registry: CollectorRegistry | None = None,
        latest: dict[VerdictKey, CanaryVerdict] | None = None,
    ) -> None:
        self.windows = windows
        self.now = now
        self.latest: dict[VerdictKey, CanaryVerdict] = {} if latest is None else latest
        self.config = config
        self.hooks = hooks
        self.audit = audit
        self._slos = slos
        self.overrides = Overrides(audit)
        # False on a replica (engine.role: replica): verdicts are answered the same, but the
        # leader alone writes the audit log and runs rollback hooks (single writer).
        self.acts = True
        self._tasks: set[asyncio.Task[RollbackOutcome]] = set()
        # service -> tag revision -> when its analysis starts (None: whole windows), LRU.
        self._tags: OrderedDict[str, OrderedDict[str, float | None]] = OrderedDict()
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
        long = req.long_window_seconds or self.config.long_window_seconds
        # An analysis shorter than the default short window (a 2-minute step) gets a short
        # window as long as itself; only a short window the caller gave can be too long.
        short = req.short_window_seconds or min(self.config.short_window_seconds, long)
        for field, value in (("short_window_seconds", short), ("long_window_seconds", long)):
            if not math.isfinite(value) or not 0 < value <= MAX_WINDOW_SECONDS:
                raise CanaryRequestError(
                    field, f"must be in (0, {MAX_WINDOW_SECONDS}], got {value:g}"
                )
        if short > long:
            raise CanaryRequestError("short_window_seconds", "must not exceed long_window_seconds")
        if req.at_unix_s is not None:
            try:  # finite, and a time a protobuf Timestamp can carry back in the answer
                inputs.unix_seconds(req.at_unix_s, "eval_time")
            except RequestError as exc:
                raise CanaryRequestError(exc.field, exc.reason) from None
        revision = validate_revision(req.revision)
        cfg = self.config.for_service(req.service)
        canary = req.canary or cfg.canary_variant
        baseline = req.baseline or cfg.baseline_variant or self._default_baseline(req.service)
        if canary == baseline:
            raise CanaryRequestError(
                "baseline_variant", f"must differ from the canary ({canary!r})"
            )
        self._check_service(req.service)
        for field, variant in (("canary_variant", canary), ("baseline_variant", baseline)):
            self._check_variant(req.service, field, variant, cfg)
        return VerdictRequest(req.service, canary, baseline, req.at_unix_s, short, long, revision)

    async def prepare(self, request: VerdictRequest) -> None:
        """Pull mode: fetch what `evaluate` will read (nothing to do with the embedded store).

        Call it (awaited) right before `evaluate`: the windows end at the request's time or
        now, on the verdict grid, so the fetch covers the long window plus two grid steps.
        """
        if not request.service:
            return
        longest = request.long_window_seconds or self.config.long_window_seconds
        at = self.now() if request.at_unix_s is None else request.at_unix_s
        if 0 < longest <= MAX_WINDOW_SECONDS and math.isfinite(at):  # else evaluate refuses
            await self.windows.prefetch(
                {conventions.LABEL_SERVICE: request.service}, longest + 120.0, at + 10.0
            )

    def _has_data(self, labels: dict[str, str]) -> bool:
        return self.windows.has_series(labels)

    def _revision_scope(self, req: VerdictRequest) -> tuple[str, bool]:
        """The revision to select the canary's series by ("" to select them all), and
        whether the requested revision sent data of its own.

        Canary data labelled with revisions is always selected by the requested one (a
        revision without data yet is "no canary data", never the previous revision's). A
        producer that sends no revision label (an older sidecar, a controller whose revision
        id is not the pod's) is judged on all its canary data, the revision being a tag.
        """
        if not req.revision:
            return "", True
        service, variant = conventions.LABEL_SERVICE, conventions.LABEL_VARIANT
        canary = {service: req.service, variant: req.canary}
        if self._has_data({**canary, conventions.LABEL_REVISION: req.revision}):
            return req.revision, True
        unlabelled = self._has_data({**canary, conventions.LABEL_REVISION: ""})
        return ("" if unlabelled else req.revision), False

    def _tag_start(self, service: str, revision: str, at: float, live: bool) -> float | None:
        """When the analysis of a tag revision starts (None: the whole windows).

        A live request registers the tag: the first one seen for the service keeps the whole
        windows (one-shot probes, a controller's first revision) while it stays the last one
        asked about; any other starts when it was first seen (kept if asked about again, so
        two callers asking about different tags do not restart each other's analysis). A
        replay only reads what was registered, and changes nothing.
        """
        tags = self._tags.get(service)
        if not live:
            start = None if tags is None else tags.get(revision)
            return start if start is not None and start <= at else None
        if tags is None:
            tags = self._tags[service] = OrderedDict()
            while len(self._tags) > MAX_LIVE_VERDICTS:
                self._tags.popitem(last=False)
        self._tags.move_to_end(service)
        if revision in tags:
            if tags[revision] is None and next(reversed(tags)) != revision:
                tags[revision] = at  # the first tag, back after another: fresh from now
            tags.move_to_end(revision)
            return tags[revision]
        start = at if tags else None
        tags[revision] = start
        while len(tags) > MAX_TAGS_PER_SERVICE:
            tags.popitem(last=False)
        return start

    def _is_newest_tag(self, service: str, revision: str) -> bool:
        tags = self._tags.get(service)
        if not tags or revision not in tags:
            return True
        start = tags[revision]
        return all(
            other is None or (start is not None and other <= start) for other in tags.values()
        )

    def _check_service(self, service: str) -> None:
        known = (
            service in self.config.services
            or bool(self._slos(service))
            or self._has_data({conventions.LABEL_SERVICE: service})
        )
        if not known:
            raise CanaryNotFoundError(
                "service", f"unknown service {service[:80]!r}: no data, SLO or canary config"
            )

    def _default_baseline(self, service: str) -> str:
        for variant in BASELINE_CANDIDATES:
            labels = {conventions.LABEL_SERVICE: service, conventions.LABEL_VARIANT: variant}
            if self._has_data(labels):
                return variant
        return conventions.VARIANT_STABLE

    def _check_variant(self, service: str, field: str, variant: str, cfg: Any) -> None:
        if variant in conventions.VARIANTS or variant in (cfg.canary_variant, cfg.baseline_variant):
            return
        labels = {conventions.LABEL_SERVICE: service, conventions.LABEL_VARIANT: variant}
        if not self._has_data(labels):
            raise CanaryNotFoundError(
                field, f"unknown variant {variant[:80]!r} of service {service[:80]!r}"
            )

    def evaluate(self, request: VerdictRequest, *, actor: str) -> CanaryVerdict:
        """The verdict for one request; CanaryRequestError naming a bad field."""
        req = self._validated(request)
        live = req.at_unix_s is None
        at = self.now() if req.at_unix_s is None else req.at_unix_s
        service_cfg = self.config.for_service(req.service)
        source = self.windows
        scope, seen = self._revision_scope(req)
        since = self._tag_start(req.service, req.revision, at, live) if not seen else None
        subject = Subject(req.canary, req.baseline, scope, since if not scope else None)
        checks = build_checks(
            source, req.service, subject, service_cfg, self._slos(req.service),
            req.short_window_seconds, req.long_window_seconds, at, live=live,
        )  # fmt: skip
        judgement = judge(checks, self.config.alpha)
        verdict = from_judgement(
            judgement, service=req.service, canary=req.canary, baseline=req.baseline,
            at_unix_s=at, revision=req.revision,
        )  # fmt: skip
        verdict = apply_forced(verdict, self.overrides.forced(req.service, req.revision))
        # Invented revision strings must not write the audit log: a labelled revision that
        # sent no data yet is answered, not recorded; a revision that only tags unlabelled
        # data is recorded, but changing the tag alone is no change, and only the newest
        # tag (latest first seen) is recorded, so asking about tags in turn cannot make
        # the recorded verdict flip-flop between their analyses.
        if live and (seen or (not scope and self._is_newest_tag(req.service, req.revision))):
            self._record(verdict, actor, rollback=service_cfg.rollback_on_fail, tag=not seen)
        return verdict

    def _record(
        self, current: CanaryVerdict, actor: str, *, rollback: bool, tag: bool = False
    ) -> None:
        previous = self.latest.pop(current.key, None)
        self.latest[current.key] = current
        while len(self.latest) > MAX_LIVE_VERDICTS:
            del self.latest[next(iter(self.latest))]
        verdict = current.verdict.value
        self._verdicts.labels(verdict).inc()
        new_revision = previous is not None and previous.revision != current.revision and not tag
        changed = previous is None or previous.verdict != current.verdict or new_revision
        if changed and self.audit is not None:
            before = "none" if previous is None else previous.verdict.value
            self.audit.append(
                actor,
                "verdict_changed",
                current.reason,
                {
                    "service": current.service,
                    "canary": current.canary_variant,
                    "baseline": current.baseline_variant,
                    "revision": current.revision,
                    "from": before,
                    "to": verdict,
                    "eval_time": current.eval_time_unix_s,
                    "guards": {g.guard: g.verdict.value for g in current.guards},
                },
            )
        if changed and not self.acts:
            log.info(
                "replica: verdict %s for %s (canary %s, revision %s) answered, not acted on:"
                " the leader writes the audit log and runs rollback hooks",
                verdict, current.service, current.canary_variant, current.revision or "-",
            )  # fmt: skip
        paused = self.overrides.rollback_paused(current.service)
        if rollback and current.verdict == Verdict.FAIL and not paused:
            self.start_rollback(
                current.service,
                current.revision,
                current.reason,
                source=actor,
                details={"trigger": "verdict"},
            )

    # --- rollbacks -----------------------------------------------------------------------------
    def start_rollback(
        self, service: str, revision: str, reason: str, *, source: str, details: dict[str, Any]
    ) -> asyncio.Task[RollbackOutcome]:
        """Run the service's rollback hook in the background (awaited by `aclose`).

        CanaryRequestError for an unsafe revision: it never reaches a hook.
        """
        validate_revision(revision)
        if not self.acts:
            return self._not_acted(service, revision)

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

    def _not_acted(self, service: str, revision: str) -> asyncio.Task[RollbackOutcome]:
        log.info("replica: rollback of %s %s not run (the leader runs hooks)", service, revision)

        async def skipped() -> RollbackOutcome:
            return RollbackOutcome(service, revision, "not_leader")

        return asyncio.get_running_loop().create_task(skipped())

    async def aclose(self) -> None:
        """Wait for running rollback hooks (they are bounded by their own timeouts)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- watching ------------------------------------------------------------------------------
    async def watch(
        self, request: VerdictRequest, interval_seconds: float, *, actor: str
    ) -> AsyncIterator[CanaryVerdict]:
        """The current verdict, then each change of verdict, polling every interval."""
        interval = interval_seconds if interval_seconds > 0 else self.config.watch_interval_seconds
        interval = max(interval, 0.05)
        last: Verdict | None = None
        while True:
            await self.prepare(request)
            current = self.evaluate(request, actor=actor)
            if current.verdict != last:
                last = current.verdict
                yield current
            await asyncio.sleep(interval)
