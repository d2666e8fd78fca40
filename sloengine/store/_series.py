"""`SeriesStore`: per-series multi-resolution rings and cached selections ("views").

Layout: level `k` is one array `(slots_k, series capacity, columns)`; columns are
requests, errors and one per latency bound (see `_batch`). Every sample is added to every
level. Heads are store-wide (the newest bucket any series wrote), so advancing time clears
one contiguous slot slab for all series at once.

A *view* is the running sum, per level, of the series a selector matches. It is built the
first time the selector is read and then updated by `apply`, so a window sum costs a few
slot slices whatever the number of series (GetStatus at 10,000 series). Views are bounded
(least recently read is evicted).

Not thread-safe: the engine calls it from one asyncio loop (apply and reads never overlap).
"""

from __future__ import annotations

import io
import json
import math
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import CapacityError
from sloengine.store._batch import ERRORS, LATENCY0, REQUESTS, DecodedBatch, SeriesLabels
from sloengine.store._levels import DEFAULT_LEVELS, Level, plan, validate_levels

Selector = tuple[tuple[str, str], ...]
_NO_HEAD = -(2**62)
_MASK = (1 << 32) - 1
_RESOLVE_CACHE_MIN = 16  # smaller batches resolve about as fast as a cache entry costs
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WindowSum:
    """Sums over the window `(start_unix_s, end_unix_s]` of every matching series.

    `start_unix_s`/`end_unix_s` are the window actually summed after rounding to the ring
    resolutions (see docs/store.md). `latency_counts[j]` counts requests with latency in
    `(bounds[j-1], bounds[j]]`; requests above the last bound are `requests - sum(counts)`.
    """

    requests: float
    errors: float
    latency_bounds_seconds: tuple[float, ...]
    latency_counts: tuple[float, ...]
    start_unix_s: float = 0.0
    end_unix_s: float = 0.0
    series: int = 0
    # Of `requests`, those from series that never pushed latency buckets.
    requests_without_latency: float = 0.0

    @property
    def latency_requests(self) -> float:
        """Requests whose latency is known: what a latency SLI counts (good or slow)."""
        return self.requests - self.requests_without_latency

    def count_at_or_below(self, threshold_s: float) -> float:
        """Requests with latency `<= threshold_s` (bounds above it are not counted)."""
        limit = threshold_s * (1 + 1e-9)
        return float(
            sum(
                c
                for b, c in zip(self.latency_bounds_seconds, self.latency_counts, strict=True)
                if b <= limit
            )
        )


def normalise_selector(selector: Mapping[str, str] | Selector) -> Selector:
    items = selector.items() if isinstance(selector, Mapping) else selector
    return tuple(sorted((str(k), str(v)) for k, v in items))


def _segment_sum(key: _I64, vals: _F64) -> tuple[_I64, _F64]:
    """Sum `vals` rows over runs of equal `key` (key sorted ascending)."""
    if key.size <= 1:
        return key, vals
    change = key[1:] != key[:-1]
    if change.all():
        return key, vals
    starts = np.concatenate(([0], np.flatnonzero(change) + 1))
    return key[starts], np.add.reduceat(vals, starts, axis=0)


