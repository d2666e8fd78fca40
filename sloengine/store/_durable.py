"""`DurableStore`: a SeriesStore made durable by a group-committed WAL plus snapshots.

Data directory:
    wal-00000007.log        WAL segments (see `_wal`); records are applied batches (`_records`)
    snapshot-00000007.npz   the state after every record of segments < 7 (rings + dedupe)

push: dedupe check -> apply to memory (CapacityError changes nothing) -> append to the WAL
buffer -> await the group fsync -> ACCEPTED. Everything runs on one event loop, so applying
and appending happen together and WAL order is apply order; replay is deterministic.
Readers may see a batch a few milliseconds before it is acknowledged; if the process dies
first it is neither acknowledged nor recovered. A failed write or fsync poisons the store:
every later push raises (restart recovers what was durable).

snapshot: rotate to a new segment (after the old one is durable), copy the state, write it
in a thread (tmp file, fsync, rename, fsync dir), then delete older segments and snapshots.
open: load the newest snapshot, replay later segments; a torn or corrupt tail of the last
segment is truncated with one warning line.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import os
import re
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.errors import CapacityError, SloEngineError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store._decode import DecodedBatch, decode_push
from sloengine.store._dedupe import DEFAULT_WINDOW, DedupeState
from sloengine.store._levels import DEFAULT_LEVELS, Level
from sloengine.store._records import COLUMNS, PUSH, decode_columns, encode_columns
from sloengine.store._series import SeriesStore
from sloengine.store._wal import GroupCommitWriter, create_segment, fsync_dir, read_segment

log = logging.getLogger("sloengine.store")

_SEGMENT_RE = re.compile(r"^wal-(\d{8})\.log$")
_SNAPSHOT_RE = re.compile(r"^snapshot-(\d{8})\.npz$")


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


@dataclass(frozen=True)
class RecoveryReport:
    snapshot: str | None
    segments_replayed: int
    records_replayed: int
    truncated: str | None
    series: int
    seconds: float


_DUPLICATE = PushOutcome(PushStatus.DUPLICATE, 0)


class StoreCorruptError(SloEngineError):
    """A snapshot, or a WAL segment other than the last one, is damaged: refusing to guess."""


class DurableStore:
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
    ) -> None:
        self.data_dir = Path(data_dir)
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
        """Load the newest snapshot and replay the WAL after it."""
        started = time.perf_counter()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.data_dir.glob("*.tmp"):
            tmp.unlink()
        store, first_segment, snapshot_name = self._load_snapshot()
        segments = sorted(n for n in self._numbered(_SEGMENT_RE) if n >= first_segment)
        records = 0
        truncated = None
        for i, number in enumerate(segments):
            path = self._segment_path(number)
            read = read_segment(path)
            for payload in read.records:
                self._replay(store, payload)
                records += 1
            if read.problem is not None:
                if i != len(segments) - 1:
                    raise StoreCorruptError(f"{path}: {read.problem}; later segments exist")
                truncated = f"{path.name}: {read.problem}"
                log.warning(
                    "WAL %s: %s; truncated to %d bytes (%d records kept)",
                    path,
                    read.problem,
                    read.valid_bytes,
                    len(read.records),
                )
                if read.valid_bytes == 0:
                    path.unlink()
                    create_segment(path, fsync=self._fsync)
                else:
                    os.truncate(path, read.valid_bytes)
        self._segment = segments[-1] if segments else first_segment
        path = self._segment_path(self._segment)
        if not path.exists():
            create_segment(path, fsync=self._fsync)
        self._wal = GroupCommitWriter(path, fsync=self._fsync, fsync_observer=self._fsync_observer)
        self._store = store
        return RecoveryReport(
            snapshot_name,
            len(segments),
            records,
            truncated,
            store.series_count(),
            time.perf_counter() - started,
        )

    def _new_store(self) -> SeriesStore:
        return SeriesStore(
            levels=self._levels, latency_bounds_seconds=self._bounds, max_series=self.max_series
        )

    def _load_snapshot(self) -> tuple[SeriesStore, int, str | None]:
        numbers = self._numbered(_SNAPSHOT_RE)
        if not numbers:
            return self._new_store(), min(self._numbered(_SEGMENT_RE), default=1), None
        number = max(numbers)
        path = self._snapshot_path(number)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = dict(npz)
            store = SeriesStore.from_arrays(arrays, max_series=None)
            dedupe = json.loads(bytes(arrays["dedupe"]).decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            # The WAL it covers is gone: starting without it would silently lose data.
            raise StoreCorruptError(f"{path}: unreadable snapshot ({exc})") from None
        store.max_series = self.max_series
        self._dedupe = DedupeState.from_json(dedupe)
        return store, number, path.name

    def _replay(self, store: SeriesStore, payload: bytes) -> None:
        saved, store.max_series = store.max_series, None  # it was within the limit when written
        try:
            if payload[:1] == COLUMNS:
                try:
                    rec = decode_columns(payload)
                except (ValueError, KeyError) as exc:
                    raise StoreCorruptError(f"bad WAL record: {exc}") from None
                _, created = store.resolve(rec.new_series)
                if created != rec.new_series:
                    raise StoreCorruptError("WAL record creates series that already exist")
                store.apply_columns(
                    rec.sids, rec.block_of_sample, rec.timestamps_unix_ms, rec.values
                )
                producer, sequence = rec.producer_id, rec.sequence
            elif payload[:1] == PUSH:
                batch = decode_push(
                    pb.PushRequest.FromString(payload[1:]),
                    now_s=0.0,
                    max_age_s=math.inf,
                    max_future_s=math.inf,
                    latency_bounds_seconds=store.latency_bounds_seconds,
                )
                store.apply(batch)
                producer, sequence = batch.producer_id, batch.sequence
            else:
                raise StoreCorruptError(f"unknown WAL record type {payload[:1]!r}")
        finally:
            store.max_series = saved
        self._dedupe.record(producer, sequence)

    # --- ingest --------------------------------------------------------------------------------
    async def push(self, raw: bytes, batch: DecodedBatch) -> PushOutcome:
        """Apply `batch` and return once it is durable (`submit` + `wait_durable`).

        `raw` (the serialised PushRequest) is accepted for callers that have it but not
        needed: the WAL records the decoded columns, so replay skips protobuf decoding.
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
        """
        store, wal = self.store, self._wal
        assert wal is not None
        results: list[tuple[PushOutcome, int] | CapacityError] = []
        owners, times, values = [], [], []
        for batch in batches:
            if self._dedupe.seen(batch.producer_id, batch.sequence):
                results.append((_DUPLICATE, wal.last_ticket))
                continue
            if batch.latency_bounds_seconds != store.latency_bounds_seconds:
                raise ValueError("batch was decoded for other latency bounds than this store's")
            try:
                sids, created = store.resolve(batch.series)
            except CapacityError as exc:
                results.append(exc)
                continue
            self._dedupe.record(batch.producer_id, batch.sequence)
            record = encode_columns(
                batch.producer_id,
                batch.sequence,
                created,
                sids,
                batch.block_of_sample,
                batch.timestamps_unix_ms,
                batch.values,
            )
            ticket = wal.append(record)
            owners.append(sids[batch.block_of_sample])
            times.append(batch.timestamps_unix_ms)
            values.append(batch.values)
            results.append((PushOutcome(PushStatus.ACCEPTED, batch.sample_count), ticket))
        if owners:
            store.apply_samples(
                np.concatenate(owners), np.concatenate(times), np.concatenate(values)
            )
        self._maybe_snapshot(wal)
        return results

    async def wait_durable(self, ticket: int) -> None:
        """Return once every WAL record up to `ticket` is fsynced (raises if the WAL failed)."""
        wal = self._wal
        if wal is None:
            raise RuntimeError("DurableStore is not open")
        await wal.wait_durable(ticket)

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
            for old in self._numbered(_SEGMENT_RE):
                if old < number:
                    self._segment_path(old).unlink(missing_ok=True)
            for old in self._numbered(_SNAPSHOT_RE):
                if old < number:
                    self._snapshot_path(old).unlink(missing_ok=True)
        return path

    def close(self) -> None:
        """Flush the WAL and close it (synchronous; snapshot first for a fast next open)."""
        if self._wal is None:
            return
        if self._snapshot_task is not None and not self._snapshot_task.done():
            self._snapshot_task.cancel()
        self._wal.close()
        self._wal = None

    async def aclose(self, *, snapshot: bool = True) -> None:
        """Wait for a background snapshot, optionally write a final one, then close."""
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        if snapshot and self._wal is not None:
            await self.snapshot_async()
        self.close()

    # --- paths ---------------------------------------------------------------------------------
    def _numbered(self, pattern: re.Pattern[str]) -> list[int]:
        out = []
        for entry in os.listdir(self.data_dir):
            m = pattern.match(entry)
            if m:
                out.append(int(m.group(1)))
        return out

    def _segment_path(self, number: int) -> Path:
        return self.data_dir / f"wal-{number:08d}.log"

    def _snapshot_path(self, number: int) -> Path:
        return self.data_dir / f"snapshot-{number:08d}.npz"


def _json_array(doc: object) -> npt.NDArray[np.uint8]:
    return np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8).copy()
