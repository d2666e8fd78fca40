"""The status service: an SLO's burn rates, budget and alerts at a time, push or pull.

Pushed SLIs (NativeSLI) are summed from the embedded store (`sloengine.engine.evaluate`); PromQL
SLIs are queried from the Prometheus-compatible API (`sloengine.engine.pull`) when the engine has
one. Every SLO's burn-rate policy is the one the spec loader carried on it (looked up by name
only for SLOs built in code), taken once, here, when the engine is built.
"""

from __future__ import annotations

from collections.abc import Mapping

from sloengine.engine._clock import Clock
from sloengine.engine._store import StoreHandle
from sloengine.engine.evaluate import SLOStatusResult, evaluate_slo, new_slice_ledger
from sloengine.engine.pull import PromPuller
from sloengine.errors import SloEngineError, SpecError, UnknownSLOError, UnsupportedSLOError
from sloengine.maths.timeslices import SliceLedger
from sloengine.model import SLO, BurnRatePolicy, Catalog, NativeSLI, resolved_policy
from sloengine.specs.policy import DEFAULT_POLICY

__all__ = ["StatusService"]

_DAY_S = 86400.0


class StatusService:
    """Evaluates the catalog's SLOs; typed Python, no transport (gRPC, HTTP and the UI
    convert its results at their edge)."""

    def __init__(
        self,
        catalog: Catalog,
        policies: Mapping[str, BurnRatePolicy],
        *,
        store: StoreHandle,
        clock: Clock,
        default_policy: str | None = None,
        puller: PromPuller | None = None,
    ) -> None:
        self.catalog = catalog
        self.policies = dict(policies)
        self.default_policy = default_policy or DEFAULT_POLICY
        self.clock = clock
        self.puller = puller
        self._store = store
        # Resolved once (SpecError naming the SLO's file for an unknown policy), read often.
        self._policy_of = {slo.id: self._resolve(slo) for slo in catalog.slos}
        # SLO id -> why it cannot be evaluated from the data received (e.g. a latency
        # threshold off the senders' bucket bounds; written by the pipelines' receivers).
        self.sli_problems: dict[str, str] = {}
        # Per Timeslices SLO id: its slices, kept across evaluations (saved beside snapshots).
        self.slice_ledgers: dict[str, SliceLedger] = {}

    def _resolve(self, slo: SLO) -> BurnRatePolicy:
        policy = resolved_policy(slo, self.policies, self.default_policy)
        if policy is None:
            name = slo.policy or self.default_policy
            raise SpecError(slo.source.file, "policy", f"unknown policy {name!r}")
        return policy

    def policy_for(self, slo: SLO) -> BurnRatePolicy:
        """The SLO's own policy if it names one, else the engine's default policy."""
        policy = self._policy_of.get(slo.id)
        return policy if policy is not None else self._resolve(slo)

    def now(self) -> float:
        return self.clock.now()

    def longest_window_seconds(self) -> float:
        """The longest period or window any SLO needs (30 days for an empty catalog)."""
        return float(
            max(
                (
                    max(s.period_seconds, self.policy_for(s).period_seconds)
                    for s in self.catalog.slos
                ),
                default=30 * _DAY_S,
            )
        )

    def find_slos(self, service: str, name: str | None = None) -> list[SLO]:
        """The service's SLOs (or the one named); UnknownSLOError naming what is missing."""
        slos = [s for s in self.catalog.slos if s.service == service]
        if not slos:
            raise UnknownSLOError(f"unknown service {service!r}: no SLO in the catalog")
        if name is not None:
            slos = [s for s in slos if s.name == name]
            if not slos:
                raise UnknownSLOError(f"unknown SLO {name!r} for service {service!r}")
        return slos

    def slice_ledger(self, slo: SLO) -> SliceLedger | None:
        """The slices of a Timeslices SLO, kept across evaluations (None: not one)."""
        if slo.budgeting_method == "Occurrences":
            return None
        ledger = self.slice_ledgers.get(slo.id)
        if ledger is None:
            ledger = self.slice_ledgers[slo.id] = new_slice_ledger(slo)
        return ledger

    async def evaluate(self, slo: SLO, at_unix_s: float | None = None) -> SLOStatusResult:
        """Burn rates and budget of one SLO at a time (default now), push or pull."""
        at = self.clock.now() if at_unix_s is None else at_unix_s
        policy = self.policy_for(slo)
        if (problem := self.sli_problems.get(slo.id)) is not None:
            raise SloEngineError(problem)
        if isinstance(slo.sli, NativeSLI):
            return evaluate_slo(slo, policy, self._store.store, at, self.slice_ledger(slo))
        if slo.budgeting_method != "Occurrences":
            raise UnsupportedSLOError(
                f"SLO {slo.id}: {slo.budgeting_method} over a PromQL SLI is computed by the "
                "generated Prometheus rules, not by the engine"
            )
        if self.puller is None:
            raise SloEngineError(
                f"SLO {slo.id} has a PromQL SLI; start the engine with --prometheus-url"
            )
        return await self.puller.evaluate(slo, policy, at)
