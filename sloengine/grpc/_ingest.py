"""`sloengine.v1.IngestService/Push`: validate, make durable, ack; many batches in flight.

The method is registered with no request deserializer, so the handler receives each
message's raw bytes: the fast path reads the columns straight out of them
(`store.decode_wire`), and only unusual encodings and invalid batches are parsed by
protobuf (which names the bad field).

Per stream, a reader task decodes each batch, applies it to memory and appends its WAL
record at once (`DurableStore.submit`), while the handler sends acks: it takes every
batch queued so far as one group, waits once for the fsync covering the group's last WAL
record, and acks the group in arrival order. So a group commit costs one wait, not a task
and a future per batch. Up to `max_in_flight` batches are between arrival and ack; the
bound also caps a stream's memory at max_in_flight x max message size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

from sloengine.errors import CapacityError, IngestError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DecodedBatch, decode_push, decode_wire

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["IngestServicer", "ingest_handler"]

log = logging.getLogger(__name__)

DEFAULT_MAX_IN_FLIGHT = 64


@dataclass(frozen=True, eq=False)
class _Pending:
    """A batch between arrival and ack: its ack is sent once WAL `ticket` is durable."""

    ack: pb.PushAck
    ticket: int
    received: float
    samples: int


class IngestServicer:
    """Handles Push streams against the state's durable store."""

    def __init__(self, state: EngineState, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self._state = state
        self._max_in_flight = max_in_flight

    async def Push(
        self, request_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.PushAck]:
        state = self._state
        metrics = state.metrics
        durable = state.durable
        assert durable is not None, "the gRPC server starts after the store is open"
        metrics.streams.inc()
        queue: asyncio.Queue[_Pending | BaseException | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self._max_in_flight)
        reader = asyncio.create_task(self._read(request_iterator, queue, slots))
        try:
            done = False
            while not done:
                group: list[_Pending] = []
                item = await queue.get()
                while True:  # everything queued so far is one group
                    if item is None:
                        done = True
                        break
                    if isinstance(item, BaseException):
                        # The store failed (disk full, I/O error): nothing after it is
                        # durable, so nothing is acked; the client resends after reconnecting.
                        await context.abort(grpc.StatusCode.UNAVAILABLE, f"store: {item}")
                        return
                    group.append(item)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if not group:
                    continue
                try:
                    await durable.wait_durable(max(p.ticket for p in group))
                except Exception as exc:
                    log.error("WAL failed; aborting the stream: %s", exc)
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"store: {exc}")
                    return
                self._count(group)
                for pending in group:
                    yield pending.ack
                    slots.release()
        finally:
            metrics.streams.dec()
            if not reader.done():
                reader.cancel()

    def _count(self, group: list[_Pending]) -> None:
        """Metrics of an acked group: one counter update per outcome, not per batch."""
        metrics = self._state.metrics
        accepted = duplicate = samples = 0
        now = time.perf_counter()
        for pending in group:
            status = pending.ack.status
            if status == pb.PushAck.ACCEPTED:
                accepted += 1
                samples += pending.samples
            elif status == pb.PushAck.DUPLICATE:
                duplicate += 1
            else:
                continue  # rejections were counted when they were found
            metrics.ack_latency.observe(now - pending.received)
        if accepted:
            metrics.batches_accepted.inc(accepted)
            metrics.samples.inc(samples)
        if duplicate:
            metrics.batches_duplicate.inc(duplicate)

    async def _read(
        self,
        request_iterator: AsyncIterator[bytes],
        queue: asyncio.Queue[_Pending | BaseException | None],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            async for raw in request_iterator:
                await slots.acquire()
                received = time.perf_counter()
                decoded = self._decode(raw)
                if isinstance(decoded, pb.PushAck):
                    queue.put_nowait(_Pending(decoded, 0, received, 0))
                    continue
                queue.put_nowait(self._submit(decoded, received))
        except Exception as exc:  # a store failure: the handler aborts the stream
            log.exception("ingest failed")
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(None)

    def _decode(self, raw: bytes) -> DecodedBatch | pb.PushAck:
        """Validate one batch; a PushAck (REJECTED) when it is invalid."""
        state = self._state
        now = state.now()
        max_age = state.max_sample_age_seconds
        max_future = state.config.max_future_skew_seconds
        batch = decode_wire(raw, now_s=now, max_age_s=max_age, max_future_s=max_future)
        if batch is not None:
            return batch
        # Not the usual encoding, or invalid: protobuf parses it and names the error.
        try:
            req = pb.PushRequest.FromString(raw)
        except DecodeError:
            return self._reject(None, grpc.StatusCode.INVALID_ARGUMENT, "batch: not a PushRequest")
        try:
            return decode_push(req, now_s=now, max_age_s=max_age, max_future_s=max_future)
        except IngestError as exc:
            return self._reject(req, grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def _reject(
        self, req: pb.PushRequest | DecodedBatch | None, code: grpc.StatusCode, msg: str
    ) -> pb.PushAck:
        self._state.metrics.batches_rejected.inc()
        self._state.metrics.rejections.labels(code.name).inc()
        return pb.PushAck(
            producer_id=req.producer_id if req is not None else "",
            sequence=req.sequence if req is not None else 0,
            status=pb.PushAck.REJECTED,
            code=code.value[0],
            message=msg,
        )

    def _submit(self, batch: DecodedBatch, received: float) -> _Pending:
        """Apply and append one valid batch; its ack, to send once `ticket` is durable."""
        durable = self._state.durable
        assert durable is not None
        try:
            outcome, ticket = durable.submit(batch)
        except CapacityError as exc:
            ack = self._reject(batch, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            return _Pending(ack, 0, received, 0)
        except IngestError as exc:  # a store-side check
            ack = self._reject(batch, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return _Pending(ack, 0, received, 0)
        ack = pb.PushAck(producer_id=batch.producer_id, sequence=batch.sequence)
        if outcome.duplicate:
            ack.status = pb.PushAck.DUPLICATE
        else:
            ack.status = pb.PushAck.ACCEPTED
            ack.samples_accepted = outcome.samples
        return _Pending(ack, ticket, received, outcome.samples)


def ingest_handler(servicer: IngestServicer) -> grpc.GenericRpcHandler:
    """The IngestService handler; requests reach `Push` as raw bytes (no deserializer)."""
    return grpc.method_handlers_generic_handler(
        "sloengine.v1.IngestService",
        {
            "Push": grpc.stream_stream_rpc_method_handler(
                servicer.Push, response_serializer=pb.PushAck.SerializeToString
            )
        },
    )
