"""Batch-wide validation of decoded columns: one vectorised pass, precise field paths.

The common all-valid batch costs a few numpy reductions; only on failure is the first
culprit located and named as `blocks[3].errors[7]: reason`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sloengine.errors import IngestError
from sloengine.store import ERRORS, LATENCY0, REQUESTS

# What one sample may carry. Why a bound: a finite but huge count (1.7e308) makes window
# sums overflow to inf, and an SLO with inf requests reads as error ratio 0 for its whole
# period. A trillion requests in one sample interval is far beyond any real service, and
# 30 days of such samples still sum far below float64's overflow.
MAX_SAMPLE_COUNT = 1e12
# Sequences may not run ahead of the wall clock in microseconds by more than this. Why: a
# single batch with sequence 2**64-1 would make every later batch of its producer a
# DUPLICATE (silently dropped). The client numbers batches from its boot time in
# microseconds (one per batch, far below one per microsecond), counters from 0 stay far
# below: both are always under the ceiling.
SEQUENCE_AHEAD_US = 86_400 * 1_000_000


def first_index(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.argmax(mask))


def check_counts(x: npt.NDArray[np.float64], where: str) -> None:
    bad = ~((x >= 0) & (x <= MAX_SAMPLE_COUNT))  # NaN compares false: it is bad too
    if bad.any():
        j = first_index(bad)
        raise IngestError(f"{where}[{j}]", _count_reason(float(x[j])))


def sequence_ceiling(now_s: float, max_future_s: float) -> float:
    """The highest sequence accepted at `now_s` (inf when time bounds are off, as in replay)."""
    if math.isinf(max_future_s):
        return math.inf
    return math.floor(now_s * 1_000_000) + SEQUENCE_AHEAD_US


def check_sequence(sequence: int, now_s: float, max_future_s: float) -> None:
    ceiling = sequence_ceiling(now_s, max_future_s)
    if sequence > ceiling:
        raise IngestError(
            "sequence",
            f"{sequence} is more than one day ahead of the current time in microseconds "
            f"({math.floor(now_s * 1_000_000)}); number batches from a counter or the boot "
            "time in microseconds",
        )


class _Locator:
    """Turns a row of the concatenated columns back into (block, index within block)."""

    def __init__(self, block_of_sample: npt.NDArray[np.int64], lengths: list[int]) -> None:
        self._blocks = block_of_sample
        self._lengths = lengths  # block starts are only computed for an error message

    def __call__(self, row: int) -> tuple[int, int]:
        b = int(self._blocks[row])
        return b, row - sum(self._lengths[:b])


def check_batch(
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    block_of_sample: npt.NDArray[np.int64],
    lengths: list[int],
    now_s: float,
    max_age_s: float,
    max_future_s: float,
) -> None:
    locate = _Locator(block_of_sample, lengths)
    # One vectorised pass for the common all-valid batch; locate the culprit only on failure.
    # min/max propagate NaN, so two reductions check "finite and >= 0" for every count.
    if values.size and not (values.min() >= 0 and values.max() <= MAX_SAMPLE_COUNT):
        _raise_bad_count(values, locate)
    over = values[:, ERRORS] > values[:, REQUESTS]
    if over.any():
        b, k = locate(first_index(over))
        raise IngestError(
            f"blocks[{b}].errors[{k}]",
            f"{values[first_index(over), ERRORS]:g} errors exceed "
            f"{values[first_index(over), REQUESTS]:g} requests",
        )
    nb = values.shape[1] - LATENCY0
    if nb:
        sums = values[:, LATENCY0:].sum(axis=1)
        slow = sums > values[:, REQUESTS]
        if slow.any():
            j = first_index(slow)
            b, k = locate(j)
            raise IngestError(
                f"blocks[{b}].latency_bucket_counts[{k * nb}:{(k + 1) * nb}]",
                f"sum {sums[j]:g} exceeds requests[{k}] = {values[j, REQUESTS]:g}",
            )
    _check_times(ts, locate, now_s, max_age_s, max_future_s)


def _raise_bad_count(values: npt.NDArray[np.float64], locate: _Locator) -> None:
    for col, field in ((REQUESTS, "requests"), (ERRORS, "errors")):
        x = values[:, col]
        bad = ~((x >= 0) & (x <= MAX_SAMPLE_COUNT))
        if bad.any():
            j = first_index(bad)
            b, k = locate(j)
            raise IngestError(f"blocks[{b}].{field}[{k}]", _count_reason(float(x[j])))
    nb = values.shape[1] - LATENCY0
    flat = values[:, LATENCY0:].ravel()
    j = first_index(~((flat >= 0) & (flat <= MAX_SAMPLE_COUNT)))
    row, col = divmod(j, nb)
    b, k = locate(row)
    raise IngestError(
        f"blocks[{b}].latency_bucket_counts[{k * nb + col}]", _count_reason(float(flat[j]))
    )


def _count_reason(x: float) -> str:
    if not math.isfinite(x):
        return f"must be finite, got {x}"
    if x > MAX_SAMPLE_COUNT:
        return f"must be <= {MAX_SAMPLE_COUNT:g} per sample, got {x:g}"
    return f"must be >= 0, got {x:g}"


def _check_times(
    ts: npt.NDArray[np.int64],
    locate: _Locator,
    now_s: float,
    max_age_s: float,
    max_future_s: float,
) -> None:
    oldest_ms = 0 if math.isinf(max_age_s) else math.floor((now_s - max_age_s) * 1000)
    low = ts <= max(0, oldest_ms)
    if low.any():
        j = first_index(low)
        b, k = locate(j)
        raise IngestError(
            f"blocks[{b}].timestamps_unix_ms[{k}]",
            f"{int(ts[j])} is older than the retained {max_age_s:g} s (now {now_s:.3f})",
        )
    if not math.isinf(max_future_s):
        high = ts > math.floor((now_s + max_future_s) * 1000)
        if high.any():
            j = first_index(high)
            b, k = locate(j)
            raise IngestError(
                f"blocks[{b}].timestamps_unix_ms[{k}]",
                f"{int(ts[j])} is more than {max_future_s:g} s in the future (now {now_s:.3f})",
            )
