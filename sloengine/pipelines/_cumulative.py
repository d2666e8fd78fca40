"""Cumulative counter samples -> increments, the way Prometheus' `increase()` reads them.

Pure state machine, one cursor (last timestamp, last value) per source series:
- a later sample gives `value - last` (a counter reset, `value < last`, gives `value`: the
  counter restarted from zero, as Prometheus assumes);
- the first sample of a series counts from zero (`initial: keep`, the default: a new
  process's counter started at zero since it was created) or only sets the baseline
  (`initial: drop`, for a sender whose counters predate the engine);
- a sample at the cursor's timestamp is a resend when the value is equal (dropped silently:
  retries are normal) and a conflicting duplicate otherwise; an earlier one is out of order:
  both are dropped and counted, the cursor unchanged (Prometheus' TSDB rejects them too);
- a stale marker (the NaN 0x7ff0000000000002 Prometheus writes when a series disappears)
  changes nothing: if the series comes back, its next increment is taken against the last
  real value, so a target that missed one scrape is not counted twice;
- any other NaN, an infinity or a negative value is invalid and dropped.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass

__all__ = ["STALE_NAN_BITS", "CounterCursors", "Step", "is_stale_marker"]

STALE_NAN_BITS = 0x7FF0000000000002


def is_stale_marker(value: float) -> bool:
    """Prometheus' staleness marker: one specific NaN bit pattern, not any NaN."""
    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


class Step(enum.Enum):
    """What one sample did; the receiver counts each in a metric."""

    INCREMENT = "increment"
    RESET = "reset"  # an increment after a counter reset
    INITIAL_DROPPED = "initial_dropped"
    RESENT = "resent"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order"
    STALE = "stale"
    INVALID = "invalid"


@dataclass(frozen=True)
class Advance:
    step: Step
    increment: float = 0.0


_STALE = Advance(Step.STALE)
_INVALID = Advance(Step.INVALID)
_RESENT = Advance(Step.RESENT)
_DUPLICATE = Advance(Step.DUPLICATE)
_OUT_OF_ORDER = Advance(Step.OUT_OF_ORDER)


class CounterCursors:
    """Last (timestamp, value) per source series id; `advance` applies one sample."""

    def __init__(self, *, keep_initial: bool = True) -> None:
        self.keep_initial = keep_initial
        self._last: dict[str, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def check(self, series: str, ts_ms: int, value: float) -> Advance:
        """What `advance` would do, without changing anything."""
        if math.isnan(value):
            return _STALE if is_stale_marker(value) else _INVALID
        if math.isinf(value) or value < 0:
            return _INVALID
        last = self._last.get(series)
        if last is None:
            if self.keep_initial:
                return Advance(Step.INCREMENT, value)
            return Advance(Step.INITIAL_DROPPED)
        last_ts, last_value = last
        if ts_ms < last_ts:
            return _OUT_OF_ORDER
        if ts_ms == last_ts:
            return _RESENT if value == last_value else _DUPLICATE
        if value < last_value:
            return Advance(Step.RESET, value)
        return Advance(Step.INCREMENT, value - last_value)

    def advance(self, series: str, ts_ms: int, value: float) -> Advance:
        """Apply one sample: the increment it brings (see the module doc for each case)."""
        outcome = self.check(series, ts_ms, value)
        if outcome.step in (Step.INCREMENT, Step.RESET, Step.INITIAL_DROPPED):
            self._last[series] = (ts_ms, value)
        return outcome

    def forget_older_than(self, ts_ms: int) -> int:
        """Drop cursors last updated before `ts_ms` (bounded memory); returns how many."""
        old = [s for s, (t, _) in self._last.items() if t < ts_ms]
        for s in old:
            del self._last[s]
        return len(old)

    def to_json(self) -> dict[str, list[float]]:
        return {s: [t, v] for s, (t, v) in self._last.items()}

    def load_json(self, doc: dict[str, list[float]]) -> None:
        self._last = {s: (int(t), float(v)) for s, (t, v) in doc.items()}