class SeriesStore:
    """In-memory windowed counts for many series; pure (no I/O, no clock)."""

    def __init__(
        self,
        *,
        levels: tuple[Level, ...] = DEFAULT_LEVELS,
        latency_bounds_seconds: Sequence[float] = DEFAULT_LATENCY_BUCKETS_SECONDS,
        max_series: int | None = None,
        max_views: int = 512,
    ) -> None:
        self._levels = tuple(levels)
        self._mult = validate_levels(self._levels)
        self._slots = tuple(lv.slots for lv in self._levels)
        self._res0 = self._levels[0].resolution_seconds
        self._bounds = tuple(float(b) for b in latency_bounds_seconds)
        self._width = LATENCY0 + len(self._bounds)
        self.max_series = max_series
        self._max_views = max_views
        self._n = 0
        self._data = [np.zeros((s, 0, self._width)) for s in self._slots]
        self._heads = [_NO_HEAD] * len(self._levels)
        self._labels: list[SeriesLabels] = []
        # Series that have pushed latency buckets: a latency SLI reads only these, so a
        # series without a histogram is "no latency data", never "every request slow".
        self._has_latency = np.zeros(16, dtype=bool)
        self._without_latency = 0  # series not (yet) in _has_latency: 0 skips the check
        # selector -> its member series without latency buckets; cleared when either changes.
        self._no_latency_members: dict[Selector, _I64] = {}
        self._ids: dict[SeriesLabels, int] = {}
        self._index: dict[tuple[str, str], list[int]] = defaultdict(list)
        # Views: selector -> slot in the view arrays, in least-recently-read order.
        self._views: OrderedDict[Selector, int] = OrderedDict()
        self._view_data = [np.zeros((s, 0, self._width)) for s in self._slots]
        self._view_series: dict[int, int] = {}
        self._series_views: list[list[int]] = []
        self._csr: tuple[_I64, _I64, _I64] | None = None
        # id(series tuple) -> (the tuple, its ids). Why: the decoder hands out the same
        # tuple for a producer's repeated key section, so a thousand-series batch resolves
        # with one identity check. Ids never change once assigned, so entries stay valid.
        self._resolved: dict[int, tuple[Sequence[SeriesLabels], _I64]] = {}
        self.version = 0  # bumped by every apply: a cheap cache key for readers (UI)
        self.broken = False  # an apply failed half-way: rebuild the store from its source

    # --- introspection -----------------------------------------------------------------------
    @property
    def levels(self) -> tuple[Level, ...]:
        return self._levels

    @property
    def latency_bounds_seconds(self) -> tuple[float, ...]:
        return self._bounds

    @property
    def retention_seconds(self) -> float:
        """Age up to which every level-0 aligned window edge is still retained somewhere."""
        top = self._levels[-1]
        return float(top.resolution_seconds * (top.slots - 1))

    @property
    def bytes_per_series(self) -> int:
        """Ring memory per series: slots of all levels x columns x 8 bytes."""
        return sum(self._slots) * self._width * 8

    def series_count(self) -> int:
        return self._n

    def has_labels(self, labels: SeriesLabels) -> bool:
        """Whether the series with exactly these sorted labels exists (a batch's `series[i]`)."""
        return labels in self._ids

    def series_labels(self) -> list[dict[str, str]]:
        return [dict(lbl) for lbl in self._labels]

    # --- ingest --------------------------------------------------------------------------------
    def apply(self, batch: DecodedBatch) -> int:
        """Add a validated batch; returns the samples applied.

        Raises CapacityError (and changes nothing) when it would exceed `max_series`.
        """
        if batch.latency_bounds_seconds != self._bounds:
            raise ValueError("batch was decoded for other latency bounds than this store's")
        sids, _ = self.resolve(batch.series)
        return self.apply_columns(
            sids, batch.block_of_sample, batch.timestamps_unix_ms, batch.values
        )

    def resolve(self, series: Sequence[SeriesLabels]) -> tuple[_I64, list[SeriesLabels]]:
        """Series ids for `series`, creating the missing ones (in order of first appearance).

        Returns the ids and the labels it created. Raises CapacityError, creating nothing,
        when that would exceed `max_series`. Ids are dense and assigned in creation order,
        so replaying the same creations yields the same ids.
        """
        cached = self._resolved.get(id(series))
        if cached is not None and cached[0] is series:
            return cached[1], []
        ids = self._ids
        new = [s for s in dict.fromkeys(series) if s not in ids]
        if new:
            if self.max_series is not None and self._n + len(new) > self.max_series:
                raise CapacityError(
                    f"batch would create {len(new)} new series; {self._n} of "
                    f"max {self.max_series} in use"
                )
            self._grow(self._n + len(new))
            for labels in new:
                self._create(labels)
        sids = np.fromiter((ids[s] for s in series), dtype=np.int64, count=len(series))
        if isinstance(series, tuple) and len(series) >= _RESOLVE_CACHE_MIN:
            if len(self._resolved) >= 1024:
                self._resolved.clear()
            # Keeps `series` alive, so its id cannot be reused while cached.
            self._resolved[id(series)] = (series, sids)
        return sids, new

    def apply_columns(
        self, sids: _I64, block_of_sample: _I64, timestamps_unix_ms: _I64, values: _F64
    ) -> int:
        """Add samples of already resolved series (`sids[block]`); returns the count."""
        return self.apply_samples(sids[block_of_sample], timestamps_unix_ms, values)

    def apply_samples(self, series_ids: _I64, timestamps_unix_ms: _I64, values: _F64) -> int:
        """Add samples given each one's series id (any order; several batches at once)."""
        n = int(timestamps_unix_ms.shape[0])
        if n == 0:
            return 0
        b0 = (timestamps_unix_ms - 1) // (self._res0 * 1000)
        key = (series_ids << 32) | b0
        vals = values
        if n > 1 and not bool((key[1:] >= key[:-1]).all()):
            order = np.argsort(key, kind="stable")
            key, vals = key[order], vals[order]
        key, vals = _segment_sum(key, vals)
        oldest = int(b0.min())
        # Everything that can fail (an id out of range, a view index) is computed before the
        # first write, so a failed apply leaves the rings and views as they were.
        if int(key[-1] >> 32) >= self._n or int(key[0]) < 0:
            raise ValueError(f"series id out of range (have {self._n} series)")
        view_rows = self._view_rows(key, vals) if self._views else None
        self.broken = True  # until the writes below complete: memory may hold part of them
        if self._without_latency:
            owners = np.unique(key[(vals[:, LATENCY0:] > 0).any(axis=1)] >> 32)
            newly = owners[~self._has_latency[owners]]
            if newly.size:
                self._has_latency[newly] = True
                self._without_latency -= int(newly.size)
                self._no_latency_members.clear()
        self._advance(int(b0.max()))
        self._add(self._data, key, vals, oldest)
        if view_rows is not None:
            self._add(self._view_data, *view_rows, oldest)
        self.broken = False
        self.version += 1
        return n

    def forget_series_from(self, first: int) -> None:
        """Drop the series with ids >= `first` (created by a batch whose apply failed).

        They must not have received samples yet. Why: the WAL never recorded their
        creation, and replay assigns ids in logged creation order, so keeping them would
        shift every later series' id between memory and the WAL.
        """
        for sid in range(self._n - 1, first - 1, -1):
            labels = self._labels.pop()
            del self._ids[labels]
            for pair in labels:
                self._index[pair].pop()  # ids are appended in creation order
            for view in self._series_views.pop():
                self._view_series[view] -= 1
            for arr in self._data:
                arr[:, sid] = 0.0
            if not self._has_latency[sid]:
                self._without_latency -= 1
            self._has_latency[sid] = False
        self._n = min(self._n, first)
        self._resolved.clear()
        self._no_latency_members.clear()
        self._csr = None

    def _grow(self, needed: int) -> None:
        cap = self._data[0].shape[1]
        if needed <= cap:
            return
        new_cap = max(16, cap + cap // 2, needed)
        if self.max_series is not None:
            new_cap = max(needed, min(new_cap, self.max_series))
        for k, old in enumerate(self._data):
            grown = np.zeros((old.shape[0], new_cap, self._width))
            grown[:, : self._n] = old[:, : self._n]
            self._data[k] = grown

    def _create(self, labels: SeriesLabels) -> int:
        sid = self._n
        self._n += 1
        if sid >= self._has_latency.size:
            self._has_latency = np.concatenate(
                (self._has_latency, np.zeros_like(self._has_latency))
            )
        self._without_latency += 1
        self._no_latency_members.clear()
        self._ids[labels] = sid
        self._labels.append(labels)
        self._series_views.append([])
        for pair in labels:
            self._index[pair].append(sid)
        # The membership index has one row per series: a new series invalidates it even
        # when no view selects it (a stale index was indexed out of bounds by its samples).
        self._csr = None
        as_dict = dict(labels)
        for selector, view in self._views.items():
            if all(as_dict.get(k, "") == v for k, v in selector):
                self._series_views[sid].append(view)
                self._view_series[view] += 1
        return sid

    def _advance(self, newest_b0: int) -> None:
        """Move the heads to `newest_b0`, clearing the slots that now start a new bucket."""
        n, nv = self._n, len(self._views)
        for k, slots in enumerate(self._slots):
            nb = newest_b0 // self._mult[k]
            head = self._heads[k]
            if nb <= head:
                break  # coarser levels cannot advance either
            for arrays, used in ((self._data, n), (self._view_data, nv)):
                if not used:
                    continue
                arr = arrays[k]
                # Only the used columns: untouched capacity stays unmapped zero pages.
                if head == _NO_HEAD or nb - head >= slots:
                    arr[:, :used] = 0.0
                else:
                    arr[np.arange(head + 1, nb + 1) % slots, :used] = 0.0
            self._heads[k] = nb

    def _add(self, arrays: list[_F64], key: _I64, vals: _F64, oldest_b0: int) -> None:
        """Add rows keyed `owner << 32 | base bucket` (unique, sorted) to every level.

        `oldest_b0` is the batch's oldest base bucket: when a level still holds it, no row
        needs the retention filter.
        """
        for k, arr in enumerate(arrays):
            if k:
                ratio = self._mult[k] // self._mult[k - 1]
                key = ((key >> 32) << 32) | ((key & _MASK) // ratio)
                key, vals = _segment_sum(key, vals)
            bucket = key & _MASK
            owner = key >> 32
            slots = self._slots[k]
            floor = self._heads[k] - slots
            if oldest_b0 // self._mult[k] > floor:
                arr[bucket % slots, owner] += vals
            else:
                keep = bucket > floor
                arr[bucket[keep] % slots, owner[keep]] += vals[keep]

    # --- views ---------------------------------------------------------------------------------
    def _membership(self) -> tuple[_I64, _I64, _I64]:
        if self._csr is None:
            counts = np.fromiter(
                (len(v) for v in self._series_views), dtype=np.int64, count=self._n
            )
            starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
            flat = np.fromiter(
                (v for vs in self._series_views for v in vs),
                dtype=np.int64,
                count=int(counts.sum()),
            )
            self._csr = (counts, starts, flat)
        return self._csr

    def _view_rows(self, key: _I64, vals: _F64) -> tuple[_I64, _F64] | None:
        """Rows keyed `view << 32 | base bucket` to add to the views (None: no view matches)."""
        counts, starts, flat = self._membership()
        owner = key >> 32
        per_row = counts[owner]
        total = int(per_row.sum())
        if total == 0:
            return None
        rep = np.repeat(np.arange(owner.size), per_row)
        offset = np.arange(total) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        views = flat[starts[owner][rep] + offset]
        vkey = (views << 32) | (key[rep] & _MASK)
        order = np.argsort(vkey, kind="stable")
        return _segment_sum(vkey[order], vals[rep][order])

    def _members(self, selector: Selector) -> _I64:
        present = [pair for pair in selector if pair[1]]
        if present:
            lists = sorted((self._index.get(pair, []) for pair in present), key=len)
            ids = set(lists[0]).intersection(*lists[1:]) if lists[0] else set()
        else:
            ids = set(range(self._n))
        absent = [k for k, v in selector if not v]
        if absent:
            ids = {i for i in ids if not any(k in dict(self._labels[i]) for k in absent)}
        return np.array(sorted(ids), dtype=np.int64)

    def _view(self, selector: Selector) -> int:
        view = self._views.get(selector)
        if view is not None:
            self._views.move_to_end(selector)
            return view
        if len(self._views) >= self._max_views:
            _, view = self._views.popitem(last=False)
            for vs in self._series_views:
                if view in vs:
                    vs.remove(view)
        else:
            view = len(self._views)
            if view >= self._view_data[0].shape[1]:
                cap = max(8, 2 * view)
                for k, old in enumerate(self._view_data):
                    grown = np.zeros((old.shape[0], cap, self._width))
                    grown[:, : old.shape[1]] = old
                    self._view_data[k] = grown
        members = self._members(selector)
        for k, data in enumerate(self._data):
            acc = np.zeros((self._slots[k], self._width))
            for chunk in range(0, members.size, 1024):
                acc += data[:, members[chunk : chunk + 1024]].sum(axis=1)
            self._view_data[k][:, view] = acc
        for sid in members.tolist():
            self._series_views[sid].append(view)
        self._view_series[view] = int(members.size)
        self._views[selector] = view
        self._csr = None
        return view

    # --- reads ---------------------------------------------------------------------------------
    def has_series(self, selector: Mapping[str, str] | Selector) -> bool:
        """Whether any series matches `selector`; builds no view (a cheap, side-effect free
        existence check, e.g. for an unknown service in a verdict request)."""
        return bool(self._members(normalise_selector(selector)).size)

    def window_sum(
        self, selector: Mapping[str, str] | Selector, window_seconds: float, at_unix_s: float
    ) -> WindowSum:
        """Sum of every series matching `selector` over `(at - window, at]`.

        `at` is rounded down and `window` to the nearest 10 s (the finest resolution); far
        edges older than a level's retention are rounded to that level's slots.
        """
        selector = normalise_selector(selector)
        view = self._view(selector)
        hi = math.floor(at_unix_s / self._res0)
        lo = hi - max(0, round(window_seconds / self._res0))
        without = self._requests_without_latency(selector, lo, hi) if self._without_latency else 0.0
        total = np.zeros(self._width)
        if self._heads[0] != _NO_HEAD and lo < hi:
            lo, hi, ranges = self._ring_ranges(lo, hi)
            for k, start, stop in ranges:
                total += self._view_data[k][start:stop, view].sum(axis=0)
        return WindowSum(
            requests=float(total[REQUESTS]),
            errors=float(total[ERRORS]),
            latency_bounds_seconds=self._bounds,
            latency_counts=tuple(float(x) for x in total[LATENCY0:]),
            start_unix_s=float(lo * self._res0),
            end_unix_s=float(hi * self._res0),
            series=self._view_series.get(view, 0),
            requests_without_latency=without,
        )

    def _requests_without_latency(self, selector: Selector, lo: int, hi: int) -> float:
        """Requests in base buckets [lo, hi) (as window_sum covers them) of the matching
        series that never pushed latency buckets: their latency is unknown, not slow."""
        members = self._no_latency_members.get(selector)
        if members is None:
            if len(self._no_latency_members) >= self._max_views:
                self._no_latency_members.clear()
            members = self._members(selector)
            members = self._no_latency_members[selector] = members[~self._has_latency[members]]
        if members.size == 0 or self._heads[0] == _NO_HEAD or lo >= hi:
            return 0.0
        total = 0.0
        for k, start, stop in self._ring_ranges(lo, hi)[2]:
            total += float(self._data[k][start:stop, members, REQUESTS].sum())
        return total

    def _ring_ranges(self, lo: int, hi: int) -> tuple[int, int, list[tuple[int, int, int]]]:
        """Where base buckets [lo, hi) lie in the rings: the (rounded) lo and hi `plan` chose,
        and (level, start, stop) row ranges of that level's ring, split where it wraps and
        clipped to what the ring still holds."""
        lo, hi, pieces = plan(lo, hi, self._mult, self._slots, self._heads)
        ranges = []
        for k, first, end in pieces:
            slots = self._slots[k]
            first = max(first, self._heads[k] - slots + 1)
            end = min(end, self._heads[k] + 1)
            if first >= end:
                continue
            s0 = first % slots
            s1 = s0 + (end - first)
            ranges.append((k, s0, min(s1, slots)))
            if s1 > slots:
                ranges.append((k, 0, s1 - slots))
        return lo, hi, ranges

    # --- snapshot ------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The whole store as named arrays (copies), for `np.savez`."""
        meta = {
            "levels": [[lv.resolution_seconds, lv.slots] for lv in self._levels],
            "bounds": list(self._bounds),
            "heads": self._heads,
            "labels": [list(map(list, lbl)) for lbl in self._labels],
        }
        out: dict[str, npt.NDArray[np.generic]] = {
            "store_meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8).copy()
        }
        for k, arr in enumerate(self._data):
            # Always a copy: when every allocated column is used, `arr[:, :n]` is the whole
            # array and ascontiguousarray would return it as is, so a snapshot written in a
            # thread would pick up batches applied after its cut (counted twice on replay).
            out[f"level{k}"] = arr[:, : self._n].copy()
        return out

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, npt.NDArray[np.generic]],
        *,
        max_series: int | None = None,
        max_views: int = 512,
    ) -> SeriesStore:
        meta = json.loads(bytes(np.asarray(arrays["store_meta"], dtype=np.uint8)).decode())
        levels = tuple(Level(int(r), int(s)) for r, s in meta["levels"])
        store = cls(
            levels=levels,
            latency_bounds_seconds=meta["bounds"],
            max_series=max_series,
            max_views=max_views,
        )
        labels = [tuple((str(k), str(v)) for k, v in lbl) for lbl in meta["labels"]]
        for k, slots in enumerate(store._slots):
            # Adopt the loaded arrays (no copy); the next new series grows them.
            data = np.ascontiguousarray(arrays[f"level{k}"], dtype=np.float64)
            if data.shape != (slots, len(labels), store._width):
                raise ValueError(f"level{k} has shape {data.shape}, expected {slots} slots")
            store._data[k] = data
        for lbl in labels:
            store._create(lbl)
        store._heads = [int(h) for h in meta["heads"]]
        for data in store._data:
            store._has_latency[: len(labels)] |= (data[:, :, LATENCY0:] > 0).any(axis=(0, 2))
        store._without_latency = len(labels) - int(store._has_latency[: len(labels)].sum())
        return store

    def dumps(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self.to_arrays())  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def loads(cls, data: bytes, *, max_series: int | None = None) -> SeriesStore:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return cls.from_arrays(dict(npz), max_series=max_series)
