"""The judge's inputs and outputs: frozen values, no I/O, no protobuf.

An `Observation` holds what one guard needs: for the canary and the baseline variant, the
counts over a short and a long window. The adapter (sloengine.canary) fills it from the
store's window sums; the bench and the tests build it by hand.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from sloengine import conventions


class Verdict(enum.Enum):
    """The three verdicts of the contract (conventions.VERDICTS)."""

    PASS = conventions.VERDICT_PASS
    FAIL = conventions.VERDICT_FAIL
    INCONCLUSIVE = conventions.VERDICT_INCONCLUSIVE


@dataclass(frozen=True)
class VariantWindow:
    """One variant's counts over one window.

    `latency_counts[i]` counts requests whose latency fell in
    (bounds[i-1], bounds[i]] (not cumulative); requests slower than the last bound are
    `requests - sum(latency_counts)`. No bounds means no latency histogram was sent.
    """

    requests: float
    errors: float
    latency_bounds_seconds: tuple[float, ...] = ()
    latency_counts: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("requests", "errors"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be finite and >= 0, got {value!r}")
        if self.errors > self.requests * (1 + 1e-9):
            raise ValueError(f"errors: {self.errors!r} exceeds requests {self.requests!r}")
        if len(self.latency_bounds_seconds) != len(self.latency_counts):
            raise ValueError("latency_counts: length differs from latency_bounds_seconds")
        bounds = self.latency_bounds_seconds
        if any(bounds[i] >= bounds[i + 1] for i in range(len(bounds) - 1)):
            raise ValueError("latency_bounds_seconds: must be strictly ascending")

    @property
    def error_ratio(self) -> float:
        """errors / requests; 0 when there were no requests."""
        return self.errors / self.requests if self.requests > 0 else 0.0

    @property
    def has_latency(self) -> bool:
        return bool(self.latency_bounds_seconds) and self.requests > 0


EMPTY = VariantWindow(0.0, 0.0)


@dataclass(frozen=True)
class Observation:
    """Canary and baseline counts over the short and the long window of one evaluation."""

    canary_short: VariantWindow
    canary_long: VariantWindow
    baseline_short: VariantWindow
    baseline_long: VariantWindow
    short_window_seconds: float
    long_window_seconds: float
    # The canary over the slots the baseline has reported (a live verdict whose baseline
    # sidecar has not sent the newest slot yet): the relative test compares the same times.
    # None: canary_long.
    canary_paired: VariantWindow | None = None

    @property
    def canary_vs_baseline(self) -> VariantWindow:
        return self.canary_long if self.canary_paired is None else self.canary_paired


@dataclass(frozen=True)
class ErrorRatioGuard:
    """Fail when the canary's bad-event ratio is above `max_ratio` and worse than baseline.

    Used for the error-ratio guard and, with `value_scale = 1 / error_budget`, for an SLO
    burn-rate guard (a burn rate of 10x is an error ratio of 10 * budget); values in the
    result are then reported in burn-rate units.
    - `min_ratio_increase`: practical effect, canary ratio / baseline ratio (with a
      pseudo-count of 0.5 so that a zero baseline gives a finite ratio) must reach this.
    - `min_delta_fraction`: practical effect, the ratio difference must reach this share of
      the threshold (0.25 of 2% = 0.5 percentage points).
    """

    name: str = "error_ratio"
    max_ratio: float = conventions.DEFAULT_CANARY_MAX_ERROR_RATIO
    min_ratio_increase: float = 1.5
    min_delta_fraction: float = 0.25
    value_scale: float = 1.0
    unit: str = "%"

    def __post_init__(self) -> None:
        if not 0 < self.max_ratio < 1:
            raise ValueError(f"{self.name}: threshold must be in (0, 1), got {self.max_ratio!r}")
        if self.min_ratio_increase < 1:
            raise ValueError(f"{self.name}: min_ratio_increase must be >= 1")


@dataclass(frozen=True)
class LatencyQuantileGuard:
    """Fail when more than `1 - quantile` of the canary's requests are slower than
    `max_seconds` (its quantile is above the threshold) and worse than the baseline.

    `min_ratio_increase`: practical effect, the canary's share of slow requests / the
    baseline's (pseudo-counts) must reach this.
    """

    name: str = "latency_p95"
    quantile: float = 0.95
    max_seconds: float = conventions.DEFAULT_CANARY_MAX_P95_SECONDS
    min_ratio_increase: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.quantile < 1:
            raise ValueError(f"{self.name}: quantile must be in (0, 1), got {self.quantile!r}")
        if self.max_seconds <= 0:
            raise ValueError(f"{self.name}: threshold must be > 0, got {self.max_seconds!r}")
        if self.min_ratio_increase < 1:
            raise ValueError(f"{self.name}: min_ratio_increase must be >= 1")


Guard = ErrorRatioGuard | LatencyQuantileGuard


@dataclass(frozen=True)
class GuardOutcome:
    """One guard's two signals and its verdict; every number finite (0 when not computed)."""

    guard: str
    verdict: Verdict
    threshold: float
    absolute_breached: bool
    canary_value_short: float
    canary_value_long: float
    baseline_value_long: float
    relative_breached: bool
    p_value: float
    effect_size: float
    test: str
    canary_samples: float
    baseline_samples: float
    min_samples: float  # canary requests that decide at current rates; 0: not soon
    short_window_seconds: float
    long_window_seconds: float
    reason: str


@dataclass(frozen=True)
class Judgement:
    """The overall verdict of a set of guards, with a one-line reason."""

    verdict: Verdict
    reason: str
    guards: tuple[GuardOutcome, ...] = field(default_factory=tuple)
