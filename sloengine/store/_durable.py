"""`DurableStore`: a SeriesStore made durable by a group-committed WAL plus snapshots.

Data directory:
    wal-00000007.log        WAL segments (see `_wal`); records are applied batches (`_records`)
    snapshot-00000007.npz   the state after every record of segments < 7 (rings + dedupe)

push: dedupe check -> apply to memory (CapacityError changes nothing) -> append to the WAL
buffer -> await the group fsync -> ACCEPTED. Everything runs on one event loop, so applying
and appending happen together and WAL order is apply order; replay is deterministic.
Readers may see a batch a few milliseconds before it is acknowledged; if the process dies
first it is neither acknowledged nor recovered. A failed write or fsync (disk full) poisons
the store: every later push raises until `recover()` rebuilds memory from the data dir.

snapshot: rotate to a new segment (after the old one is durable), copy the state, write it
in a thread (tmp file, fsync, rename, fsync dir), then delete older segments and snapshots.
open: lock the directory (`_datadir`), load the newest snapshot, replay later segments
(`_recovery`). Only
a torn tail of the last segment (an incomplete last record) is truncated, with one warning
line; any other damage refuses to start with one line, unless `repair=True`, which moves
the damaged bytes (and every later segment) to `quarantine/` and reports the records lost.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import CapacityError
from sloengine.store._batch import DecodedBatch, SeriesLabels
from sloengine.store._datadir import DataDirLock
from sloengine.store._dedupe import DEFAULT_WINDOW, DedupeState
from sloengine.store._levels import DEFAULT_LEVELS, Level
from sloengine.store._records import encode_columns
from sloengine.store._recovery import (
    SEGMENT_RE,
    SNAPSHOT_RE,
    DataDirPaths,
    Recovery,
    RecoveryReport,
    cut_segment,
)
from sloengine.store._series import SeriesStore
from sloengine.store._wal import (
    GroupCommitWriter,
    WalFailedError,
    fsync_dir,
)

log = logging.getLogger("sloengine.store")


class PushStatus(enum.Enum):
    """Names match `PushAck.Status`."""

    ACCEPTED = 1
    DUPLICATE = 2


@dataclass(frozen=True)
class PushOutcome:
    status: PushStatus
    samples_accepted: int

    @property
    def duplicate(self) -> bool:
        return self.status is PushStatus.DUPLICATE

    @property
    def samples(self) -> int:
        return self.samples_accepted


_DUPLICATE = PushOutcome(PushStatus.DUPLICATE, 0)


# A failed WAL (disk full) is reopened only once this much space is free again.
MIN_FREE_BYTES_TO_RECOVER = 4 * 1024 * 1024


class DurableStore(DataDirPaths):
    """The engine's embedded store. Call `open()` once, then `push` from one event loop."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        max_series: int | None = None,
        levels: tuple[Level, ...] = DEFAULT_LEVELS,
        latency_bounds_seconds: Sequence[float] = DEFAULT_LATENCY_BUCKETS_SECONDS,
        snapshot_every_bytes: int = 64 * 1024 * 1024,
        dedupe_window: int = DEFAULT_WINDOW,
        fsync: bool = True,
        fsync_observer: Callable[[float], None] | None = None,
        repair: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.repair = repair
        self._lock = DataDirLock(self.data_dir)
        self._failure: str | None = None  # set when memory may differ from the WAL
        # Tickets handed out = base + the writer's own; a recovery starts a new writer above
        # every earlier ticket, so a ticket of the failed writer is recognised as stale.
        self._ticket_base = 0
        self.max_series = max_series
        self._levels = levels
        self._bounds = tuple(latency_bounds_seconds)
        self.snapshot_every_bytes = snapshot_every_bytes
        self._dedupe_window = dedupe_window
        self._fsync = fsync
        self._fsync_observer = fsync_observer
        self._store: SeriesStore | None = None
        self._dedupe = DedupeState(window=dedupe_window)
        self._wal: GroupCommitWriter | None = None
        self._segment = 0
        self._write_lock = threading.Lock()
        self._snapshot_task: asyncio.Task[Path] | None = None

    @property
    def store(self) -> SeriesStore:
        if self._store is None:
            raise RuntimeError("DurableStore.open() was not called")
        return self._store

    @property
    def wal_flushes(self) -> int:
        return self._wal.flushes if self._wal else 0

    # --- recovery ------------------------------------------------------------------------------
    def open(self) -> RecoveryReport:
        """Lock the data dir, load the newest snapshot and replay the WAL after it.

        Raises DataDirLockedError when another process holds the directory, and
        StoreCorruptError (one line) on damage it will not guess about: an unreadable or
        missing snapshot, or WAL damage other than a torn tail (unless `repair`).
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            return self._recover()
        except BaseException:
            self._lock.release()
            raise

    def _recover(self) -> RecoveryReport:
        store, self._dedupe, self._segment, report = Recovery(
            self.data_dir,
            levels=self._levels,
            latency_bounds_seconds=self._bounds,
            max_series=self.max_series,
            dedupe_window=self._dedupe_window,
            fsync=self._fsync,
            repair=self.repair,
        ).run()
        path = self._segment_path(self._segment)
        self._wal = GroupCommitWriter(path, fsync=self._fsync, fsync_observer=self._fsync_observer)
        self._store = store
        return report

    # --- ingest --------------------------------------------------------------------------------
    async def push(self, batch: DecodedBatch) -> PushOutcome:
        """Apply `batch` and return once it is durable (`submit` + `wait_durable`).

        The WAL records the decoded columns, so replay needs no decoding.
        DUPLICATE when (producer_id, sequence) was accepted before (after waiting until that
        earlier batch is durable too). Raises CapacityError, changing nothing, when the batch
        would create series beyond `max_series`.
        """
        outcome, ticket = self.submit(batch)
        await self.wait_durable(ticket)
        return outcome

    def submit(self, batch: DecodedBatch) -> tuple[PushOutcome, int]:
        """Apply `batch` to memory and append its WAL record, without waiting.

        Returns the outcome and the WAL ticket to pass to `wait_durable` before
        acknowledging it (for a DUPLICATE: everything appended so far, since the original
        may still be in flight). Why split from `push`: a stream submits many batches and
        waits once for the highest ticket, so a group commit costs no task or future per
        batch. Raises CapacityError, changing nothing, like `push`.
        """
        # One code path for one batch and for a group: the same dedupe, resolve, WAL record.
        (result,) = self.submit_many([batch])
        if isinstance(result, CapacityError):
            raise result
        return result

    def submit_many(
        self, batches: Sequence[DecodedBatch]
    ) -> list[tuple[PushOutcome, int] | CapacityError]:
        """`submit` of each batch in order, with one apply to memory for all of them.

        Why: applying costs a few dozen numpy calls whatever the rows, so a group of small
        batches (many producers) shares them. Each batch is still deduplicated, resolved
        (a CapacityError is returned in its place, changing nothing) and logged as its own
        WAL record, so replay and dedupe see exactly what `submit` would have written.

        Order: apply to memory first, then record dedupe and append to the WAL. If the
        apply fails, nothing was logged or marked seen (a resend is applied normally) and
        the series the group created are dropped again; if memory may already hold part of
        it, the store is marked failed until `recover()` rebuilds it from the data dir.
        """
        store, wal = self.store, self._wal
        assert wal is not None
        if self.failure is not None:
            raise WalFailedError(f"store unavailable: {self.failure}")
        if any(b.latency_bounds_seconds != store.latency_bounds_seconds for b in batches):
            raise ValueError("batch was decoded for other latency bounds than this store's")
        results: list[tuple[PushOutcome, int] | CapacityError | None] = []
        accepted: list[tuple[int, DecodedBatch, npt.NDArray[np.int64], list[SeriesLabels]]] = []
        in_group: set[tuple[str, int]] = set()
        series_before = store.series_count()
        try:
            for batch in batches:
                key = (batch.producer_id, batch.sequence)
                if key in in_group or self._dedupe.seen(*key):
                    results.append(None)  # DUPLICATE, with the ticket of everything below
                    continue
                try:
                    sids, created = store.resolve(batch.series)
                except CapacityError as exc:
                    results.append(exc)
                    continue
                in_group.add(key)
                accepted.append((len(results), batch, sids, created))
                results.append(None)
            if accepted:
                store.apply_samples(
                    np.concatenate([sids[b.block_of_sample] for _, b, sids, _ in accepted]),
                    np.concatenate([b.timestamps_unix_ms for _, b, _, _ in accepted]),
                    np.concatenate([b.values for _, b, _, _ in accepted]),
                )
        except BaseException as exc:
            if store.broken:
                self._fail(f"in-memory apply failed: {exc}")
            else:
                store.forget_series_from(series_before)  # no WAL record created them
            raise
        try:
            for at, batch, sids, created in accepted:
                record = encode_columns(
                    batch.producer_id,
                    batch.sequence,
                    created,
                    sids,
                    batch.block_of_sample,
                    batch.timestamps_unix_ms,
                    batch.values,
                )
                ticket = self._ticket_base + wal.append(record)
                self._dedupe.record(batch.producer_id, batch.sequence)
                results[at] = (PushOutcome(PushStatus.ACCEPTED, batch.sample_count), ticket)
        except BaseException as exc:
            self._fail(f"write-ahead log append failed: {exc}")  # memory is ahead of the WAL
            raise
        last = self._ticket_base + wal.last_ticket
        self._maybe_snapshot(wal)
        return [(_DUPLICATE, last) if r is None else r for r in results]

    # --- failure and recovery without restart --------------------------------------------------
    def highest_sequence(self, producer_id: str) -> int | None:
        """The highest sequence accepted from `producer_id` (None: not remembered)."""
        return self._dedupe.highest(producer_id)

    @property
    def failure(self) -> str | None:
        """Why the store cannot accept batches now (None: healthy). Readiness reports it."""
        if self._failure is not None:
            return self._failure
        if self._wal is not None and self._wal.failure is not None:
            return f"write-ahead log failed: {self._wal.failure}"
        return None

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            log.error("store failed, refusing batches until recovered: %s", reason)

    async def recover(self, *, min_free_bytes: int = MIN_FREE_BYTES_TO_RECOVER) -> bool:
        """After a failure: rebuild memory from the data dir, as a restart would.

        Returns False (changing nothing) while the store is healthy or the disk still has
        less than `min_free_bytes` free. Otherwise drops the failed writer (its unwritten
        records were never acknowledged), cuts its segment at the last durable byte, and
        reloads snapshot + WAL, so memory and dedupe hold exactly what is durable.
        """
        if self.failure is None or self._wal is None:
            return False
        if shutil.disk_usage(self.data_dir).free < min_free_bytes:
            return False
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        old_wal, old_store = self._wal, self.store
        old_base = self._ticket_base
        self._ticket_base += old_wal.last_ticket + 1
        durable_end = old_wal.bytes_in_segment
        old_wal.close()
        self._wal = None
        try:
            if old_wal.path.exists() and old_wal.path.stat().st_size > durable_end:
                cut_segment(old_wal.path, durable_end, fsync=self._fsync)
            report = self._recover()
        except Exception as exc:
            self._wal = old_wal  # keeps `failure` reporting; try again later
            self._ticket_base = old_base
            self._failure = f"recovery failed: {exc}"
            log.error("store recovery failed: %s", exc)
            return False
        self.store.version = old_store.version + 1  # readers' caches keyed by version
        self._failure = None
        log.warning("store recovered after a failure without restart: %s", report)
        return True

    async def wait_durable(self, ticket: int, *, oldest: int | None = None) -> None:
        """Return once every WAL record up to `ticket` is fsynced (raises if the WAL failed).

        `oldest`: the smallest ticket the caller is about to acknowledge with it. A ticket
        from before a `recover()` belongs to a writer that failed: its record may be lost,
        so waiting for it raises instead of ever succeeding.
        """
        wal = self._wal
        if wal is None:
            raise RuntimeError("DurableStore is not open")
        if min(ticket, ticket if oldest is None else oldest) < self._ticket_base:
            raise WalFailedError("the write-ahead log failed before this batch was durable")
        await wal.wait_durable(ticket - self._ticket_base)

    def _maybe_snapshot(self, wal: GroupCommitWriter) -> None:
        """Start a background snapshot once the segment outgrows the threshold.

        The threshold is at least the state's own size: a snapshot copies the whole store
        on the loop (~0.5 s for 8,000 series), so it is taken no more often than the WAL
        grows by that much, which keeps snapshot bytes <= WAL bytes and recovery <= twice
        the state to read.
        """
        if self._snapshot_task is not None:
            return
        state_bytes = self.store.series_count() * self.store.bytes_per_series
        if wal.bytes_in_segment >= max(self.snapshot_every_bytes, state_bytes):
            self._snapshot_task = asyncio.create_task(self.snapshot_async())
            self._snapshot_task.add_done_callback(self._snapshot_done)

    def _snapshot_done(self, task: asyncio.Task[Path]) -> None:
        self._snapshot_task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("background snapshot failed: %s", task.exception())

    # --- snapshots -----------------------------------------------------------------------------
    def snapshot(self) -> Path:
        """Write a snapshot and drop the WAL segments it covers; returns its path.

        Synchronous: call it from the event loop's thread (it blocks the loop while it
        writes) or when no pushes can run, e.g. at shutdown. `snapshot_async` writes in a
        worker thread instead.
        """
        number, arrays = self._cut()
        return self._write_snapshot(number, arrays)

    async def snapshot_async(self) -> Path:
        """Like `snapshot`, but the (large) file is written in a worker thread."""
        number, arrays = self._cut()
        return await asyncio.to_thread(self._write_snapshot, number, arrays)

    def _cut(self) -> tuple[int, dict[str, npt.NDArray[np.generic]]]:
        """Rotate the WAL and copy the state: together they cover exactly segments < number."""
        wal = self._wal
        if wal is None:
            raise RuntimeError("DurableStore is not open")
        if self.failure is not None:  # memory may differ from the WAL: nothing to snapshot
            raise WalFailedError(f"store unavailable: {self.failure}")
        number = self._segment + 1
        wal.rotate(self._segment_path(number))
        self._segment = number
        arrays = self.store.to_arrays()
        arrays["dedupe"] = _json_array(self._dedupe.to_json())
        return number, arrays

    def _write_snapshot(self, number: int, arrays: dict[str, npt.NDArray[np.generic]]) -> Path:
        path = self._snapshot_path(number)
        tmp = path.with_name(path.name + ".tmp")
        with self._write_lock:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
            if self._fsync:
                fsync_dir(self.data_dir)
            for old in self._numbered(SEGMENT_RE):
                if old < number:
                    self._segment_path(old).unlink(missing_ok=True)
            for old in self._numbered(SNAPSHOT_RE):
                if old < number:
                    self._snapshot_path(old).unlink(missing_ok=True)
        return path

    def close(self) -> None:
        """Flush the WAL, close it and unlock the data dir (snapshot first: faster open)."""
        if self._wal is None:
            self._lock.release()
            return
        if self._snapshot_task is not None and not self._snapshot_task.done():
            self._snapshot_task.cancel()
        try:
            self._wal.close()
        finally:
            self._wal = None
            self._lock.release()

    async def aclose(self, *, snapshot: bool = True) -> None:
        """Wait for a background snapshot, optionally write a final one, then close."""
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if snapshot and self._wal is not None and self.failure is None:
            await self.snapshot_async()
        self.close()


def _json_array(doc: object) -> npt.NDArray[np.uint8]:
    return np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8).copy()
