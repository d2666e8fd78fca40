"""Timeslices and RatioTimeslices budgeting (OpenSLO v1): the SLO counts time slices, not events.

The period is cut into slices of `timeSliceWindow` (e.g. 1m), aligned on multiples of the
slice length in unix time; the slice ending at `e` covers `(e - s, e]`. Each slice gets a
value, its *error*:

    Timeslices       1 when the slice's good ratio is below `timeSliceTarget`
                     (its error ratio > 1 - timeSliceTarget), else 0: a bad slice
    RatioTimeslices  the slice's error ratio (the objective is on the average of the
                     slices' success ratios, OpenSLO's definition)

A slice without traffic has no value and counts as good (error 0): "good minutes over total
minutes", where a minute nobody was served is not a minute the service failed anyone
(Datadog's time slice SLOs also count missing data as uptime). So a window of
`w` holds `w / s` slices, and its error ratio is the sum of their errors over `w / s`:
the share of bad slices (Timeslices) or the mean slice error ratio (RatioTimeslices).
Burn rates and budgets then follow as for events (`sloengine.maths.burn`): budget = 1 - target.
A window has data when at least one of its slices had traffic.

`SliceLedger` keeps one value per slice for a whole period, filled from the store while
the store still holds each slice at its own resolution (its 1-minute ring keeps about
2 hours), so the period's slices stay exact long after the store has coarsened them. The
generated rules record the same values (`slo:timeslice_error:ratio`, `slo:timeslice_bad:bool`)
and sum them over each window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.durations import format_duration, format_number
from sloengine.maths import burn
from sloengine.model import SLO

__all__ = [
    "SliceLedger",
    "SliceWindowCounts",
    "is_timeslices",
    "slice_error",
    "slice_error_threshold",
    "timeslice_refusal",
]

# The store's finest resolution: slices must be whole multiples of it.
_STORE_RESOLUTION_SECONDS = 10


def is_timeslices(slo: SLO) -> bool:
    """Whether the SLO budgets time slices (Timeslices or RatioTimeslices)."""
    return slo.budgeting_method != "Occurrences"


def timeslice_refusal(slo: SLO, window_seconds: tuple[float, ...]) -> str | None:
    """Why `slo`'s slices cannot be computed over these burn-rate windows, or None.

    Every window (and the period) must be a whole number of slices, or its ratio would mix
    part of a slice; the slice must be whole multiples of the store's 10 s resolution.
    """
    if not is_timeslices(slo):
        return None
    s = slo.timeslice_window_seconds
    if s is None:
        return "Timeslices budgeting needs a timeSliceWindow"
    if s % _STORE_RESOLUTION_SECONDS:
        return f"timeSliceWindow {format_duration(s)} must be a whole number of 10s"
    needed = sorted({300.0, *window_seconds, float(slo.period_seconds)})
    uneven = [w for w in needed if w % s]
    if uneven:
        shown = ", ".join(format_duration(w) for w in needed)
        return (
            f"timeSliceWindow {format_duration(s)} must divide every burn-rate window and the "
            f"period ({shown}); {', '.join(format_duration(w) for w in uneven)} do not"
        )
    return None


def slice_error_threshold(slo: SLO) -> float:
    """The error ratio above which a Timeslices slice is bad: 1 - timeSliceTarget, as the
    rules print it (so both sides compare against the same number)."""
    if slo.timeslice_target_ratio is None:
        raise ValueError(f"{slo.id}: Timeslices needs a timeSliceTarget")
    return float(format_number(1.0 - slo.timeslice_target_ratio))


def slice_error(slo: SLO, bad: float, total: float) -> float | None:
    """One slice's error value (see module docstring); None without traffic."""
    if total <= 0:
        return None
    ratio = bad / total
    if slo.budgeting_method == "RatioTimeslices":
        return ratio
    return 1.0 if ratio > slice_error_threshold(slo) else 0.0


