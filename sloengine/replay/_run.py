"""A whole replay: which SLOs under which policies and objectives, which canaries, when.

    result = run_replay(catalog, history, ReplayOptions(first_s, last_s, policies=("fast-slow",)))

Every SLO is replayed once per (policy, objective) variant: `policies` None means the SLO's
own policy (as `sloengine generate` and the engine pick it), `objectives` None its own
objective. SLOs whose SLI is PromQL cannot be computed from RED history; they are listed
as skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sloengine import conventions
from sloengine.canary import CanaryConfig
from sloengine.errors import SpecError
from sloengine.generate import catalog_policies, policy_for
from sloengine.maths.bad_events import push_refusal
from sloengine.maths.timeslices import timeslice_refusal
from sloengine.model import SLO, BurnRatePolicy, Catalog, NativeSLI
from sloengine.replay._canary import CanaryReplay, replay_canary
from sloengine.replay._history import MAX_UNIX_S, History
from sloengine.replay._slo import SLOReplay, replay_slo
from sloengine.replay.errors import ReplayError
from sloengine.specs.policy import DEFAULT_POLICY, load_policy_file

__all__ = [
    "CanaryTarget",
    "ReplayOptions",
    "ReplayResult",
    "evaluation_times",
    "parse_time",
    "run_replay",
]

MAX_STEPS = 2_000_000  # ~3.8 years of minutes: a typo in --step must not eat the machine


@dataclass(frozen=True)
class CanaryTarget:
    service: str
    canary: str = conventions.VARIANT_CANARY
    baseline: str = conventions.VARIANT_BASELINE
    revision: str = ""


@dataclass(frozen=True)
class ReplayOptions:
    first_s: float
    last_s: float
    step_seconds: float = 60.0
    policies: tuple[str | None, ...] = (None,)  # names or policy files; None: the SLO's own
    objectives: tuple[float | None, ...] = (None,)  # ratios, e.g. 0.995; None: the SLO's own
    default_policy: str = DEFAULT_POLICY
    canaries: tuple[CanaryTarget, ...] = ()
    canary_config: CanaryConfig = dataclasses.field(default_factory=CanaryConfig)
    canary_step_seconds: float | None = None  # None: step_seconds
    compare: bool = False
    chart_points: int = 1500


@dataclass(frozen=True)
class ReplayResult:
    source: str
    options: ReplayOptions
    slos: tuple[SLOReplay, ...]
    skipped: tuple[tuple[str, str], ...]  # (slo id, reason)
    canaries: tuple[CanaryReplay, ...]

    @property
    def variant_labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.label for r in self.slos))


def parse_time(text: str, flag: str) -> float:
    """Unix seconds, or an RFC 3339 / ISO 8601 time (UTC when no offset is given)."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ReplayError(flag, f"{text!r} is not an RFC 3339 time or unix seconds") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_UNIX_S:
        raise ReplayError(flag, f"{text!r} is not a time from 1970 to the year 9999")
    return seconds


def evaluation_times(first_s: float, last_s: float, step_s: float) -> npt.NDArray[np.float64]:
    """`first, first + step, ...` up to and including `last`."""
    if not (math.isfinite(step_s) and step_s > 0):
        raise ReplayError("--step", "must be a positive duration")
    if last_s < first_s:
        raise ReplayError("--to", "must not be before --from")
    count = math.floor((last_s - first_s) / step_s + 1e-9) + 1
    if count > MAX_STEPS:
        raise ReplayError("--step", f"{count} evaluation steps; at most {MAX_STEPS}")
    return first_s + step_s * np.arange(count, dtype=np.float64)


def _policy(name: str, known: dict[str, BurnRatePolicy]) -> BurnRatePolicy:
    if name in known:
        return known[name]
    if Path(name).suffix in (".yaml", ".yml") and Path(name).is_file():
        return load_policy_file(name)
    raise ReplayError(
        "--policy", f"unknown policy {name!r}; known: {', '.join(sorted(known))} (or a YAML file)"
    )


def _variants(
    slo: SLO, options: ReplayOptions, known: dict[str, BurnRatePolicy]
) -> list[tuple[SLO, BurnRatePolicy]]:
    out = []
    for name in options.policies:
        try:
            policy = (
                policy_for(slo, known, options.default_policy)
                if name is None
                else _policy(name, known)
            )
        except SpecError as exc:
            raise ReplayError("--policy", str(exc)) from None
        for objective in options.objectives:
            variant = (
                slo if objective is None else dataclasses.replace(slo, objective_ratio=objective)
            )
            out.append((variant, policy))
    return out


def _variant_labels(options: ReplayOptions, known: dict[str, BurnRatePolicy]) -> list[str]:
    """One label per (policy, objective) variant, in `_variants` order, the same for every SLO:
    `own policy`, `fast-slow`, `fast-slow @ 99.5%` (a policy file by its policy's name)."""
    names = [
        "own policy" if name is None else name if name in known else _policy(name, known).name
        for name in options.policies
    ]
    return [
        name + ("" if objective is None else f" @ {objective * 100:g}%")
        for name in names
        for objective in options.objectives
    ]


def run_replay(catalog: Catalog, history: History, options: ReplayOptions) -> ReplayResult:
    """Replay every SLO of the catalog (each variant) and every canary target."""
    for objective in options.objectives:
        if objective is not None and not 0 < objective < 1:
            raise ReplayError("--objective", f"{objective * 100:g} is not a percentage in (0, 100)")
    times = evaluation_times(options.first_s, options.last_s, options.step_seconds)
    known = catalog_policies(catalog)
    labels = _variant_labels(options, known)
    replays: list[SLOReplay] = []
    skipped: list[tuple[str, str]] = []
    for slo in catalog.slos:
        if not isinstance(slo.sli, NativeSLI):
            skipped.append((slo.id, "PromQL SLI: replay needs RED history (a native SLI)"))
            continue
        refusal = push_refusal(slo)
        if refusal is not None:
            skipped.append((slo.id, refusal))
            continue
        for (variant, policy), label in zip(_variants(slo, options, known), labels, strict=True):
            refusal = timeslice_refusal(variant, policy.window_seconds())
            if refusal is not None:  # e.g. slices that do not divide this policy's windows
                skipped.append((f"{slo.id} [{label}]", refusal))
                continue
            replay = replay_slo(variant, policy, history, times, options.chart_points)
            replays.append(dataclasses.replace(replay, variant=label))
    canary_times = times
    if options.canary_step_seconds is not None:
        canary_times = evaluation_times(
            options.first_s, options.last_s, options.canary_step_seconds
        )
    canaries = tuple(
        replay_canary(
            history,
            canary_times,
            service=c.service,
            canary=c.canary,
            baseline=c.baseline,
            revision=c.revision,
            config=options.canary_config,
            slos=catalog.slos,
        )
        for c in options.canaries
    )
    return ReplayResult(history.source, options, tuple(replays), tuple(skipped), canaries)
