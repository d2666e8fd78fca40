"""`IngestService`: serialised PushRequests in, durable outcomes out (no transport inside).

    service = IngestService(durable, now=time.time, max_sample_age_seconds=lambda: 86400.0,
                            max_future_seconds=300.0)
    results = service.submit_many(raws)     # decode, validate, apply, log; not yet durable
    await service.wait_durable(max(tickets), oldest=min(tickets))   # then acknowledge

It owns the wire codec (`WireDecoder`, with its key caches) for the store's latency
bounds: a group is decoded straight from the wire in one pass, and only unusual encodings
and invalid batches are parsed by protobuf, which names the bad field. Valid batches go to
`DurableStore.submit_many` together (one apply, one WAL record each); the caller waits
once for the fsync covering the group before acknowledging. Transports map the results to
their own acks and status codes (`grpc/_ingest.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from sloengine import conventions
from sloengine.errors import CapacityError, IngestError
from sloengine.ingest._decode import decode_push
from sloengine.ingest._decode_wire import WireDecoder
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DecodedBatch, DurableStore, PushOutcome

__all__ = ["IngestService", "Rejection", "RejectionKind", "Submission"]


class RejectionKind(enum.Enum):
    """Why a batch was refused (nothing of it was applied)."""

    INVALID = "invalid"  # not a PushRequest, a bad field, or a reserved producer id
    CAPACITY = "capacity"  # it would create series beyond the store's max_series


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused batch; `producer_id`/`sequence` are "" / 0 when it did not parse."""

    producer_id: str
    sequence: int
    kind: RejectionKind
    message: str


@dataclass(frozen=True, slots=True)
class Submission:
    """An accepted (or duplicate) batch: acknowledge it once WAL `ticket` is durable."""

    producer_id: str
    sequence: int
    outcome: PushOutcome
    ticket: int


class IngestService:
    """Decodes serialised PushRequests and submits them to a `DurableStore`.

    `now` gives unix seconds; samples must end within `(now - max_sample_age_seconds(),
    now + max_future_seconds]` (read per group, so the wiring may change the age bound).
    Call from the store's event loop.
    """

    def __init__(
        self,
        durable: DurableStore,
        *,
        now: Callable[[], float],
        max_sample_age_seconds: Callable[[], float],
        max_future_seconds: float,
    ) -> None:
        self._durable = durable
        self._now = now
        self._max_sample_age_seconds = max_sample_age_seconds
        self._max_future_seconds = max_future_seconds
        self._wire = WireDecoder(durable.store.latency_bounds_seconds)

    @property
    def durable(self) -> DurableStore:
        return self._durable

    def submit_many(self, raws: Sequence[bytes]) -> list[Submission | Rejection]:
        """Decode, validate and submit each batch, in order, without waiting for the fsync.

        Why one call for many: decoding and applying cost a few dozen numpy calls per group
        whatever its rows, so many producers' small batches share them. Raises when the
        store fails (disk full, I/O error): nothing of the group may be acknowledged then.
        """
        now = self._now()
        max_age = self._max_sample_age_seconds()
        max_future = self._max_future_seconds
        decoded = self._wire.decode_many(
            raws, now_s=now, max_age_s=max_age, max_future_s=max_future
        )
        results: list[Submission | Rejection | None] = []
        valid: list[tuple[int, DecodedBatch]] = []
        for raw, batch in zip(raws, decoded, strict=True):
            if batch is None:  # unusual encoding, or invalid: protobuf names the error
                slow = self._decode_slow(raw, now, max_age, max_future)
                if isinstance(slow, Rejection):
                    results.append(slow)
                    continue
                batch = slow
            if batch.producer_id == conventions.PIPELINES_PRODUCER_ID:
                reason = "producer_id: reserved for the engine's remote_write/OTLP receivers"
                results.append(_rejection(batch, RejectionKind.INVALID, reason))
                continue
            valid.append((len(results), batch))
            results.append(None)
        submitted = self._durable.submit_many([batch for _, batch in valid])
        for (at, batch), outcome in zip(valid, submitted, strict=True):
            if isinstance(outcome, CapacityError):
                results[at] = _rejection(batch, RejectionKind.CAPACITY, str(outcome))
            else:
                results[at] = Submission(batch.producer_id, batch.sequence, outcome[0], outcome[1])
        return results  # type: ignore[return-value]  # every None was filled in

    async def wait_durable(self, ticket: int, *, oldest: int | None = None) -> None:
        """Return once every WAL record up to `ticket` is fsynced (raises if the WAL failed).

        `oldest`: the smallest ticket about to be acknowledged with it (a ticket from
        before a store recovery raises instead of ever succeeding).
        """
        await self._durable.wait_durable(ticket, oldest=oldest)

    async def push(self, raw: bytes) -> Submission | Rejection:
        """One batch, returned once it is durable (a Rejection at once)."""
        (result,) = self.submit_many([raw])
        if isinstance(result, Submission):
            await self.wait_durable(result.ticket)
        return result

    def _decode_slow(
        self, raw: bytes, now: float, max_age: float, max_future: float
    ) -> DecodedBatch | Rejection:
        """The protobuf path: any valid encoding; a Rejection naming the error."""
        try:
            req = pb.PushRequest.FromString(raw)
        except DecodeError:
            return Rejection("", 0, RejectionKind.INVALID, "batch: not a PushRequest")
        try:
            return decode_push(
                req,
                now_s=now,
                max_age_s=max_age,
                max_future_s=max_future,
                latency_bounds_seconds=self._wire.latency_bounds_seconds,
            )
        except IngestError as exc:
            return Rejection(req.producer_id, req.sequence, RejectionKind.INVALID, str(exc))


def _rejection(batch: DecodedBatch, kind: RejectionKind, message: str) -> Rejection:
    return Rejection(batch.producer_id, batch.sequence, kind, message)
