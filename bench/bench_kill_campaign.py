"""kill -9 campaign against a real `sloengine serve` with a snapshot every second.

Each run starts the engine on a fresh data directory (`--snapshot-interval 1`) and, per
kill: streams batches (up to 64 in flight; the series set keeps growing, so new series
arrive throughout; GetStatus reads run alongside, so cached selections exist), SIGKILLs the
engine at a random moment, opens the data directory offline and compares it with the
acknowledgements:

    recovered == sum(acked) + sum(in doubt that the engine had made durable)   exactly,

where "in doubt" are the batches sent but not acked when the engine died; restarting and
resending them tells which were durable (DUPLICATE) and which not (ACCEPTED). At the end of
a run every batch ever sent is resent: all must be DUPLICATE, and after a graceful stop the
totals must equal the sum of all batches exactly.

    .venv/bin/python bench/bench_kill_campaign.py [--runs 5] [--kills 20] [--seed 1]

Prints one line per kill and a summary; exits 1 on the first mismatch (with its details).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.store import DurableStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server.engine_process import EngineProcess

SERVICE = "campaign"
SPEC = f"""\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: {SERVICE}
slos:
  - name: availability
    objective: 99
    availability: {{}}
"""
# 54 series fill the store's arrays exactly (capacity grows 16, 24, 36, 54): every
# allocated column in use, the state in which a snapshot copy once aliased the live rings.
MAX_ROUTES = 54


@dataclass
class Run:
    """The batches of one run and what became of them."""

    rng: random.Random
    start_ms: int
    batches: dict[int, pb.PushRequest] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)
    sent: set[int] = field(default_factory=set)
    next_seq: int = 1

    def make(self, count: int) -> list[int]:
        """`count` new batches; routes grow with the sequence (new series keep arriving)."""
        seqs = []
        for _ in range(count):
            seq = self.next_seq
            self.next_seq += 1
            req = pb.PushRequest(producer_id="campaign", sequence=seq)
            known = min(MAX_ROUTES, 4 + seq // 50)
            for route in self.rng.sample(range(known), min(3, known)):
                block = req.blocks.add()
                block.key.service = SERVICE
                block.key.route = f"/r{route}"
                n = self.rng.randint(1, 1000)
                block.timestamps_unix_ms.append(self.start_ms - self.rng.randint(0, 60_000))
                block.requests.append(n)
                block.errors.append(n // 9)
            self.batches[seq] = req
            seqs.append(seq)
        return seqs

    def total(self, seqs: set[int]) -> dict[str, float]:
        sums: dict[str, float] = {}
        for seq in seqs:
            for block in self.batches[seq].blocks:
                route = block.key.route
                sums[route] = sums.get(route, 0.0) + block.requests[0]
        return sums


async def stream(address: str, run: Run, seqs: list[int]) -> dict[int, int]:
    """Push `seqs` (64 in flight); returns seq -> ack status for those acked."""
    window = asyncio.Semaphore(64)
    queue: asyncio.Queue[pb.PushRequest | None] = asyncio.Queue()
    statuses: dict[int, int] = {}

    async def requests() -> AsyncIterator[pb.PushRequest]:
        while (req := await queue.get()) is not None:
            yield req

    async def feed() -> None:
        for seq in seqs:
            await window.acquire()
            run.sent.add(seq)
            queue.put_nowait(run.batches[seq])

    async def read_status() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.SLOServiceStub(channel)
            while True:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.GetStatus(pb.GetStatusRequest(service=SERVICE), timeout=5)
                await asyncio.sleep(0.05)

    reader = asyncio.create_task(read_status())
    async with grpc.aio.insecure_channel(address) as channel:
        call = pb_grpc.IngestServiceStub(channel).Push(requests())
        feeder = asyncio.create_task(feed())
        try:
            remaining = len(seqs)
            async for ack in call:
                if ack.status not in (pb.PushAck.ACCEPTED, pb.PushAck.DUPLICATE):
                    raise AssertionError(f"unexpected ack {ack}")
                statuses[ack.sequence] = ack.status
                run.acked.add(ack.sequence)
                window.release()
                remaining -= 1
                if remaining == 0:
                    break
        except grpc.aio.AioRpcError:
            pass  # the engine was killed
        finally:
            for task in (feeder, reader):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            queue.put_nowait(None)
            call.cancel()
    return statuses


def recovered(data: Path, at_s: float) -> dict[str, float]:
    store = DurableStore(data)
    store.open()
    try:
        got = {}
        for labels in store.store.series_labels():
            route = labels["route"]
            got[route] = store.store.window_sum({"route": route}, 86400, at_s).requests
        return {r: v for r, v in got.items() if v}
    finally:
        store.close()


async def campaign_run(root: Path, seed: int, kills: int, log: list[str]) -> dict[str, int]:
    rng = random.Random(seed)
    data = root / "data"
    specs = root / "slos.yaml"
    specs.write_text(SPEC)
    run = Run(rng, int(time.time() * 1000))
    at = time.time() + 120
    doubt: set[int] = set()
    acked_before: set[int] = set()
    got_before: dict[str, float] = {}
    stats = {"kills": 0, "acked": 0, "in_doubt": 0, "doubt_durable": 0, "duplicates": 0}
    for k in range(kills):
        engine = EngineProcess(data, specs, "--snapshot-interval", "1").start()
        if doubt:  # settle the batches in doubt at the previous kill
            statuses = await stream(engine.grpc_address, run, sorted(doubt))
            assert set(statuses) == doubt, "resend of the batches in doubt was not all acked"
            durable = {s for s, st in statuses.items() if st == pb.PushAck.DUPLICATE}
            expected = run.total(acked_before | durable)
            if got_before != expected:
                raise AssertionError(
                    f"seed {seed} kill {k}: recovered {got_before} != acked + durable "
                    f"in doubt {expected}"
                )
            stats["doubt_durable"] += len(durable)
        seqs = run.make(rng.randint(2000, 6000))  # more than fits before the kill
        pushing = asyncio.create_task(stream(engine.grpc_address, run, seqs))
        await asyncio.sleep(rng.uniform(0.5, 2.5))  # snapshots every 1 s meanwhile
        engine.kill()
        await pushing
        stats["kills"] += 1
        doubt = run.sent - run.acked
        acked_before = set(run.acked)
        got_before = recovered(data, at)
        low, high = run.total(acked_before), run.total(run.sent)
        for route in set(low) | set(got_before):
            if not low.get(route, 0.0) <= got_before.get(route, 0.0) <= high.get(route, 0.0):
                raise AssertionError(
                    f"seed {seed} kill {k + 1}: {route} recovered {got_before.get(route)} outside "
                    f"[acked {low.get(route)}, sent {high.get(route)}]"
                )
        stats["in_doubt"] += len(doubt)
        log.append(
            f"seed {seed} kill {k + 1}: acked {len(run.acked)}, in doubt {len(doubt)}, "
            f"series {len(got_before)}"
        )
        print(log[-1], flush=True)
    engine = EngineProcess(data, specs, "--snapshot-interval", "1").start()
    if doubt:
        await stream(engine.grpc_address, run, sorted(doubt))
    statuses = await stream(engine.grpc_address, run, sorted(run.sent))  # the full resend
    duplicates = sum(1 for st in statuses.values() if st == pb.PushAck.DUPLICATE)
    if duplicates != len(run.sent):
        raise AssertionError(f"seed {seed}: full resend: {duplicates} of {len(run.sent)} DUPLICATE")
    if engine.terminate() != 0:
        raise AssertionError("graceful stop failed")
    final = recovered(data, at)
    if final != run.total(run.sent):
        raise AssertionError(f"seed {seed}: final totals {final} != sent {run.total(run.sent)}")
    stats["acked"] = len(run.acked)
    stats["duplicates"] = duplicates
    return stats


async def main_async(runs: int, kills: int, seed: int) -> int:
    log: list[str] = []
    totals: dict[str, int] = {}
    started = time.perf_counter()
    for r in range(runs):
        root = Path(tempfile.mkdtemp(prefix="kill-campaign-"))
        try:
            stats = await campaign_run(root, seed + r, kills, log)
        except AssertionError as exc:
            print(f"MISMATCH: {exc}", flush=True)
            print(f"data dir kept at {root}", flush=True)
            return 1
        shutil.rmtree(root, ignore_errors=True)
        for key, value in stats.items():
            totals[key] = totals.get(key, 0) + value
        print(f"run {r + 1}: {stats}", flush=True)
    print(
        f"{runs} runs, {totals.get('kills', 0)} kills in {time.perf_counter() - started:.0f} s: "
        f"recovered == acked (+ durable in-doubt) exactly at every kill; "
        f"{totals.get('acked', 0)} batches acked, {totals.get('in_doubt', 0)} in doubt at kills "
        f"({totals.get('doubt_durable', 0)} had been made durable), full resends "
        f"{totals.get('duplicates', 0)}/{totals.get('acked', 0)} DUPLICATE",
        flush=True,
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kills", type=int, default=20, help="kills per run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    return asyncio.run(main_async(args.runs, args.kills, args.seed))


if __name__ == "__main__":
    sys.exit(main())
