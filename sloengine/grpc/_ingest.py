"""`sloengine.v1.IngestService/Push`: validate, make durable, ack; many batches in flight.

The method is registered with no request deserializer, so the handler receives each
message's raw bytes: they go to the write-ahead log as they came over the wire (no
re-serialisation), and are parsed once for validation.

Per stream, up to `max_in_flight` batches are between arrival and ack at once, so that
their fsyncs share one group commit (pipelining); acks may therefore be sent out of order.
The bound also caps a stream's memory at max_in_flight x max message size.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

from sloengine.errors import CapacityError, IngestError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DecodedBatch, decode_push

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["IngestServicer", "ingest_handler"]

log = logging.getLogger(__name__)

_INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
DEFAULT_MAX_IN_FLIGHT = 64


def _rejected(req: pb.PushRequest | None, code: grpc.StatusCode, message: str) -> pb.PushAck:
    return pb.PushAck(
        producer_id=req.producer_id if req is not None else "",
        sequence=req.sequence if req is not None else 0,
        status=pb.PushAck.REJECTED,
        code=code.value[0],
        message=message,
    )


class IngestServicer:
    """Handles Push streams against the state's durable store."""

    def __init__(self, state: EngineState, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> None:
        self._state = state
        self._max_in_flight = max_in_flight

    async def Push(
        self, request_iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.PushAck]:
        metrics = self._state.metrics
        metrics.streams.inc()
        acks: asyncio.Queue[pb.PushAck | BaseException | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self._max_in_flight)
        reader = asyncio.create_task(self._read(request_iterator, acks, slots))
        try:
            while (item := await acks.get()) is not None:
                if isinstance(item, BaseException):
                    # The store failed (disk full, I/O error): the batch is not durable, so
                    # it must not be acked; the client resends after reconnecting.
                    await context.abort(grpc.StatusCode.UNAVAILABLE, f"store: {item}")
                    return
                yield item
                slots.release()
        finally:
            metrics.streams.dec()
            if not reader.done():
                reader.cancel()

    async def _read(
        self,
        request_iterator: AsyncIterator[bytes],
        acks: asyncio.Queue[pb.PushAck | BaseException | None],
        slots: asyncio.Semaphore,
    ) -> None:
        pending: set[asyncio.Task[None]] = set()
        try:
            async for raw in request_iterator:
                await slots.acquire()
                received = time.perf_counter()
                decoded = self._decode(raw)
                if isinstance(decoded, pb.PushAck):
                    acks.put_nowait(decoded)
                    continue
                req, batch = decoded
                task = asyncio.create_task(self._commit(raw, req, batch, received, acks))
                pending.add(task)
                task.add_done_callback(pending.discard)
            if pending:
                await asyncio.gather(*pending)
        except asyncio.CancelledError:
            for task in pending:
                task.cancel()
            raise
        finally:
            acks.put_nowait(None)

    def _decode(self, raw: bytes) -> tuple[pb.PushRequest, DecodedBatch] | pb.PushAck:
        """Parse and validate one batch; a PushAck (REJECTED) when it is invalid."""
        state = self._state
        try:
            req = pb.PushRequest.FromString(raw)
        except DecodeError:
            return self._reject(None, grpc.StatusCode.INVALID_ARGUMENT, "batch: not a PushRequest")
        try:
            batch = decode_push(
                req,
                now_s=state.now(),
                max_age_s=state.max_sample_age_seconds,
                max_future_s=state.config.max_future_skew_seconds,
            )
        except IngestError as exc:
            return self._reject(req, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return req, batch

    def _reject(self, req: pb.PushRequest | None, code: grpc.StatusCode, msg: str) -> pb.PushAck:
        self._state.metrics.batches_rejected.inc()
        self._state.metrics.rejections.labels(code.name).inc()
        return _rejected(req, code, msg)

    async def _commit(
        self,
        raw: bytes,
        req: pb.PushRequest,
        batch: DecodedBatch,
        received: float,
        acks: asyncio.Queue[pb.PushAck | BaseException | None],
    ) -> None:
        state = self._state
        metrics = state.metrics
        durable = state.durable
        assert durable is not None, "the gRPC server starts after the store is open"
        try:
            outcome = await durable.push(raw, batch)
        except CapacityError as exc:
            acks.put_nowait(self._reject(req, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)))
            return
        except IngestError as exc:  # a store-side check (e.g. bounds unlike the series')
            acks.put_nowait(self._reject(req, grpc.StatusCode.INVALID_ARGUMENT, str(exc)))
            return
        except Exception as exc:
            log.exception("push of %s/%d failed", req.producer_id, req.sequence)
            acks.put_nowait(exc)
            return
        ack = pb.PushAck(producer_id=req.producer_id, sequence=req.sequence)
        if outcome.duplicate:
            ack.status = pb.PushAck.DUPLICATE
            metrics.batches_duplicate.inc()
        else:
            ack.status = pb.PushAck.ACCEPTED
            ack.samples_accepted = outcome.samples
            metrics.batches_accepted.inc()
            metrics.samples.inc(outcome.samples)
        metrics.ack_latency.observe(time.perf_counter() - received)
        acks.put_nowait(ack)


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