@dataclass(frozen=True)
class SliceWindowCounts:
    """A window's slices as `evaluate.WindowCountsLike`: `requests` is the number of slices
    (0 when none had traffic), `errors` the sum of their errors."""

    window_seconds: float
    requests: float
    errors: float
    error_ratio: float
    has_data: bool


class SliceLedger:
    """Per-slice errors of one SLO over (at least) its period; pure, no clock.

    `record(slice_end, value)` stores a slice (None: no traffic); `window(w, at)` sums the
    slices ending in `(at - w, at]`. Slices never recorded count as no traffic.
    """

    def __init__(self, slice_seconds: float, span_seconds: float) -> None:
        if slice_seconds <= 0 or span_seconds % slice_seconds:
            raise ValueError("the span must be a whole number of slices")
        self.slice_seconds = float(slice_seconds)
        self._size = int(span_seconds // slice_seconds) + 1
        self._slice = np.full(self._size, -1, dtype=np.int64)  # which slice a slot holds
        self._value = np.full(self._size, math.nan)  # NaN: no traffic

    def _number(self, slice_end_unix_s: float) -> int:
        k = round(slice_end_unix_s / self.slice_seconds)
        if abs(k * self.slice_seconds - slice_end_unix_s) > 1e-6:
            raise ValueError(f"{slice_end_unix_s} is not a slice boundary")
        return k

    def known(self, slice_end_unix_s: float) -> bool:
        k = self._number(slice_end_unix_s)
        return bool(self._slice[k % self._size] == k)

    def record(self, slice_end_unix_s: float, value: float | None) -> None:
        k = self._number(slice_end_unix_s)
        self._slice[k % self._size] = k
        self._value[k % self._size] = math.nan if value is None else value

    def window(self, window_seconds: float, at_unix_s: float) -> SliceWindowCounts:
        """The slices ending in `(at - window, at]`: count, error sum and ratio."""
        n = round(window_seconds / self.slice_seconds)
        last = math.floor(at_unix_s / self.slice_seconds + 1e-9)
        numbers = np.arange(last - n + 1, last + 1, dtype=np.int64)
        slots = numbers % self._size
        present = self._slice[slots] == numbers
        values = self._value[slots][present]
        with_traffic = values[~np.isnan(values)]
        has_data = bool(with_traffic.size)
        errors = float(with_traffic.sum()) if has_data else 0.0
        return SliceWindowCounts(
            window_seconds=window_seconds,
            requests=float(n) if has_data else 0.0,
            errors=errors,
            error_ratio=burn.error_ratio(errors, n),
            has_data=has_data,
        )

    def to_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The ledger as arrays (copies), for `np.savez`; `from_arrays` reads them back."""
        return {
            "slice_seconds": np.array([self.slice_seconds]),
            "slice": self._slice.copy(),
            "value": self._value.copy(),
        }

    @classmethod
    def from_arrays(
        cls, arrays: dict[str, npt.NDArray[np.generic]], span_seconds: float
    ) -> SliceLedger | None:
        """A ledger saved by `to_arrays`, or None when it does not fit `span_seconds`."""
        slice_seconds = float(np.asarray(arrays["slice_seconds"])[0])
        ledger = cls(slice_seconds, span_seconds)
        slices = np.asarray(arrays["slice"], dtype=np.int64)
        values = np.asarray(arrays["value"], dtype=np.float64)
        if slices.shape != ledger._slice.shape or values.shape != ledger._value.shape:
            return None
        ledger._slice, ledger._value = slices.copy(), values.copy()
        return ledger

    def missing(self, first_end: float, last_end: float) -> npt.NDArray[np.int64]:
        """Slice numbers in [first_end, last_end] not recorded yet."""
        numbers = np.arange(self._number(first_end), self._number(last_end) + 1, dtype=np.int64)
        return numbers[self._slice[numbers % self._size] != numbers]
