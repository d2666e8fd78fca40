"""What the UI's JSON endpoints answer, read from the running engine's services.

Every number comes from the engine's own evaluation: SLO statuses from
`StatusService.evaluate` (which is `sloengine.engine.evaluate.evaluate_slo` for pushed SLIs, the
pull mode otherwise), verdicts from the canary's `CanaryCore` (`sloengine.maths.judge`),
the audit chain from `sloengine.audit.verify`. Nothing here writes: the current canary
verdict is evaluated at an explicit time, which the canary plugin treats as a what-if
(no audit entry, no rollback).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sloengine import conventions
from sloengine.canary import CanaryVerdict
from sloengine.engine import StatusService, StoreHandle
from sloengine.engine.evaluate import evaluate_slo
from sloengine.errors import SloEngineError, UIRequestError
from sloengine.model import SLO, NativeSLI
from sloengine.settings.credentials import Credentials
from sloengine.ui._audit import AuditReader
from sloengine.ui._canary_views import (
    CanaryKey,
    canary_series_json,
    rollbacks_json,
    timeline_json,
    verdict_json,
)
from sloengine.ui._slo_views import (
    RANGES_SECONDS,
    StatusLike,
    history_json,
    policy_windows,
    slo_info_json,
    slo_row_json,
    status_json,
    time_grid,
)

if TYPE_CHECKING:
    from sloengine.canary import CanaryCore
    from sloengine.store import Level, SeriesStore, WindowSum

__all__ = ["HISTORY_POINTS", "UIBackend", "UIRequestError"]


HISTORY_POINTS = 60
LIST_YIELD_EVERY = 100
LIST_MIN_REFRESH_SECONDS = 1.0
LIST_REFRESH_FACTOR = 4.0
DEFAULT_QUANTILE = 0.95
DEFAULT_CANARY_WINDOW_SECONDS = 300.0
AUDIT_PAGE_MAX = 1000


@dataclass(frozen=True)
class _ListCache:
    key: tuple[int, int]
    fresh_until: float  # time.monotonic()
    body: dict[str, Any]


class _SharedWindowSums:
    """`SeriesStore.window_sum` read through a cache for one pass over the catalog: SLOs that
    select the same series (a service's availability and latency SLOs) read each window once.
    """

    def __init__(self, store: SeriesStore) -> None:
        self._store = store
        self._sums: dict[tuple[Any, ...], WindowSum] = {}

    @property
    def levels(self) -> tuple[Level, ...]:
        """The store's resolutions (Timeslices SLOs read how long slices stay exact)."""
        return self._store.levels

    def window_sum(
        self,
        selector: Mapping[str, str] | tuple[tuple[str, str], ...],
        window_seconds: float,
        at_unix_s: float,
    ) -> WindowSum:
        items = tuple(sorted(selector.items() if isinstance(selector, Mapping) else selector))
        key = (items, window_seconds, at_unix_s)
        found = self._sums.get(key)
        if found is None:
            found = self._sums[key] = self._store.window_sum(selector, window_seconds, at_unix_s)
        return found


def parse_range(label: str) -> float:
    """The range picker's label ("1h" ... "30d") in seconds."""
    try:
        return RANGES_SECONDS[label]
    except KeyError:
        known = ", ".join(RANGES_SECONDS)
        raise UIRequestError("range", f"must be one of {known}, got {label!r}") from None


class UIBackend:
    """Builds the JSON of every UI endpoint from the engine's services (read only)."""

    def __init__(
        self,
        status: StatusService,
        store: StoreHandle,
        credentials: Credentials,
        canary: CanaryCore | None,
        audit: AuditReader,
    ) -> None:
        self.status = status
        self.stored = store
        self.credentials = credentials
        # The latest live verdicts the canary served (written by the canary, read here).
        self.verdicts: Mapping[CanaryKey, CanaryVerdict] = canary.latest if canary else {}
        self.canary = canary
        self.audit = audit
        self._list_cache: _ListCache | None = None
        self._discovered: tuple[int, list[CanaryKey]] | None = None

    # --- SLOs ------------------------------------------------------------------------------------
    async def _status(self, slo: SLO, at: float) -> tuple[StatusLike | None, str]:
        try:
            return await self.status.evaluate(slo, at), ""
        except SloEngineError as exc:
            return None, str(exc)

    async def _list_status(
        self, slo: SLO, at: float, shared: _SharedWindowSums
    ) -> tuple[StatusLike | None, str]:
        if not isinstance(slo.sli, NativeSLI):
            return await self._status(slo, at)
        try:
            # evaluate_slo only calls window_sum, which the shared cache provides.
            store = cast("SeriesStore", shared)
            ledger = self.status.slice_ledger(slo)
            return evaluate_slo(slo, self.status.policy_for(slo), store, at, ledger), ""
        except SloEngineError as exc:
            return None, str(exc)

    async def slo_list(self) -> dict[str, Any]:
        """Every SLO of the catalog with its current SLI, budget, burn rates and alert state.

        However many browsers poll, the list is evaluated at most once per store change and
        clock second, and no more often than LIST_REFRESH_FACTOR times its own cost: a big
        catalog refreshes a little less often rather than starving ingest of the loop.
        """
        status_service, store = self.status, self.stored.store
        now = status_service.now()
        key = (store.version, round(now))
        cached = self._list_cache
        if cached is not None and (cached.key == key or time.monotonic() < cached.fresh_until):
            return cached.body
        started = time.monotonic()
        slos = status_service.catalog.slos
        policies = {id(p): p for p in (status_service.policy_for(s) for s in slos)}
        columns = policy_windows(policies.values())
        shared = _SharedWindowSums(store)
        rows = []
        for i, slo in enumerate(slos):
            if i and i % LIST_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let ingest and other requests run
            status, error = await self._list_status(slo, now, shared)
            rows.append(slo_row_json(slo, status_service.policy_for(slo), status, columns, error))
        body = {"eval_time": now, "windows": columns, "slos": rows}
        elapsed = time.monotonic() - started
        fresh_until = time.monotonic() + max(
            LIST_MIN_REFRESH_SECONDS, LIST_REFRESH_FACTOR * elapsed
        )
        self._list_cache = _ListCache(key, fresh_until, body)
        return body

    def _find(self, service: str, name: str) -> SLO:
        if not service:
            raise UIRequestError("service", "required")
        slo = self.status.catalog.find(service, name)
        if slo is None:
            raise UIRequestError("name", f"no SLO {name!r} for service {service!r}", not_found=True)
        return slo

    async def slo_detail(self, service: str, name: str, range_label: str) -> dict[str, Any]:
        """One SLO now, its history over the range, and the policy's alert thresholds."""
        slo = self._find(service, name)
        range_s = parse_range(range_label)
        policy = self.status.policy_for(slo)
        now = self.status.now()
        status, error = await self._status(slo, now)
        times = time_grid(now, range_s, HISTORY_POINTS)
        history = [(await self._status(slo, t))[0] for t in times] if status is not None else []
        return {
            "slo": slo_info_json(slo, policy),
            "eval_time": now,
            "range": range_label,
            "error": error,
            "status": status_json(status) if status is not None else None,
            "thresholds": [
                {
                    "severity": w.severity,
                    "short_window_s": w.short_window_seconds,
                    "long_window_s": w.long_window_seconds,
                    "factor": w.factor,
                }
                for w in policy.windows
            ],
            "history": history_json(times, history, policy) if status is not None else None,
        }

    # --- canaries --------------------------------------------------------------------------------
    def _discover(self) -> list[CanaryKey]:
        """(service, canary, baseline) for every service that pushed both variants."""
        store = self.stored.store
        if self._discovered is not None and self._discovered[0] == store.version:
            return self._discovered[1]
        variants: dict[str, set[str]] = {}
        for labels in store.series_labels():
            service = labels.get(conventions.LABEL_SERVICE, "")
            variants.setdefault(service, set()).add(labels.get(conventions.LABEL_VARIANT, ""))
        keys = [
            (service, conventions.VARIANT_CANARY, conventions.VARIANT_BASELINE)
            for service, seen in sorted(variants.items())
            if {conventions.VARIANT_CANARY, conventions.VARIANT_BASELINE} <= seen
        ]
        self._discovered = (store.version, keys)
        return keys

    def _keys(self) -> list[CanaryKey]:
        served: list[CanaryKey] = list(self.verdicts)
        return sorted({*served, *self._discover()})

    def _current(
        self, key: CanaryKey, at: float, revision: str
    ) -> tuple[dict[str, Any] | None, str]:
        if self.canary is None:
            return None, "the canary plugin is not loaded"
        from sloengine.canary import CanaryRequestError, VerdictRequest

        request = VerdictRequest(*key, at_unix_s=at, revision=revision)
        try:
            return verdict_json(self.canary.evaluate(request, actor="ui")), ""
        except (CanaryRequestError, SloEngineError) as exc:
            return None, str(exc)

    def _canary_json(self, key: CanaryKey, now: float) -> dict[str, Any]:
        served_verdict = self.verdicts.get(key)
        served = verdict_json(served_verdict) if isinstance(served_verdict, CanaryVerdict) else None
        current, error = self._current(key, now, served["revision"] if served else "")
        service, canary, baseline = key
        return {
            "service": service,
            "canary": canary,
            "baseline": baseline,
            "current": current,
            "served": served,
            "error": error,
        }

    def canary_list(self) -> dict[str, Any]:
        """Every analysed canary (served to a controller, or with both variants pushed)."""
        now = self.status.now()
        return {
            "eval_time": now,
            "plugin": self.canary is not None,
            "canaries": [self._canary_json(k, now) for k in self._keys()],
        }

    def _settings(self, service: str) -> tuple[Mapping[str, str], float, float, dict[str, Any]]:
        if self.canary is None:
            return {}, DEFAULT_QUANTILE, DEFAULT_CANARY_WINDOW_SECONDS, {}
        cfg = self.canary.config.for_service(service)
        thresholds = {"max_error_ratio": cfg.max_error_ratio, "max_latency_s": cfg.max_p95_seconds}
        window = self.canary.config.short_window_seconds
        return dict(cfg.selector), cfg.latency_quantile, window, thresholds

    def canary_detail(
        self, service: str, canary: str, baseline: str, range_label: str
    ) -> dict[str, Any]:
        """One canary: verdicts, canary-vs-baseline series, verdict timeline, rollbacks."""
        if not service:
            raise UIRequestError("service", "required")
        key = (
            service,
            canary or conventions.VARIANT_CANARY,
            baseline or conventions.VARIANT_BASELINE,
        )
        range_s = parse_range(range_label)
        now = self.status.now()
        selector, quantile, short_s, thresholds = self._settings(service)
        times = time_grid(now, range_s, HISTORY_POINTS)
        # Each point sums the window that ends there: the judge's short window, or one
        # step when the range is long enough that short windows would leave gaps.
        window = max(short_s, range_s / (HISTORY_POINTS - 1))
        store = self.stored.store
        base = {**selector, conventions.LABEL_SERVICE: service}

        def sums(variant: str) -> list[Any]:
            sel = {**base, conventions.LABEL_VARIANT: variant}
            return [store.window_sum(sel, window, t) for t in times]

        entries = self.audit.snapshot().entries
        return {
            **self._canary_json(key, now),
            "range": range_label,
            "quantile": quantile,
            "point_window_s": window,
            "thresholds": thresholds,
            "series": canary_series_json(times, sums(key[1]), sums(key[2]), quantile),
            "timeline": timeline_json(entries, key),
            "rollbacks": rollbacks_json(entries, service),
            # Manual overrides in force (pause of automatic rollback, forced verdicts).
            "overrides": self.canary.overrides.active(service) if self.canary else {},
        }

    # --- audit -----------------------------------------------------------------------------------
    def audit_log(self, limit: int) -> dict[str, Any]:
        """The newest `limit` entries (newest first) and the whole chain's verification."""
        if not 0 < limit <= AUDIT_PAGE_MAX:
            raise UIRequestError("limit", f"must be in [1, {AUDIT_PAGE_MAX}], got {limit}")
        snap = self.audit.snapshot()
        return {
            "path": snap.path,
            "total": len(snap.entries),
            "verification": snap.verification,
            "entries": list(reversed(snap.entries[-limit:])),
        }
