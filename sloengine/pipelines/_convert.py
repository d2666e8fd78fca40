"""Samples of RED series (cumulative or delta) -> engine rows (requests, errors, latency).

Pure and deterministic: the same state and the same input give the same rows, which is what
lets the receiver replay its journal after a crash and re-submit exactly the rows it had
produced (see `_receiver`).

Why histogram buckets are joined: the engine stores, per sample, requests, errors and
non-cumulative latency counts with `sum(latency) <= requests`. A Prometheus histogram
arrives as one counter per bucket (`le`), possibly split across requests (remote_write
shards by series). So the increments of one scrape (one timestamp) of one histogram
(its labels without `le`) are collected until the group is complete, then become one row:
complete = the `+Inf` bucket is there along with every bound the histogram is known to have
(at first the conventions' buckets; a histogram with other bounds is flushed, merged, once
five scrapes are pending, and its bounds are learned from them). Since each series keeps
its order within a remote_write shard, a complete scrape means every earlier one is
complete too, so with known bounds no bucket is ever late. A bucket that arrives after its group was flushed is "late": its
cursor moves and its increment is dropped, so the requests it held stay counted as slower
than the bounds that were present. If increments are ever inconsistent (a bucket above
exceeds a bucket below), the cumulative counts are clamped to be monotone (`repaired`).
Either way requests and errors stay exact and latency only ever errs on the slow side.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.pipelines._cumulative import CounterCursors, Step
from sloengine.pipelines._mapping import RedMapping, parse_le

__all__ = ["Conversion", "EngineRow", "RedConverter", "SourcePoint"]

_INF = math.inf
# What a new histogram is expected to carry until its own bounds are learned: the
# conventions' buckets (every instrumented service's), and +Inf.
_CONVENTION_BOUNDS = frozenset((*DEFAULT_LATENCY_BUCKETS_SECONDS, _INF))
# A histogram that has never shown one of the bounds it is waiting for (other bounds than
# the conventions', or changed ones) is flushed with what it has, and its bounds learned,
# once this many scrapes are pending; one that showed them all is only lagging (a shard
# behind the others) and is waited for much longer. Either way no group waits forever.
_LEARN_AFTER = 5
_MAX_PENDING = 64


@dataclass(frozen=True)
class EngineRow:
    """Increments of one engine series over the interval ending at `ts_ms`.

    `latency_counts[j]` counts requests in `(bounds[j-1], bounds[j]]` (non-cumulative);
    requests above the last bound are implied.
    """

    key: tuple[tuple[str, str], ...]
    ts_ms: int
    requests: float
    errors: float
    latency_bounds_seconds: tuple[float, ...] = ()
    latency_counts: tuple[float, ...] = ()


@dataclass(frozen=True)
class SourcePoint:
    """One sample of one source series, already split into the parts the converter reads."""

    labels: Mapping[str, str]
    ts_ms: int
    value: float
    cumulative: bool = True
    # Every bound of the histogram (+Inf included), when the sender says so (an OTLP data
    # point carries all its buckets): the scrape is complete once they are all there.
    bounds: frozenset[float] | None = None
    # `series_id(labels)`, when the decoder has it already (computed otherwise).
    series: str = ""


@dataclass
class Conversion:
    rows: list[EngineRow] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


class _Meta(NamedTuple):
    kind: str
    key: tuple[tuple[str, str], ...]
    error: bool
    bound: float | None  # a bucket's `le`
    group: str  # the histogram's id (labels without `le`); a counter's own id


_MISSING = object()
_MAX_META = 500_000


class _Group:
    """One histogram (labels without `le`) collecting bucket increments per timestamp."""

    __slots__ = ("error", "expected", "flushed_ts", "key", "pending", "seen")

    def __init__(self, key: tuple[tuple[str, str], ...], error: bool) -> None:
        self.key = key
        self.error = error
        self.expected: set[float] = set(_CONVENTION_BOUNDS)
        self.seen: set[float] = set()  # every bound that ever arrived
        # timestamp -> bound -> (increment, raw value, counter reset seen)
        self.pending: dict[int, dict[float, tuple[float, float, bool]]] = {}
        self.flushed_ts = -1

    def to_json(self) -> dict[str, Any]:
        return {
            "k": [list(p) for p in self.key],
            "e": self.error,
            "x": sorted(_le_text(b) for b in self.expected),
            "p": {
                str(t): {_le_text(b): list(d) for b, d in les.items()}
                for t, les in self.pending.items()
            },
            "f": self.flushed_ts,
            "s": sorted(_le_text(b) for b in self.seen),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> _Group:
        group = cls(tuple((k, v) for k, v in doc["k"]), bool(doc["e"]))
        group.expected = {float(b) for b in doc["x"]}
        group.pending = {
            int(t): {float(b): (float(d[0]), float(d[1]), bool(d[2])) for b, d in les.items()}
            for t, les in doc["p"].items()
        }
        group.flushed_ts = int(doc["f"])
        group.seen = {float(b) for b in doc["s"]}
        return group


def _le_text(bound: float) -> str:
    return "+Inf" if bound == _INF else repr(bound)


def series_id(labels: Mapping[str, str], without: str = "") -> str:
    """A canonical, order-independent id of a label set (optionally without one label)."""
    return "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()) if k != without)


class RedConverter:
    """Turns source points into engine rows; holds the cursors and the open histogram groups."""

    def __init__(self, mapping: RedMapping, *, keep_initial: bool = True) -> None:
        self.mapping = mapping
        self.cursors = CounterCursors(keep_initial=keep_initial)
        self._groups: dict[str, _Group] = {}
        # What the mapping says of a series, by series id: a pure function of its labels,
        # cached because a scrape repeats every series (cleared when it grows too big).
        self._meta: dict[str, _Meta | None] = {}

    def _meta_of(self, point: SourcePoint, sid: str, out: Conversion) -> _Meta | None:
        meta = self._meta.get(sid, _MISSING)
        if meta is not _MISSING:
            return meta  # type: ignore[return-value]
        if len(self._meta) > _MAX_META:
            self._meta.clear()
        labels = point.labels
        kind = self.mapping.kind_of(labels.get("__name__", ""))
        key = self.mapping.engine_key(labels) if kind is not None else None
        result: _Meta | None = None
        if kind is not None and key is not None:
            bound = parse_le(labels.get("le", "")) if kind == "bucket" else None
            if kind == "counter" or bound is not None:
                gid = series_id(labels, without="le") if kind == "bucket" else sid
                result = _Meta(kind, key, self.mapping.is_error(labels), bound, gid)
        self._meta[sid] = result
        return result

    def _skip_reason(self, point: SourcePoint) -> str:
        labels = point.labels
        kind = self.mapping.kind_of(labels.get("__name__", ""))
        if kind is None:
            return "ignored"
        if self.mapping.engine_key(labels) is None:
            return "no_service"
        return "invalid"  # a bucket without a usable `le`

    def convert(
        self, points: Iterable[SourcePoint], *, oldest_ms: int, newest_ms: int
    ) -> Conversion:
        """Rows for `points`; samples outside [oldest_ms, newest_ms] are dropped and counted.

        Points are taken in timestamp order (stable), so a request holding several scrapes
        of a histogram completes each scrape before the next one starts.
        """
        out = Conversion()
        for point in sorted(points, key=lambda p: p.ts_ms):
            sid = point.series or series_id(point.labels)
            meta = self._meta_of(point, sid, out)
            if meta is None:
                out.outcomes[self._skip_reason(point)] += 1
                continue
            kind, key, error, bound, gid = meta
            if point.ts_ms > newest_ms:
                out.outcomes["too_far_future"] += 1
                continue
            if kind == "bucket":
                group = self._groups.get(gid)
                if (
                    group is not None
                    and point.ts_ms <= group.flushed_ts
                    and self._counts(point, sid)
                ):
                    # Its scrape was flushed without it (those requests were counted as
                    # slower than the bounds present): move its cursor, drop the increment.
                    self.cursors.advance(sid, point.ts_ms, point.value)
                    assert bound is not None
                    group.expected.add(bound)  # the next scrapes wait for it
                    out.outcomes["late_bucket"] += 1
                    continue
            if point.cumulative:
                step = self.cursors.advance(sid, point.ts_ms, point.value)
                out.outcomes[step.step.value] += 1
                if step.step not in (Step.INCREMENT, Step.RESET):
                    continue
                increment = step.increment
                reset = step.step is Step.RESET
            else:
                if not (math.isfinite(point.value) and point.value >= 0):
                    out.outcomes["invalid"] += 1
                    continue
                out.outcomes["increment"] += 1
                increment = point.value
                reset = False
            if point.ts_ms < oldest_ms:
                out.outcomes["too_old"] += 1  # the cursor moved: the next increment is exact
                continue
            if kind == "counter":
                if increment > 0:
                    out.rows.append(
                        EngineRow(key, point.ts_ms, increment, increment if error else 0.0)
                    )
                continue
            assert bound is not None
            group = self._groups.get(gid)
            if group is None:
                group = self._groups[gid] = _Group(key, error)
            if point.bounds is not None:
                group.expected = set(point.bounds)
            group.pending.setdefault(point.ts_ms, {})[bound] = (increment, point.value, reset)
            group.seen.add(bound)
            self._flush_complete(group, out)
        return out

    def _counts(self, point: SourcePoint, sid: str) -> bool:
        """Would the point bring an increment (not a resend, duplicate or stale marker)?"""
        if not point.cumulative:
            return True
        step = self.cursors.check(sid, point.ts_ms, point.value).step
        return step in (Step.INCREMENT, Step.RESET)

    def _flush_complete(self, group: _Group, out: Conversion) -> None:
        """Flush the latest complete scrape, merging older incomplete ones into it."""
        complete = [
            t for t, les in group.pending.items() if _INF in les and group.expected <= les.keys()
        ]
        limit = _MAX_PENDING if group.expected <= group.seen else _LEARN_AFTER
        if not complete and len(group.pending) >= limit:
            with_inf = [t for t, les in group.pending.items() if _INF in les]
            if with_inf:
                complete = [max(with_inf)]
                group.expected = set()
                out.outcomes["bounds_changed"] += 1
        if not complete:
            return
        ts = max(complete)
        scrapes = [group.pending.pop(t) for t in sorted(group.pending) if t <= ts]
        merged: dict[float, float] = {}
        if len(scrapes) == 1 and any(reset for _, _, reset in scrapes[0].values()):
            # One bucket dropped: the process restarted, so every bucket did (a bucket whose
            # new value is not below its old one cannot show it alone).
            merged = {bound: raw for bound, (_, raw, _) in scrapes[0].items()}
            out.outcomes["histogram_reset"] += 1
        else:
            for les in scrapes:
                for bound, (d, _, _) in les.items():
                    merged[bound] = merged.get(bound, 0.0) + d
        group.flushed_ts = ts
        group.expected |= merged.keys()
        row, repaired = _histogram_row(group, ts, merged)
        if repaired:
            out.outcomes["repaired"] += 1
        if row is not None:
            out.rows.append(row)

    def forget_older_than(self, ts_ms: int) -> None:
        """Bound memory: forget series not seen since `ts_ms` (they restart as new)."""
        self.cursors.forget_older_than(ts_ms)
        for gid in [
            g for g, grp in self._groups.items() if grp.flushed_ts < ts_ms and not grp.pending
        ]:
            del self._groups[gid]

    def to_json(self) -> dict[str, Any]:
        return {
            "cursors": self.cursors.to_json(),
            "groups": {gid: g.to_json() for gid, g in self._groups.items()},
        }

    def load_json(self, doc: dict[str, Any]) -> None:
        self.cursors.load_json(doc["cursors"])
        self._groups = {gid: _Group.from_json(g) for gid, g in doc["groups"].items()}


def _histogram_row(
    group: _Group, ts_ms: int, cumulative: dict[float, float]
) -> tuple[EngineRow | None, bool]:
    requests = cumulative.get(_INF, 0.0)
    bounds = sorted(b for b in cumulative if b != _INF)
    counts = [cumulative[b] for b in bounds]
    repaired = False
    ceiling = requests
    for j in range(len(counts) - 1, -1, -1):  # monotone, within [0, requests]
        if counts[j] > ceiling:
            counts[j] = ceiling
            repaired = True
        ceiling = counts[j]
    if requests <= 0:
        return None, repaired
    non_cumulative = [c - (counts[j - 1] if j else 0.0) for j, c in enumerate(counts)]
    excess = sum(non_cumulative) - requests  # float rounding of fractional (OTLP) counts
    if excess > 0 and non_cumulative:
        j = max(range(len(non_cumulative)), key=non_cumulative.__getitem__)
        non_cumulative[j] = max(0.0, non_cumulative[j] - excess)
    return (
        EngineRow(
            group.key,
            ts_ms,
            requests,
            requests if group.error else 0.0,
            tuple(bounds),
            tuple(non_cumulative),
        ),
        repaired,
    )
