"""Latency thresholds must sit on the senders' bucket bounds, or the SLO is refused.

A latency SLI counts the requests at or below a threshold. The store maps a sender's
buckets onto its own bounds conservatively (a bucket counts at the first store bound at or
above it), so a threshold that falls between two of the sender's bounds would read every
request of that bucket as slow: a made-up answer. Instead the receiver checks, for every
histogram it turns into rows, the latency SLOs that select its service, and records a
one-line problem per SLO whose threshold is not one of the sender's bounds; the engine then
refuses to evaluate that SLO (FAILED_PRECONDITION, naming the threshold and the bounds).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.pipelines._convert import EngineRow

__all__ = ["ThresholdCheck"]

log = logging.getLogger(__name__)


class ThresholdCheck:
    """Remembers which (service, bounds) were checked; `problems` maps SLO id -> reason."""

    def __init__(self, catalog: Catalog, problems: dict[str, str]) -> None:
        self._latency_slos: dict[str, list[SLO]] = {}
        for slo in catalog.slos:
            sli = slo.sli
            if isinstance(sli, NativeSLI) and sli.latency_threshold_seconds is not None:
                self._latency_slos.setdefault(slo.service, []).append(slo)
        self.problems = problems
        self._checked: set[tuple[str, tuple[float, ...]]] = set()

    def check(self, rows: Iterable[EngineRow]) -> None:
        for row in rows:
            if not row.latency_bounds_seconds:
                continue
            service = dict(row.key).get("service", "")
            slos = self._latency_slos.get(service)
            if not slos or (service, row.latency_bounds_seconds) in self._checked:
                continue
            self._checked.add((service, row.latency_bounds_seconds))
            for slo in slos:
                self._check_one(slo, row.latency_bounds_seconds)

    def _check_one(self, slo: SLO, bounds: tuple[float, ...]) -> None:
        assert isinstance(slo.sli, NativeSLI)
        threshold = slo.sli.latency_threshold_seconds
        assert threshold is not None
        if any(math.isclose(threshold, b, rel_tol=1e-9) for b in bounds):
            return
        shown = ", ".join(f"{b:g}" for b in bounds)
        reason = (
            f"SLO {slo.id}: latency threshold {threshold:g} s is not a bucket bound of the "
            f"histograms service {slo.service!r} sends (bounds: {shown} s); put the "
            f"threshold on one of them, or add it to the service's buckets"
        )
        if self.problems.get(slo.id) != reason:
            log.error("%s", reason)
        self.problems[slo.id] = reason
