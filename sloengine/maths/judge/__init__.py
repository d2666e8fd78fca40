"""The canary judge: pure maths from window counts to a PASS / FAIL / INCONCLUSIVE verdict.

    obs = Observation(canary_short=VariantWindow(1000, 61), canary_long=...,
                      baseline_short=..., baseline_long=..., short_window_seconds=300,
                      long_window_seconds=3600)
    judgement = judge([(ErrorRatioGuard(), obs), (LatencyQuantileGuard(), obs)])
    judgement.verdict, judgement.reason

No I/O, no protobuf, no YAML: the adapters in `sloengine.canary` fill the observations
from the store and turn judgements into `CanaryVerdict` messages.
"""

from sloengine.maths.judge._model import (
    EMPTY,
    ErrorRatioGuard,
    Guard,
    GuardOutcome,
    Judgement,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
    Verdict,
)
from sloengine.maths.judge.stats import histogram_quantile, min_samples_to_bound_ratio
from sloengine.maths.judge.verdict import DEFAULT_ALPHA, combine, evaluate_guard, judge

__all__ = [
    "DEFAULT_ALPHA",
    "EMPTY",
    "ErrorRatioGuard",
    "Guard",
    "GuardOutcome",
    "Judgement",
    "LatencyQuantileGuard",
    "Observation",
    "VariantWindow",
    "Verdict",
    "combine",
    "evaluate_guard",
    "histogram_quantile",
    "judge",
    "min_samples_to_bound_ratio",
]
