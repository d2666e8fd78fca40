"""The canary judge's public facade (docs/canary.md, "The judge as a library").

The code is floor 1's `sloengine.maths.judge`; this path is kept because users import it.
"""

from sloengine.maths.judge import (
    DEFAULT_ALPHA,
    EMPTY,
    ErrorRatioGuard,
    Guard,
    GuardOutcome,
    Judgement,
    LatencyQuantileGuard,
    Observation,
    VariantWindow,
    Verdict,
    combine,
    evaluate_guard,
    histogram_quantile,
    judge,
    min_samples_to_bound_ratio,
)

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
