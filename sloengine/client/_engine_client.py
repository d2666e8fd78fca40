"""Async client that streams RED metric batches to the engine, for sidecars and services.

    client = EngineClient("127.0.0.1:50051", producer_id="sidecar-gateway-canary")
    await client.start()
    client.record("gateway", "canary", "/search", "GET", 200, 0.042)  # sync, O(1), never raises
    await client.aclose(timeout_s=5)

`record` adds to per-series deltas; every `flush_interval_s` they become one PushRequest
(one block per series, one sample each, latency buckets = conventions buckets) with the
next sequence number. Batches wait in a bounded queue until acked; on a broken stream the
client reconnects with exponential backoff and full jitter and resends every unacked batch
with its original (producer_id, sequence), which the engine dedupes. Beyond the bound the
oldest batch is dropped and counted. Nothing here raises into, or blocks, the caller.

A flush larger than `max_message_bytes` becomes several batches (`split_batches`). If the
engine refuses a message as too large anyway (its limit is lower), the client lowers its
own limit to the engine's and re-splits what is pending, so no batch blocks the ones
after it; a series that cannot fit in any message is counted (`unsendable_*`), not sent.

Sequence numbers start at the current time in microseconds, so a restarted producer with
the same id never reuses a number the engine has already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sloengine import conventions
from sloengine.client._push_split import pack_blocks, refused_size_limit
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.telemetry.red import LATENCY_BOUNDS, bucket_index, is_server_error

__all__ = ["EngineClient", "EngineClientCollector", "ThreadedEngineClient"]

log = logging.getLogger(__name__)

# The RED recorder's buckets (sloengine.telemetry.red); +Inf is implied by `requests`.
_BOUNDS = LATENCY_BOUNDS
_PUSH_METHOD = "/sloengine.v1.IngestService/Push"
_COUNTERS = (
    "recorded_requests", "batches_created", "sent_batches", "resent_batches", "acked_batches",
    "duplicate_batches", "rejected_batches", "dropped_batches", "dropped_samples",
    "dropped_series", "invalid_durations", "reconnects", "stream_errors", "split_batches",
    "unsendable_batches", "unsendable_samples",
)  # fmt: skip
# gRPC's default receive limit, and the engine's default max_message_bytes.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# However small a refusal suggests, never aim below this (a one-sample block is ~200 bytes).
_MIN_MESSAGE_BYTES = 1024


class _SeriesDelta:
    """Counts recorded for one series since the last flush."""

    __slots__ = ("buckets", "errors", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.buckets = [0] * len(_BOUNDS)


@dataclass
class _Pending:
    raw: bytes
    samples: int
    ack: asyncio.Future[pb.PushAck] | None = None


class EngineClient:
    """Batches, sends and resends metric deltas over one IngestService/Push stream."""

    def __init__(
        self,
        target: str,
        producer_id: str,
        *,
        token: str | None = None,
        flush_interval_s: float = 1.0,
        max_pending_batches: int = 256,
        max_series_per_batch: int = 10_000,
        credentials: grpc.ChannelCredentials | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        initial_sequence: int | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        extra_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        # Labels on every series this producer sends, e.g. {"revision": "<pod template hash>"}.
        self.extra_labels = dict(extra_labels or {})
        self.producer_id = producer_id
        self.flush_interval_s = flush_interval_s
        self.max_pending_batches = max(1, max_pending_batches)
        self.max_series_per_batch = max_series_per_batch
        self.max_message_bytes = max(_MIN_MESSAGE_BYTES, max_message_bytes)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._credentials = credentials
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._clock = clock
        self._next_seq = time.time_ns() // 1000 if initial_sequence is None else initial_sequence
        self._lock = threading.Lock()  # record() may come from other threads (sync facade)
        # (service, variant, route, method, revision) -> counts since the last flush
        self._deltas: dict[tuple[str, str, str, str, str], _SeriesDelta] = {}
        self._pending: OrderedDict[tuple[str, int], _Pending] = OrderedDict()
        self._unsent: deque[tuple[str, int]] = deque()
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._connected = False
        self._wakeup: asyncio.Event | None = None
        self._space: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: grpc.aio.Channel | None = None

    # --- caller side --------------------------------------------------------------------

    def record(
        self,
        service: str,
        variant: str,
        route: str,
        method: str,
        status_code: int,
        duration_s: float,
        revision: str = "",
    ) -> None:
        """Count one request; errors are 5xx (`is_server_error`, the RED rule), latency in
        the RED buckets. O(1), thread-safe, never raises.

        `revision` (e.g. the pod template hash) becomes the series' `revision` label.
        """
        try:
            key = (service, variant, route, method, revision)
            with self._lock:
                self._counts["recorded_requests"] += 1
                delta = self._deltas.get(key)
                if delta is None:
                    if len(self._deltas) >= self.max_series_per_batch:
                        self._counts["dropped_series"] += 1
                        return
                    delta = self._deltas[key] = _SeriesDelta()
                delta.requests += 1
                if is_server_error(status_code):
                    delta.errors += 1
                if not duration_s >= 0:  # NaN or negative: count the request, not a latency
                    self._counts["invalid_durations"] += 1
                    return
                i = bucket_index(duration_s)
                if i < len(_BOUNDS):
                    delta.buckets[i] += 1
        except Exception:  # a bad argument must never break the caller's request
            self._counts["invalid_durations"] += 1

    @property
    def stats(self) -> dict[str, int]:
        """Counters since start, plus `pending_batches` and `connected` (0/1)."""
        out = dict(self._counts)
        out["pending_batches"] = len(self._pending)
        out["connected"] = int(self._connected)
        return out

    async def push(self, request: pb.PushRequest) -> pb.PushAck:
        """Send one prepared batch (replay tools) and wait for its ack.

        An unset producer_id / sequence is filled in. Waits for room in the queue instead
        of dropping, so replays are never lossy.
        """
        if self._space is None:
            raise RuntimeError("EngineClient.push() before start()")
        if not request.producer_id:
            request.producer_id = self.producer_id
        if not request.sequence:
            request.sequence = self._take_sequence()
        samples = sum(len(b.timestamps_unix_ms) for b in request.blocks)
        size = request.ByteSize()
        if size > self.max_message_bytes:  # would fail the stream: answer it here
            self._count_unsendable(1, samples)
            return pb.PushAck(
                producer_id=request.producer_id,
                sequence=request.sequence,
                status=pb.PushAck.REJECTED,
                code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                message=f"batch: {size} bytes, over max_message_bytes"
                f" {self.max_message_bytes}; send fewer blocks per request",
            )
        while len(self._pending) >= self.max_pending_batches:
            self._space.clear()
            await self._space.wait()
        future: asyncio.Future[pb.PushAck] = asyncio.get_running_loop().create_future()
        self._enqueue(
            (request.producer_id, request.sequence), request.SerializeToString(), samples, future
        )
        return await future

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the channel and start the flush and stream tasks (returns at once)."""
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        options = [("grpc.keepalive_time_ms", 30_000), ("grpc.keepalive_timeout_ms", 10_000)]
        if self._credentials is not None:
            self._channel = grpc.aio.secure_channel(self.target, self._credentials, options)
        else:
            self._channel = grpc.aio.insecure_channel(self.target, options)
        self._tasks = [
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._stream_loop()),
        ]

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Flush what was recorded, wait up to `timeout_s` for acks, then close."""
        with contextlib.suppress(Exception):
            self.flush()
            deadline = time.monotonic() + timeout_s
            while self._pending and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pending in self._pending.values():
            if pending.ack is not None and not pending.ack.done():
                pending.ack.cancel()
        if self._channel is not None:
            await self._channel.close()
        self._connected = False

    # --- batching -----------------------------------------------------------------------

    def flush(self) -> None:
        """Turn the deltas recorded so far into one queued batch (if there are any)."""
        with self._lock:
            deltas, self._deltas = self._deltas, {}
        if not deltas:
            return
        ts_ms = int(self._clock() * 1000)
        req = pb.PushRequest(producer_id=self.producer_id)
        for (service, variant, route, method, revision), d in deltas.items():
            block = req.blocks.add()
            key = block.key
            key.service, key.variant, key.route, key.method = service, variant, route, method
            key.extra_labels.update(self.extra_labels)
            if revision:  # the pod's current revision wins over a static one
                key.extra_labels[conventions.LABEL_REVISION] = revision
            block.timestamps_unix_ms.append(ts_ms)
            block.requests.append(d.requests)
            block.errors.append(d.errors)
            block.latency_bounds_seconds.extend(_BOUNDS)
            block.latency_bucket_counts.extend(d.buckets)
        req.sequence = self._take_sequence()
        raw = req.SerializeToString()
        if len(raw) > self.max_message_bytes:
            # Rare: split by encoded size (fresh sequences; skipping this one is harmless).
            self._enqueue_blocks(list(req.blocks))
            return
        self._counts["batches_created"] += 1
        self._enqueue((req.producer_id, req.sequence), raw, len(deltas), None)

    def _enqueue_blocks(self, blocks: list[pb.SeriesBlock]) -> None:
        """Queue blocks as as many batches as `max_message_bytes` needs (fresh sequences)."""
        groups, too_big = pack_blocks(blocks, self.producer_id, self.max_message_bytes)
        if too_big:
            self._count_unsendable(len(too_big), sum(len(b.timestamps_unix_ms) for b in too_big))
        self._counts["split_batches"] += max(0, len(groups) - 1)
        for group in groups:
            req = pb.PushRequest(
                producer_id=self.producer_id, sequence=self._take_sequence(), blocks=group
            )
            self._counts["batches_created"] += 1
            samples = sum(len(b.timestamps_unix_ms) for b in group)
            self._enqueue((req.producer_id, req.sequence), req.SerializeToString(), samples, None)

    def _count_unsendable(self, batches: int, samples: int) -> None:
        self._counts["unsendable_batches"] += batches
        self._counts["unsendable_samples"] += samples
        self._counts["dropped_samples"] += samples
        log.warning(
            "engine client: %d batch(es) over max_message_bytes %d cannot be sent",
            batches,
            self.max_message_bytes,
        )

    def _fit_pending(self, details: str) -> None:
        """The engine refused a message as too large: aim below its limit and re-split
        every pending batch over it, so that none blocks the stream again."""
        largest = max((len(p.raw) for p in self._pending.values()), default=0)
        limit = refused_size_limit(details)
        if limit is None:  # the engine did not say: aim below the largest batch sent
            limit = largest // 2
        self.max_message_bytes = max(_MIN_MESSAGE_BYTES, min(self.max_message_bytes, limit))
        log.warning(
            "engine refused a message as too large (%s); splitting batches to %d bytes",
            details,
            self.max_message_bytes,
        )
        for key, pending in list(self._pending.items()):
            if len(pending.raw) <= self.max_message_bytes:
                continue
            del self._pending[key]
            request = pb.PushRequest.FromString(pending.raw)
            if pending.ack is not None:  # push(): the caller chose the batch; answer it
                self._count_unsendable(1, pending.samples)
                if not pending.ack.done():
                    pending.ack.set_result(
                        pb.PushAck(
                            producer_id=request.producer_id,
                            sequence=request.sequence,
                            status=pb.PushAck.REJECTED,
                            code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                            message=f"batch: refused by the engine as too large ({details})",
                        )
                    )
                continue
            # Never accepted (refused before decoding), so its sequence is simply abandoned.
            self._enqueue_blocks(list(request.blocks))

    def _take_sequence(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _enqueue(
        self,
        key: tuple[str, int],
        raw: bytes,
        samples: int,
        ack: asyncio.Future[pb.PushAck] | None,
    ) -> None:
        while len(self._pending) >= self.max_pending_batches:
            _, dropped = self._pending.popitem(last=False)
            self._counts["dropped_batches"] += 1
            self._counts["dropped_samples"] += dropped.samples
            if dropped.ack is not None and not dropped.ack.done():
                dropped.ack.cancel()
        self._pending[key] = _Pending(raw, samples, ack)
        self._unsent.append(key)
        if self._wakeup is not None:
            self._wakeup.set()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                self.flush()
            except Exception:  # keep flushing: one bad batch must not stop the producer
                log.exception("engine client flush failed")

    # --- the stream ---------------------------------------------------------------------

    async def _stream_loop(self) -> None:
        assert self._channel is not None
        push = self._channel.stream_stream(
            _PUSH_METHOD,
            request_serializer=None,  # batches are kept serialised; resends cost no encoding
            response_deserializer=pb.PushAck.FromString,
        )
        failures = 0
        first = True
        while True:
            call = push(metadata=self._metadata)
            if not first:
                self._counts["reconnects"] += 1
                self._counts["resent_batches"] += len(self._pending)
            first = False
            self._unsent = deque(self._pending)  # resend every unacked batch, in order
            sender = asyncio.create_task(self._send(call))
            try:
                while (ack := await call.read()) is not grpc.aio.EOF:
                    self._connected = True
                    failures = 0
                    self._on_ack(ack)
            except grpc.aio.AioRpcError as exc:
                self._counts["stream_errors"] += 1
                if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    self._fit_pending(exc.details() or "")
                elif failures == 0 or exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                    log.warning("engine stream to %s failed: %s", self.target, exc.details())
            finally:
                self._connected = False
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
                call.cancel()
            initial, maximum = self._backoff
            delay = min(maximum, initial * 2**failures)
            failures = min(failures + 1, 30)
            await asyncio.sleep(random.uniform(0, delay))  # full jitter

    async def _send(self, call: Any) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            while self._unsent:
                pending = self._pending.get(self._unsent.popleft())
                if pending is None:
                    continue  # acked or dropped meanwhile
                await call.write(pending.raw)
                self._counts["sent_batches"] += 1
            await self._wakeup.wait()

    def _on_ack(self, ack: pb.PushAck) -> None:
        pending = self._pending.pop((ack.producer_id, ack.sequence), None)
        if pending is None:
            return  # an ack for a batch dropped meanwhile
        if ack.status == pb.PushAck.ACCEPTED:
            self._counts["acked_batches"] += 1
        elif ack.status == pb.PushAck.DUPLICATE:
            self._counts["acked_batches"] += 1
            self._counts["duplicate_batches"] += 1
        else:
            self._counts["rejected_batches"] += 1
            self._counts["dropped_samples"] += pending.samples
            log.warning("engine rejected batch %d: %s", ack.sequence, ack.message)
        if pending.ack is not None and not pending.ack.done():
            pending.ack.set_result(ack)
        if self._space is not None:
            self._space.set()


class EngineClientCollector(Collector):
    """Exports a client's `stats` as `<prefix>_<name>_total` counters (prometheus_client)."""

    def __init__(
        self, client: EngineClient | ThreadedEngineClient, prefix: str = "sloengine_client"
    ) -> None:
        self._client = client
        self._prefix = prefix

    def collect(self) -> Iterator[Any]:
        stats = self._client.stats
        for name in _COUNTERS:
            yield CounterMetricFamily(
                f"{self._prefix}_{name}", f"Engine client {name.replace('_', ' ')}.", stats[name]
            )
        yield GaugeMetricFamily(
            f"{self._prefix}_pending_batches",
            "Batches waiting for an ack.",
            stats["pending_batches"],
        )
        yield GaugeMetricFamily(
            f"{self._prefix}_connected",
            "1 while the stream to the engine is up.",
            stats["connected"],
        )


class ThreadedEngineClient:
    """EngineClient for code without an event loop: its own loop in a daemon thread."""

    def __init__(self, target: str, producer_id: str, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"engine-client-{producer_id}", daemon=True
        )
        self._client = EngineClient(target, producer_id, **kwargs)

    def start(self, timeout_s: float = 5.0) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._client.start(), self._loop).result(timeout_s)

    def record(
        self,
        service: str,
        variant: str,
        route: str,
        method: str,
        status_code: int,
        duration_s: float,
        revision: str = "",
    ) -> None:
        """Same as EngineClient.record; safe from any thread."""
        self._client.record(service, variant, route, method, status_code, duration_s, revision)

    def push(self, request: pb.PushRequest, timeout_s: float = 30.0) -> pb.PushAck:
        """Send one batch and block until it is acked (raises TimeoutError after timeout_s)."""
        future = asyncio.run_coroutine_threadsafe(self._client.push(request), self._loop)
        return future.result(timeout_s)

    @property
    def stats(self) -> dict[str, int]:
        return self._client.stats

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush, wait for acks up to `timeout_s`, stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._client.aclose(timeout_s), self._loop).result(
                timeout_s + 5
            )
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._loop.close()
