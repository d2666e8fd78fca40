"""A minimal engine stand-in for crash tests: stdin batches -> DurableStore -> stdout acks.

    python -m tests.store.crash_harness DATA_DIR [--snapshot-every N]

Reads frames `<u32 little-endian length><PushRequest bytes>` from stdin, pushes each one
concurrently (so group commit is exercised), and prints `ACK <sequence> <status>` once the
push returned, i.e. once the batch is durable. Prints `READY <series>` after recovery.
Every N accepted batches it takes a synchronous snapshot on the loop, rotating the WAL
while other pushes are in flight. On stdin EOF it waits for pending pushes and closes.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import struct
import sys
import threading

from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore, PushStatus


def _reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None]) -> None:
    stream = sys.stdin.buffer
    while True:
        header = stream.read(4)
        if len(header) < 4:
            break
        (length,) = struct.unpack("<I", header)
        payload = stream.read(length)
        if len(payload) < length:
            break
        loop.call_soon_threadsafe(queue.put_nowait, payload)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def main(data_dir: str, snapshot_every: int) -> None:
    store = DurableStore(data_dir)
    report = store.open()
    print(f"READY {report.series}", flush=True)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_reader, args=(loop, queue), daemon=True).start()
    accepted = 0
    tasks: set[asyncio.Task[None]] = set()

    async def push(raw: bytes) -> None:
        nonlocal accepted
        req = pb.PushRequest.FromString(raw)
        batch = decode_push(req, now_s=0, max_age_s=math.inf, max_future_s=math.inf)
        outcome = await store.push(batch)
        print(f"ACK {req.sequence} {outcome.status.name}", flush=True)
        if outcome.status is PushStatus.ACCEPTED:
            accepted += 1
            if snapshot_every and accepted % snapshot_every == 0:
                store.snapshot()

    while (raw := await queue.get()) is not None:
        task = asyncio.create_task(push(raw))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    store.snapshot()
    store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--snapshot-every", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.data_dir, args.snapshot_every))
