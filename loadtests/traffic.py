"""Which variant serves the next request, under each load profile (clock and file injected).

Profiles:
- steady: every request to the host under test (-H), the "baseline".
- canary: a fixed share of requests to the canary host; if a weight file is given, the share
  is re-read from it once a second, so a rollback hook can take the canary out of traffic.
- rollout: the seed's progressive rollout: the canary's share steps through
  10% -> 30% -> 60% -> 100%, holding each step for a pause (like Argo Rollouts'
  setWeight/pause). A weight file, if given, is the traffic router's word: it caps the
  schedule, and once it reads 0 the rollout is rolled back for the rest of the run.

Every request carries a phase label ("step 2/4 (30%)", "rolled back"; "weight 50%" in the
canary profile) so the master can summarise each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PROFILES = ("steady", "canary", "rollout")
DEFAULT_ROLLOUT_STEPS = (0.10, 0.30, 0.60, 1.00)
ROLLED_BACK = "rolled back"
BASELINE, CANARY = "baseline", "canary"


class TrafficError(ValueError):
    """A profile setting that cannot be used (the message names the option)."""


def parse_steps(text: str) -> tuple[float, ...]:
    """'10,30,60,100' (percent) -> (0.1, 0.3, 0.6, 1.0); increasing, each in (0, 100]."""
    try:
        percents = [float(part) for part in str(text).replace("%", "").split(",") if part.strip()]
    except ValueError:
        raise TrafficError(
            f"--loadtest-rollout-steps: expected percentages like '10,30,60,100', got {text!r}"
        ) from None
    if not percents:
        raise TrafficError("--loadtest-rollout-steps: at least one step is needed")
    if any(not 0 < p <= 100 for p in percents) or percents != sorted(set(percents)):
        raise TrafficError(
            f"--loadtest-rollout-steps: steps must increase within (0, 100], got {text!r}"
        )
    return tuple(p / 100.0 for p in percents)


def step_label(index: int, steps: Sequence[float]) -> str:
    return f"step {index + 1}/{len(steps)} ({steps[index]:.0%})"


@dataclass(frozen=True)
class Decision:
    variant: str
    phase: str


class WeightFile:
    """A canary weight in [0, 1] re-read at most once a second; a half-written or missing file
    keeps the last good value, so a hook writing it never breaks the run."""

    def __init__(self, path: str, clock: Callable[[], float], initial: float | None) -> None:
        self.path = path
        self.clock = clock
        self.value = initial
        self.read_at: float | None = None

    def get(self) -> float | None:
        now = self.clock()
        if self.read_at is None or now - self.read_at >= 1.0:
            self.read_at = now
            try:
                with open(self.path) as fh:
                    self.value = min(1.0, max(0.0, float(fh.read().strip() or 0)))
            except (OSError, ValueError):
                pass
        return self.value


class TrafficSplit:
    """Decides baseline or canary per request; one per load-generating process."""

    def __init__(
        self,
        profile: str,
        canary_weight: float = 0.2,
        weight_file: str | None = None,
        steps: Sequence[float] = DEFAULT_ROLLOUT_STEPS,
        pause_seconds: float = 30.0,
        clock: Callable[[], float] | None = None,
        started_at: float | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise TrafficError(
                f"--loadtest-profile: {profile!r} is not one of {', '.join(PROFILES)}"
            )
        if not 0.0 <= canary_weight <= 1.0:
            raise TrafficError(f"--loadtest-canary-weight: must be in [0, 1], got {canary_weight}")
        if profile == "rollout" and not pause_seconds > 0:
            raise TrafficError(f"--loadtest-rollout-pause: must be > 0, got {pause_seconds}")
        self.profile = profile
        self.clock = clock or time.monotonic
        self.started_at = self.clock() if started_at is None else started_at
        self.steps = tuple(steps)
        self.pause_seconds = pause_seconds
        self.fixed_weight = canary_weight
        initial = canary_weight if profile == "canary" else None
        self.weight_file = WeightFile(weight_file, self.clock, initial) if weight_file else None
        self.rolled_back = False

    def scheduled_step(self) -> int:
        elapsed = self.clock() - self.started_at
        return min(int(elapsed // self.pause_seconds), len(self.steps) - 1)

    def current(self) -> tuple[float, str]:
        """(canary weight now, phase label now)."""
        if self.profile == "steady":
            return 0.0, ""
        file_weight = self.weight_file.get() if self.weight_file else None
        if self.profile == "canary":
            weight = self.fixed_weight if file_weight is None else file_weight
            return weight, f"weight {weight:.0%}"  # a rollback shows as a new phase
        if file_weight == 0.0:
            self.rolled_back = True  # sticky: a rolled-back canary does not come back mid-run
        if self.rolled_back:
            return 0.0, ROLLED_BACK
        step = self.scheduled_step()
        weight = self.steps[step] if file_weight is None else min(self.steps[step], file_weight)
        return weight, step_label(step, self.steps)

    def decide(self, uniform: float) -> Decision:
        """`uniform` in [0, 1) from the user's seeded RNG picks the variant."""
        weight, phase = self.current()
        return Decision(CANARY if uniform < weight else BASELINE, phase)
