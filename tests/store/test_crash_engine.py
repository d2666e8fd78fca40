"""kill -9 a real `sloengine serve` mid-stream, several times, over gRPC.

Same proof as test_crash.py, through the real server: a Push stream keeps up to 64 batches
in flight; the engine is SIGKILLed at a random moment; the data directory is recovered
in-process and must hold every acknowledged batch (and nothing beyond what was sent).
Finally the unacknowledged batches are re-sent with their original sequences, the engine is
stopped gracefully, and the per-route sums must be exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.store import DurableStore
from tests.server.engine_process import EngineProcess

pytestmark = pytest.mark.integration

ROUTES = [f"/r{i}" for i in range(12)]
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: crash
slos:
  - name: availability
    objective: 99
    availability: {}
"""


def make_batches(rng: random.Random, count: int, now_ms: int) -> list[pb.PushRequest]:
    out = []
    for seq in range(1, count + 1):
        req = pb.PushRequest(producer_id="crash-grpc", sequence=seq)
        for route in rng.sample(ROUTES, 3):
            block = req.blocks.add()
            block.key.service = "crash"
            block.key.route = route
            n = rng.randint(1, 1000)
            block.timestamps_unix_ms.append(now_ms - rng.randint(0, 60_000))
            block.requests.append(n)
            block.errors.append(n // 9)
        out.append(req)
    return out


def expected(batches: list[pb.PushRequest], seqs: set[int]) -> dict[str, float]:
    sums = dict.fromkeys(ROUTES, 0.0)
    for seq in seqs:
        for block in batches[seq - 1].blocks:
            sums[block.key.route] += block.requests[0]
    return sums


def recovered(data_dir: Path, at_s: float) -> dict[str, float]:
    store = DurableStore(data_dir)
    store.open()
    sums = {r: store.store.window_sum({"route": r}, 86400, at_s).requests for r in ROUTES}
    store.close()
    return sums


async def stream(
    address: str, batches: list[pb.PushRequest], seqs: list[int], acked: set[int], fed: set[int]
) -> None:
    """Push `seqs` with at most 64 unacknowledged; returns when done or the stream breaks.

    `fed` collects the sequences handed to the stream (sent, or about to be).
    """
    window = asyncio.Semaphore(64)
    queue: asyncio.Queue[pb.PushRequest | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[pb.PushRequest]:
        while (req := await queue.get()) is not None:
            yield req

    async def feed() -> None:
        for seq in seqs:
            await window.acquire()
            fed.add(seq)
            queue.put_nowait(batches[seq - 1])

    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.IngestServiceStub(channel).Push(requests())
        feeder = asyncio.create_task(feed())
        try:
            remaining = len(seqs)
            async for ack in call:
                assert ack.status in (pb.PushAck.ACCEPTED, pb.PushAck.DUPLICATE), ack
                acked.add(ack.sequence)
                window.release()
                remaining -= 1
                if remaining == 0:
                    break
        except grpc.aio.AioRpcError:
            pass  # the engine was killed
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            queue.put_nowait(None)
            call.cancel()


@pytest.mark.timeout(300)
async def test_kill_9_the_real_engine_mid_stream_loses_no_acknowledged_batch(
    tmp_path: Path,
) -> None:
    specs = tmp_path / "slos.yaml"
    specs.write_text(SPEC)
    data = tmp_path / "data"
    rng = random.Random(11)
    now = time.time()
    batches = make_batches(rng, 25_000, int(now * 1000))
    acked: set[int] = set()
    sent: set[int] = set()
    next_seq = 1
    acked_at_kill = []
    unacked_at_kill = []
    for _ in range(5):
        engine = EngineProcess(data, specs).start()
        # More than the engine can take before the kill: it always comes mid-stream.
        seqs = sorted(sent - acked) + list(range(next_seq, next_seq + 5000))
        pushing = asyncio.create_task(stream(engine.grpc_address, batches, seqs, acked, sent))
        # Kill at a random point of the stream, after a random number of acknowledgements
        # (not a random time: on a loaded machine a short round could end before the first
        # ack, and then the kills would not be mid-stream).
        kill_after = len(acked) + rng.randint(1, 3000)
        hang = time.monotonic() + 60
        while len(acked) < kill_after and not pushing.done():
            assert time.monotonic() < hang, f"{len(acked)} acks, waiting for {kill_after}"
            await asyncio.sleep(0.001)
        engine.kill()  # SIGKILL
        await pushing
        next_seq = max(sent) + 1
        acked_at_kill.append(len(acked))
        unacked_at_kill.append(len(sent - acked))
        got = recovered(data, now + 60)
        low, high = expected(batches, acked), expected(batches, sent)
        for route in ROUTES:
            assert low[route] <= got[route] <= high[route], route
    # Mid-stream: acknowledgements grew between kills and batches were in flight at them.
    assert len(set(acked_at_kill)) >= 3, acked_at_kill
    assert sum(1 for n in unacked_at_kill if n) >= 3, unacked_at_kill
    engine = EngineProcess(data, specs).start()
    await stream(engine.grpc_address, batches, sorted(sent - acked), acked, sent)
    assert engine.terminate() == 0
    assert acked == sent
    assert recovered(data, now + 60) == expected(batches, acked)
