"""Canary verdicts replayed: the engine's own canary code at every step of a history.

The service's rows go into a `SeriesStore` step by step, as pushes would, and the
engine's `CanaryCore.evaluate` is asked for the verdict at each step's time (an explicit
evaluation time: a what-if, which records nothing and runs no hook). So a replayed verdict
is the one a controller asking `GetVerdict` with that `eval_time` would have got.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry

from sloengine import conventions
from sloengine.canary import CanaryConfig, CanaryCore, VerdictRequest
from sloengine.engine import StoreWindows
from sloengine.hooks import RollbackHooks
from sloengine.ingest import decode_batch
from sloengine.model import SLO
from sloengine.replay._history import History
from sloengine.replay._push import step_batches
from sloengine.replay.errors import ReplayError
from sloengine.store import SeriesStore

__all__ = ["CanaryReplay", "CanaryStep", "replay_canary"]


@dataclass(frozen=True)
class CanaryStep:
    time_s: float
    verdict: str  # PASS | FAIL | INCONCLUSIVE
    reason: str
    guards: dict[str, str]  # guard name -> its verdict


@dataclass(frozen=True)
class CanaryReplay:
    service: str
    canary: str
    baseline: str
    revision: str
    steps: tuple[CanaryStep, ...]

    @property
    def first_fail_s(self) -> float | None:
        return next((s.time_s for s in self.steps if s.verdict == "FAIL"), None)

    def counts(self) -> dict[str, int]:
        out = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0}
        for s in self.steps:
            out[s.verdict] = out.get(s.verdict, 0) + 1
        return out


@dataclass
class _ReplayState:
    """What the replayed CanaryCore reads: a store and a clock."""

    store: SeriesStore
    clock_s: float = 0.0

    def now(self) -> float:
        return self.clock_s


def replay_canary(
    history: History,
    times_s: Sequence[float] | npt.NDArray[np.float64],
    *,
    service: str,
    canary: str = conventions.VARIANT_CANARY,
    baseline: str = conventions.VARIANT_BASELINE,
    revision: str = "",
    config: CanaryConfig | None = None,
    slos: Sequence[SLO] = (),
) -> CanaryReplay:
    """The verdict of `service`'s canary at every time in `times_s`."""
    if not len(history.series_ids({"service": service})):
        raise ReplayError("--canary", f"no history rows for service {service!r}")
    state = _ReplayState(SeriesStore())
    core = CanaryCore(
        StoreWindows(state.store),
        state.now,
        config or CanaryConfig(),
        RollbackHooks({}, None),
        None,
        lambda name: [s for s in slos if s.service == name],
        registry=CollectorRegistry(),
    )
    steps = []
    for t, batch in step_batches(history, {"service": service}, times_s):
        state.clock_s = t
        if batch is not None:
            state.store.apply(decode_batch(batch, now_s=t, max_age_s=math.inf, max_future_s=0.0))
        verdict = core.evaluate(
            VerdictRequest(service, canary, baseline, at_unix_s=t, revision=revision),
            actor="replay",
        )
        steps.append(
            CanaryStep(
                t,
                verdict.verdict.value,
                verdict.reason,
                {g.guard: g.verdict.value for g in verdict.guards},
            )
        )
    return CanaryReplay(service, canary, baseline, revision, tuple(steps))
