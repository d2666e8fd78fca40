"""Ingest throughput over ONE Push stream, next to the limit measured in the same run.

The limit is a bare grpc.aio server (same process model, same options) that only decodes
each PushRequest, sums its requests column and acks it: what gRPC + decoding cost before
any validation, WAL or store work. It is measured with both decoders the engine has
(protobuf; the wire scanner of `sloengine.ingest._wire`) and the faster one is the limit.
Each line also gives the servers' CPU time per batch (from /proc), which a loaded machine
disturbs far less than wall-clock rates. The engine is a real `sloengine serve` with a data dir
(WAL + group-committed fsync). The client pipelines: up to --window batches in flight.

Shapes: long batches (10 series x 100 samples) and a sidecar's (1,000 series x 1 sample).
Goals: long >= 5M samples/s and >= 30% of the limit; sidecar >= 30% of the limit.

    .venv/bin/python bench/bench_ingest.py [--quick] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from sloengine.proto.sloengine.v1 import engine_pb2 as pb

PUSH = "/sloengine.v1.IngestService/Push"


@dataclass(frozen=True)
class Shape:
    name: str
    series: int
    samples: int  # per series per batch
    batches: int  # per measurement (full run)

    @property
    def samples_per_batch(self) -> int:
        return self.series * self.samples


SHAPES = (Shape("long 10x100", 10, 100, 4000), Shape("sidecar 1000x1", 1000, 1, 600))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def make_batches(shape: Shape, count: int, producer: str) -> list[bytes]:
    """`count` serialised batches of `shape`, distinct sequences, recent timestamps.

    The blocks are serialised once; each message is producer + sequence fields prepended
    (protobuf fields may come in any order), so building them costs no encoding.
    """
    now_ms = int(time.time() * 1000)
    req = pb.PushRequest()
    for s in range(shape.series):
        block = req.blocks.add()
        block.key.service = "bench"
        block.key.variant = "stable"
        block.key.route = f"/r{s}"
        block.key.method = "GET"
        block.timestamps_unix_ms.extend(
            now_ms - 1000 * (shape.samples - i) for i in range(shape.samples)
        )
        block.requests.extend([10.0] * shape.samples)
        block.errors.extend([1.0] * shape.samples)
    body = req.SerializeToString()
    head = b"\x0a" + _varint(len(producer)) + producer.encode()
    return [head + b"\x10" + _varint(seq) + body for seq in range(1, count + 1)]


# --- the bare server (the limit) ---------------------------------------------------------
# It only decodes each PushRequest, sums its requests column and acks it: what gRPC plus
# decoding cost before any validation, WAL or store work. It runs with either decoder the
# engine has (protobuf, or the engine's own wire scanner) and the bench takes the faster
# one as the limit, so a faster decoder in the engine raises the limit too.


def _sum_pb(raw: bytes) -> tuple[float, str, int]:
    req = pb.PushRequest.FromString(raw)
    # Python's sum over the repeated field beats numpy's conversion of it.
    return sum(sum(block.requests) for block in req.blocks), req.producer_id, req.sequence


def _sum_wire(raw: bytes) -> tuple[float, str, int]:
    from sloengine.ingest._wire import UnsupportedEncoding, scan_columns

    try:
        scanned = scan_columns([raw], b"")
    except (UnsupportedEncoding, IndexError):
        return _sum_pb(raw)
    return float(scanned.requests.sum()), scanned.producer_ids[0], scanned.sequences[0]


def _bare_push(decoder):  # type: ignore[no-untyped-def]
    async def push(request_iterator, context):  # type: ignore[no-untyped-def]
        total = 0.0
        async for raw in request_iterator:
            count, producer, sequence = decoder(raw)
            total += count
            yield pb.PushAck(producer_id=producer, sequence=sequence, status=pb.PushAck.ACCEPTED)

    return push


async def serve_bare(decoder_name: str) -> None:
    decoder = {"protobuf": _sum_pb, "wire": _sum_wire}[decoder_name]
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    handler = grpc.stream_stream_rpc_method_handler(
        _bare_push(decoder), response_serializer=pb.PushAck.SerializeToString
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("sloengine.v1.IngestService", {"Push": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"sloengine: serving grpc=127.0.0.1:{port} http=-", flush=True)
    await server.wait_for_termination()


# --- servers as subprocesses -------------------------------------------------------------


class Server:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"grpc=(\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {argv}")
        self.address = match.group(1)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bare_server(decoder: str) -> Server:
    return Server([sys.executable, __file__, "--bare-server", decoder])


def engine_server(data_dir: Path) -> Server:
    return Server(
        [
            sys.executable, "-m", "sloengine", "serve",
            "--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--data-dir", str(data_dir), "--snapshot-interval", "0",
            "--max-message-bytes", str(64 * 1024 * 1024), "--log-level", "WARNING",
        ]
    )  # fmt: skip


# --- the client ----------------------------------------------------------------------------


async def stream_batches(address: str, batches: list[bytes], window: int) -> tuple[float, int]:
    """Send every batch on one stream, at most `window` unacked; (seconds, accepted)."""
    async with grpc.aio.insecure_channel(
        address, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        push = channel.stream_stream(
            PUSH, request_serializer=None, response_deserializer=pb.PushAck.FromString
        )
        call = push()
        credit = asyncio.Semaphore(window)
        accepted = 0

        async def reader() -> None:
            nonlocal accepted
            for _ in range(len(batches)):
                ack = await call.read()
                if ack is grpc.aio.EOF:
                    raise RuntimeError("stream ended early")
                accepted += ack.status == pb.PushAck.ACCEPTED
                credit.release()

        started = time.perf_counter()
        acks = asyncio.create_task(reader())
        for raw in batches:
            await credit.acquire()
            await call.write(raw)
        await asyncio.wait_for(acks, timeout=120)  # a broken server fails the bench
        elapsed = time.perf_counter() - started
        await call.done_writing()
        return elapsed, accepted


@dataclass(frozen=True)
class Rate:
    samples_per_s: float
    cpu_s_per_batch: float  # the server's CPU time per batch: robust to a loaded machine


def measure(server: Server, shape: Shape, count: int, window: int, producer: str) -> Rate:
    """Samples per second for `count` batches of `shape` over one stream."""
    warm = make_batches(shape, max(10, count // 20), f"{producer}-warm-up")
    asyncio.run(stream_batches(server.address, warm, window))
    batches = make_batches(shape, count, producer)
    cpu = server.cpu_seconds()
    elapsed, accepted = asyncio.run(stream_batches(server.address, batches, window))
    cpu = server.cpu_seconds() - cpu
    if accepted != count:
        raise RuntimeError(f"only {accepted}/{count} batches accepted")
    return Rate(count * shape.samples_per_batch / elapsed, cpu / count)


def stage_costs(shape: Shape, count: int) -> dict[str, float]:
    """In-process CPU seconds per batch of each engine stage (no gRPC, no WAL).

    `decode_wire` is what the engine runs; `parse`+`decode_push` is the protobuf path it
    falls back to (unusual encodings, invalid batches).
    """
    from sloengine.ingest import decode_push, decode_wire
    from sloengine.store import SeriesStore

    batches = make_batches(shape, count, "stages")
    now = time.time()
    clock = time.process_time
    store = SeriesStore()
    warm = decode_wire(batches[0], now_s=now, max_age_s=86400.0, max_future_s=300.0)
    assert warm is not None
    store.apply(warm)  # creates the series: not a per-batch cost
    started = clock()
    decoded = [decode_wire(r, now_s=now, max_age_s=86400.0, max_future_s=300.0) for r in batches]
    wired = clock()
    requests = [pb.PushRequest.FromString(raw) for raw in batches]
    parsed = clock()
    for r in requests:
        decode_push(r, now_s=now, max_age_s=86400.0, max_future_s=300.0)
    validated = clock()
    for batch in decoded:
        assert batch is not None
        store.apply(batch)
    applied = clock()
    return {
        "decode_wire": (wired - started) / count,
        "parse": (parsed - wired) / count,
        "decode_push": (validated - parsed) / count,
        "SeriesStore.apply": (applied - validated) / count,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one short run per shape")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=64, help="batches in flight on the stream")
    parser.add_argument("--bare-server", choices=("protobuf", "wire"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(serve_bare(args.bare_server))
        return 0
    runs = 1 if args.quick else args.runs
    scale = 0.15 if args.quick else 1.0
    print(
        f"ingest over one stream, {args.window} batches in flight, median of {runs} run(s), {os.cpu_count()} cores"
    )
    goals_met = True
    for shape in SHAPES:
        count = max(50, int(shape.batches * scale))
        rates: dict[str, list[Rate]] = {"protobuf": [], "wire": [], "engine": []}
        for run in range(runs):
            for decoder in ("protobuf", "wire"):
                bare = bare_server(decoder)
                try:
                    rates[decoder].append(measure(bare, shape, count, args.window, f"b{run}"))
                finally:
                    bare.stop()
            with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                engine = engine_server(Path(tmp) / "data")
                try:
                    rates["engine"].append(measure(engine, shape, count, args.window, f"e{run}"))
                finally:
                    engine.stop()
        med = {
            name: Rate(
                statistics.median(r.samples_per_s for r in rs),
                statistics.median(r.cpu_s_per_batch for r in rs),
            )
            for name, rs in rates.items()
        }
        limit_name = max(("protobuf", "wire"), key=lambda n: med[n].samples_per_s)
        limit, engine_rate = med[limit_name], med["engine"]
        ratio = engine_rate.samples_per_s / limit.samples_per_s
        cpu_ratio = limit.cpu_s_per_batch / engine_rate.cpu_s_per_batch
        goal_abs = 5e6 if shape.name.startswith("long") else 0.0
        ok = ratio >= 0.30 and engine_rate.samples_per_s >= goal_abs
        goals_met &= ok
        print(
            f"  {shape.name:15s} engine {engine_rate.samples_per_s / 1e6:6.2f}M samples/s  "
            f"limit {limit.samples_per_s / 1e6:6.2f}M samples/s ({limit_name} decoder)  "
            f"ratio {ratio:5.1%}  "
            f"({engine_rate.samples_per_s / shape.samples_per_batch:,.0f} batches/s)  "
            f"goal >=30%{' and >=5M/s' if goal_abs else ''}: {'met' if ok else 'NOT met'}"
        )
        print(
            "    server CPU per batch: engine "
            f"{engine_rate.cpu_s_per_batch * 1e6:,.0f} us, bare protobuf "
            f"{med['protobuf'].cpu_s_per_batch * 1e6:,.0f} us "
            f"({med['protobuf'].samples_per_s / 1e6:.2f}M samples/s), bare wire "
            f"{med['wire'].cpu_s_per_batch * 1e6:,.0f} us "
            f"({med['wire'].samples_per_s / 1e6:.2f}M samples/s); CPU ratio limit/engine "
            f"{cpu_ratio:5.1%}"
        )
        costs = stage_costs(shape, max(50, count // 5))
        print(
            "    in-process CPU per batch: "
            + ", ".join(f"{k} {v * 1e6:,.0f} us" for k, v in costs.items())
            + f" (decode_wire alone caps {shape.samples_per_batch / costs['decode_wire'] / 1e6:.2f}M samples/s)"
        )
    return 0 if goals_met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
