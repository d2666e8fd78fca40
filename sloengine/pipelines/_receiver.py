"""The durable path shared by remote_write and OTLP: journal, convert, store, ack.

Why a journal of its own: converting cumulative counters needs each series' last value,
and that state must survive a restart exactly as far as the store's data does, or a
restart would count increments twice (state behind the store) or lose them (state ahead).
The store cannot hold it (its records are increments), so:

    request -> convert (cursors move, in memory) -> journal record n (the request itself)
            -> fsync journal -> store batch (producer "sloengine-pipelines", sequence n)
            -> fsync store WAL -> 2xx

Crash before the journal fsync: neither has it, the sender retries, the cursors on restart
are the old ones: counted once. Crash after it: on restart the journal is replayed through
the same (deterministic) converter and every record is re-submitted to the store with its
sequence; the store's dedupe drops the ones it already has, so each is counted once, and
the sender's retry finds the cursors already past its samples (resends, dropped). The
journal is fsynced before the store sees the batch, so a sequence number the store holds
always belongs to a journal record (never reused after a crash). Snapshots of the converter
state bound the journal; a snapshot only drops segments once the store holds their batches.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import Counter as PromCounter

from sloengine import conventions
from sloengine.engine import Clock, IngestLimits, StoreHandle
from sloengine.errors import CapacityError, IngestError, PayloadError
from sloengine.ingest import MAX_SAMPLE_COUNT, PushBatch, SeriesBlock, decode_batch
from sloengine.pipelines._convert import Conversion, EngineRow, RedConverter, SourcePoint
from sloengine.pipelines._journal import Journal, JournalError
from sloengine.pipelines._mapping import RedMapping
from sloengine.pipelines._thresholds import ThresholdCheck
from sloengine.store import StoreCorruptError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from sloengine.model import Catalog
    from sloengine.store import DurableStore

__all__ = ["IngestResult", "PayloadError", "PipelineReceiver"]

log = logging.getLogger(__name__)

PRODUCER_ID = conventions.PIPELINES_PRODUCER_ID
_RECORD = struct.Struct("<Bq")  # protocol, receive time (unix ms)
# Outcomes the sender is told about (4xx, as Prometheus answers them); the others are normal.
REJECTED_OUTCOMES = (
    "out_of_order",
    "duplicate",
    "invalid",
    "invalid_labels",
    "too_old",
    "too_far_future",
    "too_large",
    "series_limit",
)

# A decoder returns the points of a body and how many series it had to skip (bad labels);
# it raises PayloadError when the body as a whole is malformed.
Decoder = Callable[[bytes], tuple[list[SourcePoint], int]]


@dataclass(frozen=True)
class IngestResult:
    rows: int
    outcomes: Counter[str]

    @property
    def rejected(self) -> int:
        return sum(self.outcomes[o] for o in REJECTED_OUTCOMES)


class PipelineReceiver:
    """Owns the converter, its journal and the order of store submissions."""

    def __init__(
        self,
        data_dir: Path,
        decoders: dict[int, tuple[str, Decoder]],
        *,
        store: StoreHandle,
        clock: Clock,
        limits: IngestLimits,
        catalog: Catalog,
        sli_problems: dict[str, str],
        registry: CollectorRegistry | None = None,
        repair_wal: bool = False,
        mapping: RedMapping | None = None,
        keep_initial: bool = True,
        snapshot_every_bytes: int = 16 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limits = limits
        self._repair_wal = repair_wal
        self._decoders = decoders
        self.converter = RedConverter(mapping or RedMapping(), keep_initial=keep_initial)
        self.journal = Journal(Path(data_dir) / "pipelines", fsync=fsync)
        # Writes `sli_problems` (the status service's): SLOs the senders' buckets cannot serve.
        self.thresholds = ThresholdCheck(catalog, sli_problems)
        self.snapshot_every_bytes = snapshot_every_bytes
        self._next_sequence = 1
        self._failed: BaseException | None = None  # a journaled batch the store did not get
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._snapshot_task: asyncio.Task[None] | None = None
        self.samples = PromCounter(
            "sloengine_pipeline_samples_total",
            "Samples received by remote_write / OTLP, by protocol and outcome (increment, "
            "reset, resent, duplicate, out_of_order, stale, invalid, too_old, late_bucket, ...).",
            ["protocol", "outcome"],
            registry=registry,
        )
        self.requests = PromCounter(
            "sloengine_pipeline_requests_total",
            "Requests received by remote_write / OTLP, by protocol and HTTP-like status code.",
            ["protocol", "code"],
            registry=registry,
        )

    @property
    def _durable(self) -> DurableStore:
        durable = self._store.durable
        assert durable is not None, "receivers start after the store is open"
        return durable

    # --- lifecycle --------------------------------------------------------------------------
    async def open(self) -> int:
        """Load the converter state and replay the journal into the store; returns records."""
        try:
            recovered = self.journal.open()
            if recovered.state is not None:
                self.converter.load_json(recovered.state)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreCorruptError(f"pipelines journal {self.journal.directory}: {exc}") from None
        if recovered.truncated:
            log.warning("pipelines journal: %s; cut off", recovered.truncated)
        sequence = recovered.records_before
        tickets = []
        for payload in recovered.records:
            sequence += 1
            protocol, now_ms = _RECORD.unpack_from(payload)
            body = payload[_RECORD.size :]
            conversion = self._convert(protocol, body, now_ms)
            if conversion.rows:
                ticket = self._submit(sequence, conversion.rows, now_ms)
                if ticket is not None:
                    tickets.append(ticket)
        # Why: the journal is fsynced before the store sees a batch, so the store never holds
        # a sequence the journal lacks unless journal records were lost (damage cut off, files
        # deleted). Numbering on from the journal would then reuse sequences the store holds:
        # every new batch acked, then dropped as DUPLICATE; and the cursors are behind.
        held = self._durable.highest_sequence(PRODUCER_ID) or 0
        if held > sequence:
            lost = (
                f"pipelines journal {self.journal.directory}: has {sequence} records but the "
                f"store holds batch {held}: {held - sequence} records lost"
            )
            if not self._repair_wal:
                raise StoreCorruptError(
                    f"{lost}; refusing to start (--repair-wal numbers on after the store's "
                    "batches; the series in the lost records then count again from their "
                    "last journaled value, from zero when none)"
                )
            log.error("%s; repaired: numbering on from %d", lost, held + 1)
            sequence = held
        self._next_sequence = sequence + 1
        if tickets:
            await self._durable.wait_durable(max(tickets))
        return len(recovered.records)

    async def aclose(self) -> None:
        """Wait for running requests, save the state (a fast next open), close the journal."""
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if self._snapshot_task is not None:
            await asyncio.gather(self._snapshot_task, return_exceptions=True)
        try:
            await self._snapshot()
        except Exception:
            log.exception("pipelines: final snapshot failed; the journal still has everything")
        self.journal.close()

    def readiness_problem(self) -> str | None:
        """Why remote_write/OTLP cannot ingest: a failed journal write poisons the journal
        (the converter may be ahead of it), and only a restart replays it consistently."""
        if self._failed is not None:
            return f"pipelines: a journaled batch did not reach the store: {self._failed} (restart to recover)"
        failure = self.journal.failure
        return None if failure is None else f"pipelines journal: {failure} (restart to recover)"

    # --- ingest -----------------------------------------------------------------------------
    async def ingest(self, protocol: int, body: bytes) -> IngestResult:
        """Count one request; returns once its rows are durable in the store.

        PayloadError (nothing counted) for a malformed body; JournalError or a store error
        when the data could not be made durable (the sender should retry after a restart).
        """
        name, _ = self._decoders[protocol]
        if self._failed is not None:
            raise JournalError(f"an earlier batch did not reach the store: {self._failed}")
        now_ms = math.floor(self._clock.now() * 1000)
        # Decoding, converting and appending run without yielding: records are in order.
        conversion = self._convert(protocol, body, now_ms)
        ticket = self.journal.append(_RECORD.pack(protocol, now_ms) + body)
        sequence = self._next_sequence
        self._next_sequence += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[sequence] = done
        # Shielded: once journaled, the batch must reach the store even if the caller is
        # cancelled (an OTLP/gRPC deadline, a client gone), or the cursors are past rows the
        # store never got and the sender's retry is answered as a resend.
        commit = asyncio.ensure_future(self._commit(ticket, sequence, conversion, now_ms, done))
        commit.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved
        await asyncio.shield(commit)
        for outcome, n in conversion.outcomes.items():
            self.samples.labels(name, outcome).inc(n)
        self._maybe_snapshot()
        return IngestResult(len(conversion.rows), conversion.outcomes)

    async def _commit(
        self,
        ticket: int,
        sequence: int,
        conversion: Conversion,
        now_ms: int,
        done: asyncio.Future[None],
    ) -> None:
        journaled = False
        try:
            await self.journal.wait_durable(ticket)
            journaled = True
            if conversion.rows:
                store_ticket = self._submit(sequence, conversion.rows, now_ms, conversion.outcomes)
                if store_ticket is not None:
                    await self._durable.wait_durable(store_ticket)
            # An ack implies every earlier request is in the store too: a retry of a
            # cancelled request (a resend, no rows) must not be answered before it.
            earlier = [f for s, f in self._inflight.items() if s < sequence]
            if earlier:
                await asyncio.gather(*earlier, return_exceptions=True)
            done.set_result(None)
        except BaseException as exc:
            if journaled:
                # The journal has the batch and the cursors are past it, but the store does
                # not: only a restart (journal replay) gets it there. Refuse until then, and
                # never snapshot the state past it (that would drop the journal record).
                self._failed = exc
                log.error("pipelines: batch %d journaled, not stored (%s): restart", sequence, exc)
            done.set_exception(exc)
            done.exception()  # retrieved: a snapshot waiting on it sees it, nobody else must
            raise
        finally:
            del self._inflight[sequence]

    def _convert(self, protocol: int, body: bytes, now_ms: int) -> Conversion:
        _, decode = self._decoders[protocol]
        points, bad_series = decode(body)  # PayloadError before anything changed
        limits = self._limits
        oldest = math.floor(now_ms - limits.max_sample_age_seconds * 1000)
        newest = math.floor(now_ms + limits.max_future_skew_seconds * 1000)
        conversion = self.converter.convert(points, oldest_ms=oldest, newest_ms=newest)
        # Why here, row by row: the store refuses a batch with any count above what one
        # sample may carry, and the rows of a request go in as one batch, so one absurd
        # increment (a counter jumping by more than 1e12) would drop every other series of
        # the request after its 2xx. Dropped rows are reported (400 / partial_success).
        rows = [row for row in conversion.rows if row.requests <= MAX_SAMPLE_COUNT]
        if len(rows) < len(conversion.rows):
            conversion.outcomes["too_large"] += len(conversion.rows) - len(rows)
            conversion.rows[:] = rows
        self.thresholds.check(conversion.rows)
        if bad_series:
            conversion.outcomes["invalid_labels"] += bad_series
        return conversion

    def _submit(
        self,
        sequence: int,
        rows: list[EngineRow],
        now_ms: int,
        outcomes: Counter[str] | None = None,
    ) -> int | None:
        """Apply the rows to the store as one batch; its WAL ticket (None: nothing applied)."""
        blocks = [
            SeriesBlock(
                dict(row.key),
                [row.ts_ms],
                [row.requests],
                [row.errors],
                row.latency_bounds_seconds,
                row.latency_counts,
            )
            for row in rows
        ]
        durable = self._durable
        try:
            batch = decode_batch(
                PushBatch(PRODUCER_ID, sequence, blocks),
                now_s=now_ms / 1000,
                max_age_s=math.inf,
                max_future_s=math.inf,
                latency_bounds_seconds=durable.store.latency_bounds_seconds,
            )
        except IngestError as exc:  # the converter builds valid rows; never stop on a bug
            log.error("pipelines: batch %d not stored: %s", sequence, exc)
            self.samples.labels("store", "invalid_rows").inc(len(rows))
            return None
        (outcome,) = durable.submit_many([batch])
        if isinstance(outcome, CapacityError):
            # Why not drop the batch: it holds the rows of series the store has too, and the
            # sender got a 2xx. Keep those; the rows of new series are refused, and the
            # sender is told (400 / partial_success, `series_limit`).
            has = durable.store.has_labels
            kept = [row for row, labels in zip(rows, batch.series, strict=True) if has(labels)]
            log.error("pipelines: batch %d: %d rows dropped: %s", sequence,
                      len(rows) - len(kept), outcome)  # fmt: skip
            self.samples.labels("store", "capacity_dropped").inc(len(rows) - len(kept))
            if outcomes is not None:
                outcomes["series_limit"] += len(rows) - len(kept)
            return self._submit(sequence, kept, now_ms) if kept else None
        return outcome[1]

    # --- snapshots --------------------------------------------------------------------------
    def _maybe_snapshot(self) -> None:
        if (
            self._snapshot_task is None
            and self.journal.bytes_in_segment >= self.snapshot_every_bytes
        ):
            self._snapshot_task = asyncio.create_task(self._snapshot())
            self._snapshot_task.add_done_callback(self._snapshot_done)

    def _snapshot_done(self, task: asyncio.Task[None]) -> None:
        self._snapshot_task = None
        if not task.cancelled() and task.exception() is not None:
            log.error("pipelines snapshot failed: %s", task.exception())

    async def _snapshot(self) -> None:
        if self._failed is not None:
            return  # the journal holds a batch the store lacks: keep it for the replay
        segment = await self.journal.rotate()
        # No yield since the cut: the state copy covers exactly the records before it.
        records = self._next_sequence - 1
        horizon = math.floor((self._clock.now() - self._limits.max_sample_age_seconds) * 1000)
        self.converter.forget_older_than(horizon)
        doc = self.converter.to_json()
        waiting = [f for s, f in self._inflight.items() if s <= records]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        if any(isinstance(r, BaseException) for r in results):
            return  # some batch did not reach the store: keep the segments that hold it
        await asyncio.to_thread(self.journal.write_state, segment, doc, records)
