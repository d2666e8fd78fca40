"""Timeslices and RatioTimeslices SLOs replayed: window counts from per-slice values.

The definitions are `sloengine.maths.timeslices`' (the engine's `SliceLedger`, the rules'
`slo:timeslice_*` records): slices of `timeSliceWindow` aligned on its multiples in unix
time, the slice ending at e covering `(e - s, e]`; a slice's value is its error ratio
(RatioTimeslices) or 1 when that ratio is above `slice_error_threshold` (Timeslices), and a
slice without traffic has none. A window of w holds w / s slices: its "events" are that
count when any slice had traffic (else 0), its "bad events" the sum of the slices' values.
Here every slice of the replay is computed at once, and windows are differences of running
sums over the slice grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sloengine.maths.timeslices import slice_error_threshold
from sloengine.model import SLO

__all__ = ["WindowCounter", "slice_window_counter"]

F64 = npt.NDArray[np.float64]
# (evaluation times, window seconds) -> (events, bad events) per time
WindowCounter = Callable[[F64, float], tuple[F64, F64]]


def slice_window_counter(
    slo: SLO, events: WindowCounter, first_s: float, last_s: float, longest_s: float
) -> WindowCounter:
    """Window counts in slices, from `events` (the SLI's event counts over any window)
    evaluated on every slice from `first_s - longest_s` to `last_s`."""
    s = slo.timeslice_window_seconds
    assert s is not None, "timeslice_refusal checks the slice window first"
    k0 = math.floor((first_s - longest_s) / s + 1e-9)
    k1 = math.floor(last_s / s + 1e-9)
    ends = s * np.arange(k0, k1 + 1, dtype=np.float64)
    total, bad = events(ends, s)
    ratio = np.divide(bad, total, out=np.zeros_like(total), where=total > 0)
    if slo.budgeting_method == "RatioTimeslices":
        value = ratio
    else:
        value = (ratio > slice_error_threshold(slo)).astype(np.float64)
    traffic = total > 0
    cum_value = np.concatenate(([0.0], np.cumsum(np.where(traffic, value, 0.0))))
    cum_traffic = np.concatenate(([0], np.cumsum(traffic)))

    def counts(at_s: F64, window_s: float) -> tuple[F64, F64]:
        n = round(window_s / s)
        last = np.floor(np.asarray(at_s) / s + 1e-9).astype(np.int64)
        hi = np.clip(last - k0 + 1, 0, len(ends))
        lo = np.clip(hi - n, 0, len(ends))
        has = (cum_traffic[hi] - cum_traffic[lo]) > 0
        return np.where(has, float(n), 0.0), np.asarray(cum_value[hi] - cum_value[lo])

    return counts
